"""Does the model still beat BM25 and plain MiniLM on a catalog unlike ours?

An external catalog rarely has our curated themes and keywords, and its sources may be ones the model never
saw. This rebuilds the curated catalog with fields removed (embeddings recomputed from what is left and
cached under DATA_DIR; metadata quality kept as stored) or with every source renamed to an unregistered one,
and scores the held-out dataset judgments with BM25 alone, dense (MiniLM) alone, the fused candidates and
the shipped model, each query carrying the router's domain as when serving.

    .venv/bin/python benchmarks/metadata_eval.py [--model-path models/ranking/<version>/model.pt]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

VARIANTS: dict[str, dict[str, Any]] = {
    "as curated": {},
    "no themes": {"themes": []},
    "no themes, keywords": {"themes": [], "keywords": []},
    "no themes, keywords, publisher": {"themes": [], "keywords": [], "publisher": ""},
    "every source unregistered": {"source": lambda r: f"custom_{r.source}"},
}
SYSTEMS = ("bm25", "dense", "fused", "model")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-path", type=Path, default=None, help="checkpoint (default: the shipped model)")
    parser.add_argument("--split", choices=("heldout", "train"), default="heldout",
                        help="judgment split to score")
    args = parser.parse_args()

    from dra_cli.model import serving_encoder, serving_route
    from dra_common.settings import Settings
    from dra_ranking import registry
    from dra_ranking.catalog import load_curated
    from dra_ranking.index import CatalogIndex
    from dra_ranking.pipeline import cached_embeddings, evaluate_sets

    settings = Settings()
    encoder = serving_encoder(settings)
    route = serving_route(settings, encoder)
    if args.model_path is not None:
        model, name = registry.load_checkpoint(args.model_path)[0], str(args.model_path)
    else:
        loaded = registry.load_version(settings, registry.shipped_manifest(settings))
        model, name = loaded.model, loaded.version
    model.attach_encoder(encoder)
    print(f"model {name}; dataset judgments, {args.split}; NDCG@10 / NDCG@3 (trec_eval)")
    print(f"{'catalog':32s}" + "".join(f"{s:>15s}" for s in SYSTEMS) + "   model vs best baseline (NDCG@10)")
    curated = load_curated()
    for variant, changes in VARIANTS.items():
        started = time.perf_counter()
        print(f"  … {variant}: embedding the catalog (cached after the first run) and scoring", file=sys.stderr,
              flush=True)
        records = [dataclasses.replace(r, **{k: v(r) if callable(v) else v for k, v in changes.items()})
                   for r in curated]
        cached_embeddings(settings, records, encoder)
        results = evaluate_sets(CatalogIndex(records, version=1), encoder, model,
                                include_train=args.split == "train", route=route)
        scores = next(r.metrics for r in results if r.name == f"dataset judgments, {args.split}")
        cells = "".join(f"{scores[s]['ndcg@10']:>9.3f}/{scores[s]['ndcg@3']:.3f}" for s in SYSTEMS)
        best = max(scores[s]["ndcg@10"] for s in ("bm25", "dense"))
        gain = scores["model"]["ndcg@10"] / best - 1.0
        print(f"{variant:32s}{cells}   {gain:+.1%}  ({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
