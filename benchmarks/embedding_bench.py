"""What the catalog-embedding step can do on this machine: throughput per core of each runtime, and what
shorter embedded texts would cost in retrieval quality.

The ingest target (300 records/s end to end on 2 cores) is bounded by the MiniLM forward pass over each
record's embedding text; this script prints the figures behind that statement:

1. texts/s on one core for the benchmark's generated records: torch fp32, torch bf16 autocast and, when
   `onnxruntime` and `onnx` are installed, the ingest's ONNX Runtime int8 model (`dra_common.catalog.onnx_encoder`);
   each with its agreement (cosine) with torch fp32;
2. dense-alone and fused NDCG@10 on all judged queries when the catalog is embedded in float32 with its text cut
   to 256/128/64/48/32 tokens, and with the int8 model at full length.

    .venv/bin/python benchmarks/embedding_bench.py [--texts 512] [--skip-quality]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from ingest_bench import generate

from dra_common.catalog.records import embedding_text
from dra_common.encoder import SentenceEncoder

TOKEN_CAPS = (256, 128, 64, 48, 32)


def per_core_rate(encode: Callable[[list[str]], np.ndarray], texts: list[str]) -> tuple[float, np.ndarray]:
    """texts/s of `encode` over `texts` (after one warm-up batch) and the embeddings."""
    encode(texts[:8])
    started = time.perf_counter()
    vectors = encode(texts)
    return len(texts) / (time.perf_counter() - started), vectors


def onnx_int8(encoder: SentenceEncoder, workdir: Path) -> Callable[[list[str]], np.ndarray] | None:
    """The ingest's int8 ONNX Runtime encoder (`dra_common.catalog.onnx_encoder`), None when not installed."""
    from dra_common.catalog import onnx_encoder

    path = onnx_encoder.model_path(workdir)
    if path is None:
        return None
    int8 = onnx_encoder.OnnxEncoder(path, encoder)
    return lambda texts: int8.encode(texts, batch_size=32)


def throughput(encoder: SentenceEncoder, count: int, workdir: Path) -> dict[str, dict[str, float]]:
    """Per-core texts/s of each runtime on generated records, with cosine agreement to fp32."""
    data = workdir / "records.jsonl"
    generate(data, count)
    texts = sorted((embedding_text(json.loads(line)) for line in data.open(encoding="utf-8")), key=len)
    tokens = encoder._tokenizer(texts, truncation=True, max_length=256)["input_ids"]  # noqa: SLF001
    print(f"{len(texts)} generated records, mean {np.mean([len(t) for t in tokens]):.1f} tokens", flush=True)
    rate, reference = per_core_rate(lambda t: encoder.encode(t, batch_size=32), texts)
    out = {"torch fp32": {"texts_per_s": rate, "min_cosine": 1.0}}

    def bf16(t: list[str]) -> np.ndarray:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return encoder.encode(t, batch_size=32)

    candidates: dict[str, Callable[[], Callable[[list[str]], np.ndarray] | None]] = {
        "torch bf16": lambda: bf16, "onnxruntime int8": lambda: onnx_int8(encoder, workdir)}
    for name, make in candidates.items():
        encode = make()
        if encode is None:
            print(f"{name}: not installed, skipped")
            continue
        rate, vectors = per_core_rate(encode, texts)
        cosine = np.sum(vectors * reference, axis=1)
        out[name] = {"texts_per_s": rate, "min_cosine": float(cosine.min()), "mean_cosine": float(cosine.mean())}
    return out


def retrieval_quality(encoder: SentenceEncoder, workdir: Path) -> dict[str, dict[str, float]]:
    """Dense and fused NDCG@10 on every judged query for each way of embedding the catalog (queries: fp32)."""
    from dra_ranking import evaluation
    from dra_ranking.catalog import load_curated
    from dra_ranking.index import CatalogIndex

    records = load_curated()
    judged = evaluation.load_judgments(None, None)
    texts = [embedding_text(r) for r in records]

    def capped(cap: int) -> Callable[[list[str]], np.ndarray]:
        def encode(items: list[str]) -> np.ndarray:
            encoder._max_len = cap  # noqa: SLF001
            try:
                return encoder.encode(items, batch_size=32)
            finally:
                encoder._max_len = 256  # noqa: SLF001 - queries keep the full length
        return encode

    variants: dict[str, Callable[[list[str]], np.ndarray] | None] = {
        f"fp32, {cap} tokens": capped(cap) for cap in TOKEN_CAPS}
    variants["int8 ONNX, 256 tokens"] = onnx_int8(encoder, workdir)
    out: dict[str, dict[str, float]] = {}
    for label, encode in variants.items():
        if encode is None:
            continue
        for record, vector in zip(records, encode(texts), strict=True):
            record.embedding = vector
        index = CatalogIndex(records)
        queries, qrels = evaluation.judgment_queries(judged, index)
        prepared = evaluation.prepare(index, queries, evaluation.encode_queries(encoder, [q.text for q in queries]))
        runs = evaluation.dataset_runs(index, prepared, None, systems=("dense", "fused"))
        scores = evaluation.score_runs(qrels, runs, ["ndcg@10"])
        cap = int(label.split(", ")[1].split()[0])
        tokens = encoder._tokenizer(texts, truncation=True, max_length=cap)["input_ids"]  # noqa: SLF001
        out[label] = {"mean_tokens": float(np.mean([len(t) for t in tokens])),
                      "dense_ndcg@10": scores["dense"]["ndcg@10"], "fused_ndcg@10": scores["fused"]["ndcg@10"]}
        print(f"  {label}: {out[label]}", flush=True)
    return out


def main() -> None:
    """Print both tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    encoder = SentenceEncoder(threads=1)
    with tempfile.TemporaryDirectory(prefix="dra-embedding-bench-") as tmp:
        rates = throughput(encoder, args.texts, Path(tmp))
        print("\n| runtime (1 core) | texts/s | min cosine to fp32 |\n|---|---|---|")
        for name, r in rates.items():
            print(f"| {name} | {r['texts_per_s']:.1f} | {r['min_cosine']:.4f} |")
        if args.skip_quality:
            return
        print("\nretrieval quality by document embedding (all judged queries, curated catalog):", flush=True)
        table = retrieval_quality(encoder, Path(tmp))
    print("\n| documents embedded with | mean tokens | dense NDCG@10 | fused NDCG@10 |\n|---|---|---|---|")
    for label, row in table.items():
        print(f"| {label} | {row['mean_tokens']:.1f} | {row['dense_ndcg@10']:.3f} | {row['fused_ndcg@10']:.3f} |")


if __name__ == "__main__":
    main()
