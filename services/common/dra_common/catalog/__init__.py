"""The dataset catalog: record model, storage, ingestion formats and live portal connectors.

Modules: `records` (CatalogRecord, validation, quality, embedding text), `store` (upserts, ingest runs),
`default` (the curated catalog shipped in `dra_common/data/catalog`), `formats` (DCAT-US, DCAT-AP, CKAN,
schema.org, CSV/JSONL), `connectors` (data.gov.sg, World Bank, Zenodo, CKAN portals).
"""
