"""What the catalog-embedding step can do on this machine: throughput per core of each runtime, and what
shorter embedded texts would cost in retrieval quality.

The ingest target (300 records/s end to end on 2 cores) is bounded by the MiniLM forward pass over each
record's embedding text; this script prints the figures behind that statement:

1. texts/s on one core for the benchmark's generated records: torch fp32, torch bf16 autocast and, when
   `onnxruntime` and `onnx` are installed, ONNX Runtime with int8 dynamic quantisation (per channel);
   each with its agreement (cosine) with torch fp32;
2. dense-alone and fused NDCG@10 on all judged queries when the embedded text is cut to 128/64/48/32 tokens.

    .venv/bin/python benchmarks/embedding_bench.py [--texts 512] [--skip-quality]
"""

from __future__ import annotations

import argparse
import copy
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
    """An int8 ONNX Runtime encoder exported from the shipped weights (None when onnxruntime is missing)."""
    try:
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        return None
    # A copy: tracing for export leaves the traced module changed (measured: its outputs drift to cosine 0.92).
    model = copy.deepcopy(encoder._model)  # noqa: SLF001 - benchmark reaches into the shared encoder on purpose

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state

    sample = encoder._tokenizer(["a sample text"], return_tensors="pt")  # noqa: SLF001
    fp32, int8 = workdir / "minilm.onnx", workdir / "minilm-int8.onnx"
    axes = {name: {0: "batch", 1: "tokens"} for name in ("ids", "mask", "types", "hidden")}
    torch.onnx.export(Hidden(), (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]), str(fp32),
                      dynamo=False, input_names=["ids", "mask", "types"], output_names=["hidden"],
                      dynamic_axes=axes, opset_version=17)
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(int8), options, providers=["CPUExecutionProvider"])

    def encode(texts: list[str], batch_size: int = 32) -> np.ndarray:
        out = []
        for start in range(0, len(texts), batch_size):
            tokens = encoder._tokenizer(texts[start : start + batch_size], padding=True, truncation=True,  # noqa: SLF001
                                        max_length=256, return_tensors="np")
            hidden = session.run(None, {"ids": tokens["input_ids"], "mask": tokens["attention_mask"],
                                        "types": tokens["token_type_ids"]})[0]
            mask = tokens["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            out.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
        return np.concatenate(out).astype(np.float32)

    return encode


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


def quality_by_token_cap(encoder: SentenceEncoder) -> dict[int, dict[str, float]]:
    """Dense and fused NDCG@10 on every judged query with the embedded text cut to each token cap."""
    from dra_ranking import evaluation
    from dra_ranking.catalog import load_curated
    from dra_ranking.index import CatalogIndex

    records = load_curated()
    judged = evaluation.load_judgments(None, None)
    texts = [embedding_text(r) for r in records]
    out: dict[int, dict[str, float]] = {}
    for cap in TOKEN_CAPS:
        encoder._max_len = cap  # noqa: SLF001
        vectors = encoder.encode(texts, batch_size=32)
        encoder._max_len = 256  # noqa: SLF001 - queries keep the full length
        for record, vector in zip(records, vectors, strict=True):
            record.embedding = vector
        index = CatalogIndex(records)
        queries, qrels = evaluation.judgment_queries(judged, index)
        prepared = evaluation.prepare(index, queries, evaluation.encode_queries(encoder, [q.text for q in queries]))
        runs = evaluation.dataset_runs(index, prepared, None, systems=("dense", "fused"))
        scores = evaluation.score_runs(qrels, runs, ["ndcg@10"])
        tokens = encoder._tokenizer(texts, truncation=True, max_length=cap)["input_ids"]  # noqa: SLF001
        out[cap] = {"mean_tokens": float(np.mean([len(t) for t in tokens])),
                    "dense_ndcg@10": scores["dense"]["ndcg@10"], "fused_ndcg@10": scores["fused"]["ndcg@10"]}
        print(f"  cap {cap}: {out[cap]}", flush=True)
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
    if not args.skip_quality:
        print("\nquality by token cap (all judged queries, curated catalog):", flush=True)
        table = quality_by_token_cap(encoder)
        print("\n| embedded tokens (cap) | mean tokens | dense NDCG@10 | fused NDCG@10 |\n|---|---|---|---|")
        for cap, row in table.items():
            print(f"| {cap} | {row['mean_tokens']:.1f} | {row['dense_ndcg@10']:.3f} | {row['fused_ndcg@10']:.3f} |")


if __name__ == "__main__":
    main()
