"""Batch embedding of catalog records with the shared MiniLM encoder.

Ingest embeds every added or changed record, so this is the hot path of `dra catalog ingest`:
- texts are sorted by length so batches carry little padding;
- the first large call times float32, bf16 autocast (on CPUs with native bfloat16) and an int8 ONNX Runtime model
  (when onnxruntime is installed and a cache directory is given; see `onnx_encoder`) on a sample, and keeps the
  fastest that agrees with float32 (cosine >= 0.999 for bf16, >= 0.98 for int8);
- large batches go to `workers` single-threaded processes (`embed_worker`) instead of one process with several
  torch threads: intra-op threads synchronise at every layer, which stalls badly when the cores are shared with
  other work (measured 3-4x slower on the 2-core dev machine under load); separate processes never wait on each
  other. Workers are plain `python -m` children, so a caller's script is never re-imported in them.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MIN_BF16_COSINE = 0.999
MIN_INT8_COSINE = 0.98
PRECISIONS = ("auto", "fp32", "bf16", "int8")
PRECISION_BYTES = {"fp32": b"f", "bf16": b"b", "int8": b"i"}
CALIBRATION_MIN_TEXTS = 256
POOL_MIN_TEXTS = 256


class CatalogEmbedder:
    """Embeds catalog texts in batches; wraps `dra_common.encoder.SentenceEncoder`.

    Args:
        threads: torch intra-op threads of the in-process encoder.
        batch_size: texts per forward pass.
        precision: "auto" (calibrate on the first large call), "fp32", "bf16" or "int8" (needs `onnx_dir`).
        encoder: an already loaded SentenceEncoder to reuse in-process.
        workers: processes for large calls (1 = always in-process); each runs one torch thread.
        pool_min_texts: calls with fewer texts stay in-process (a pool costs a model load per worker).
        onnx_dir: where the int8 ONNX model is cached (None: torch only).
    """

    def __init__(
        self,
        threads: int = 2,
        batch_size: int = 32,
        precision: str = "auto",
        encoder: Any | None = None,
        workers: int = 1,
        pool_min_texts: int = POOL_MIN_TEXTS,
        onnx_dir: Path | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        if precision == "int8" and onnx_dir is None:
            raise ValueError("precision int8 needs onnx_dir (where the int8 model is cached)")
        self._encoder = encoder
        self.threads = threads
        self.batch_size = batch_size
        self.precision = precision
        self.workers = max(1, workers)
        self.pool_min_texts = pool_min_texts
        self.onnx_dir = onnx_dir
        self._int8_path: Path | None = None
        self._int8: Any = None
        self._pool: list[_Worker] = []
        self.worker_precisions: set[str] = set()  # what the workers chose ("auto" until they calibrated)
        from dra_common.encoder import DIM, MODEL_NAME

        self.name: str = encoder.name if encoder is not None else MODEL_NAME
        self.dim: int = encoder.dim if encoder is not None else DIM

    @property
    def encoder(self) -> Any:
        """The in-process SentenceEncoder, loaded on first use."""
        if self._encoder is None:
            from dra_common.encoder import SentenceEncoder

            self._encoder = SentenceEncoder(threads=self.threads)
        return self._encoder

    @property
    def int8_path(self) -> Path | None:
        """The int8 ONNX model (exported on first use), or None when it is not wanted or not available."""
        if self._int8_path is None and self.onnx_dir is not None and self.precision in ("auto", "int8"):
            from dra_common.catalog.onnx_encoder import model_path

            self._int8_path = model_path(self.onnx_dir)
            if self._int8_path is None and self.precision == "int8":
                self.precision = "auto"  # could not build it: calibrate among the torch precisions
        return self._int8_path

    def _int8_encoder(self) -> Any:
        if self._int8 is None and self.int8_path is not None:
            from dra_common.catalog.onnx_encoder import OnnxEncoder

            self._int8 = OnnxEncoder(self.int8_path, self.encoder)
        return self._int8

    def _encode(self, texts: list[str], precision: str) -> np.ndarray:
        return _encode_with(self.encoder, texts, self.batch_size, precision, self._int8_encoder())

    def _calibrate(self, texts: list[str]) -> None:
        self.precision = _choose_precision(self.encoder, texts, self.batch_size, self._int8_encoder())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 embeddings (n, dim) of `texts`, in input order."""
        items = list(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.workers > 1 and len(items) >= self.pool_min_texts:
            try:
                return self._embed_in_pool(items)
            except (OSError, RuntimeError) as exc:
                log.warning("embedding workers failed; embedding in-process", extra={"error": str(exc)})
                self.close()
                self.workers = 1
        if self.precision == "auto":
            if len(items) < CALIBRATION_MIN_TEXTS:
                # Timing the precisions costs seconds; small ingests are not worth it.
                return self._ordered(items, "fp32")
            self._calibrate(items)
        return self._ordered(items, self.precision)

    def _ordered(self, items: list[str], precision: str) -> np.ndarray:
        order = sorted(range(len(items)), key=lambda i: len(items[i]))
        vectors = self._encode([items[i] for i in order], precision)
        out = np.empty_like(vectors)
        out[np.asarray(order)] = vectors
        return out

    def _embed_in_pool(self, items: list[str]) -> np.ndarray:
        if not self._pool:
            int8 = self.int8_path  # exported once here, before the workers start
            self._pool = [_Worker(self.batch_size, self.precision, int8) for _ in range(self.workers)]
        order = sorted(range(len(items)), key=lambda i: len(items[i]))
        # Interleave the length-sorted texts so every worker gets a similar mix of short and long ones.
        shares = [share for share in (order[w :: self.workers] for w in range(self.workers)) if share]
        for worker, share in zip(self._pool, shares, strict=False):
            worker.send([items[i] for i in share])  # all workers compute at once
        out = np.empty((len(items), self.dim), dtype=np.float32)
        for worker, share in zip(self._pool, shares, strict=False):
            vectors, precision = worker.receive(len(share), self.dim)
            out[np.asarray(share)] = vectors
            self.worker_precisions.add(precision)
        return out

    def close(self) -> None:
        """Stop the worker processes (the in-process encoder stays loaded)."""
        pool, self._pool = self._pool, []
        for worker in pool:
            worker.stop()


class _Worker:
    """One `embed_worker` child process and its pipes."""

    def __init__(self, batch_size: int, precision: str, int8_path: Path | None = None) -> None:
        from dra_common.catalog.embed_worker import HEADER

        self._header = HEADER
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - kept for the child's lifetime, read on failure
        env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
        onnx = ["--onnx", str(int8_path)] if int8_path is not None else []
        if precision == "int8" and not onnx:
            precision = "auto"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dra_common.catalog.embed_worker", "--batch-size", str(batch_size),
             "--precision", precision, *onnx],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env,
        )

    def _failure(self, what: str) -> RuntimeError:
        self.proc.poll()
        self._stderr.seek(0)
        tail = self._stderr.read()[-2000:].decode("utf-8", errors="replace")
        return RuntimeError(f"embedding worker {self.proc.pid} {what} (exit code {self.proc.returncode}): {tail}")

    def send(self, texts: list[str]) -> None:
        """Send one request."""
        payload = json.dumps(texts).encode("utf-8")
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(self._header.pack(len(payload)) + payload)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._failure("is gone") from None

    def receive(self, count: int, dim: int) -> tuple[np.ndarray, str]:
        """Read the answer to the last request."""
        assert self.proc.stdout is not None
        head = self.proc.stdout.read(self._header.size)
        if len(head) < self._header.size:
            raise self._failure("stopped without answering")
        (size,) = self._header.unpack(head)
        body = self.proc.stdout.read(size)
        if len(body) != size or size != 1 + count * dim * 4:
            raise self._failure(f"answered {size} bytes for {count} texts")
        vectors = np.frombuffer(body[1:], dtype="<f4").reshape(count, dim).astype(np.float32)
        return vectors, {v: k for k, v in PRECISION_BYTES.items()}.get(body[:1], "fp32")

    def stop(self) -> None:
        """Close its input (the worker exits at end of input); kill it if it does not leave in time."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=5)
        finally:
            for stream in (self.proc.stdout, self._stderr):
                if stream is not None:
                    stream.close()


def _encode_with(encoder: Any, texts: list[str], batch_size: int, precision: str, int8: Any = None) -> np.ndarray:
    """Embeddings in one precision: torch fp32, torch under bf16 autocast, or the int8 ONNX encoder."""
    if precision == "int8" and int8 is not None:
        return int8.encode(texts, batch_size=batch_size)
    if precision != "bf16":
        return encoder.encode(texts, batch_size=batch_size)
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = encoder.encode(texts, batch_size=batch_size)
    return np.asarray(out, dtype=np.float32)


def _choose_precision(encoder: Any, texts: list[str], batch_size: int, int8: Any = None) -> str:
    """The fastest precision that agrees with fp32 on a sample (fp32 unless another is clearly faster)."""
    sample = sorted(texts, key=len)[:: max(1, len(texts) // 64)][:64]
    options = ["fp32", "bf16"] + (["int8"] if int8 is not None else [])
    floors = {"bf16": MIN_BF16_COSINE, "int8": MIN_INT8_COSINE}
    seconds: dict[str, float] = {}
    cosines: dict[str, float] = {}
    ref: np.ndarray | None = None
    for precision in options:
        try:
            _encode_with(encoder, sample[:4], batch_size, precision, int8)  # warm-up
            start = time.perf_counter()
            vectors = _encode_with(encoder, sample, batch_size, precision, int8)
            seconds[precision] = time.perf_counter() - start
        except (RuntimeError, TypeError, ValueError) as exc:
            log.info("precision unavailable", extra={"precision": precision, "error": str(exc)})
            continue
        if ref is None:
            ref = vectors
        cosines[precision] = float(np.min(np.sum(ref * vectors, axis=1)))
    fp32_s = seconds.get("fp32", float("inf"))
    fit = [p for p in seconds if p != "fp32" and cosines[p] >= floors[p] and seconds[p] < 0.85 * fp32_s]
    choice = min(fit, key=lambda p: seconds[p]) if fit else "fp32"
    log.info("embedding precision chosen", extra={"precision": choice,
                                                  **{f"{p}_s": round(v, 3) for p, v in seconds.items()},
                                                  **{f"{p}_min_cosine": round(v, 5) for p, v in cosines.items()}})
    return choice


def to_bytes(vector: np.ndarray) -> bytes:
    """The stored form of an embedding: little-endian float32 bytes (`np.frombuffer(b, '<f4')` reads it)."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(blob: bytes) -> np.ndarray:
    """An embedding read back from `datasets.embedding`."""
    return np.frombuffer(blob, dtype="<f4")
