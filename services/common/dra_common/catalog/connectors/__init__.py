"""Live portal connectors for `dra catalog sync SOURCE`: data.gov.sg, World Bank indicators, Zenodo, CKAN."""

from __future__ import annotations

from typing import Any

from dra_common.catalog.connectors.base import Connector, Page, SyncResult, SyncState, run_sync
from dra_common.catalog.connectors.ckan import CkanConnector
from dra_common.catalog.connectors.data_gov_sg import DataGovSgConnector
from dra_common.catalog.connectors.http import ConnectorError, HttpFetcher
from dra_common.catalog.connectors.world_bank import WorldBankConnector
from dra_common.catalog.connectors.zenodo import ZenodoConnector

CONNECTORS: dict[str, type[Connector]] = {
    "data_gov_sg": DataGovSgConnector,
    "world_bank": WorldBankConnector,
    "zenodo": ZenodoConnector,
    "ckan": CkanConnector,
}

__all__ = ["CONNECTORS", "Connector", "ConnectorError", "HttpFetcher", "Page", "SyncResult", "SyncState",
           "make_connector", "run_sync"]


def make_connector(name: str, **options: Any) -> Connector:
    """A connector by name; ValueError listing the choices when unknown."""
    cls = CONNECTORS.get(name)
    if cls is None:
        raise ValueError(f"no connector {name!r}; choose one of: {', '.join(CONNECTORS)}")
    return cls(**options)
