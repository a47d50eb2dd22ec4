"""Batch embedding of catalog records with the shared MiniLM encoder.

Ingest embeds every added or changed record, so this is the hot path of `dra catalog ingest`:
- texts are sorted by length so batches carry little padding;
- on CPUs with native bfloat16 the forward pass runs under bf16 autocast when a calibration batch shows it is
  faster and agrees with float32 (cosine >= 0.999);
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
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MIN_BF16_COSINE = 0.999
CALIBRATION_MIN_TEXTS = 256
POOL_MIN_TEXTS = 256


class CatalogEmbedder:
    """Embeds catalog texts in batches; wraps `dra_common.encoder.SentenceEncoder`.

    Args:
        threads: torch intra-op threads of the in-process encoder.
        batch_size: texts per forward pass.
        precision: "auto" (calibrate on the first large call), "fp32" or "bf16".
        encoder: an already loaded SentenceEncoder to reuse in-process.
        workers: processes for large calls (1 = always in-process); each runs one torch thread.
        pool_min_texts: calls with fewer texts stay in-process (a pool costs a model load per worker).
    """

    def __init__(
        self,
        threads: int = 2,
        batch_size: int = 32,
        precision: str = "auto",
        encoder: Any | None = None,
        workers: int = 1,
        pool_min_texts: int = POOL_MIN_TEXTS,
    ) -> None:
        if precision not in {"auto", "fp32", "bf16"}:
            raise ValueError(f"precision must be auto, fp32 or bf16, not {precision!r}")
        self._encoder = encoder
        self.threads = threads
        self.batch_size = batch_size
        self.precision = precision
        self.workers = max(1, workers)
        self.pool_min_texts = pool_min_texts
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

    def _encode(self, texts: list[str], bf16: bool) -> np.ndarray:
        return _encode_with(self.encoder, texts, self.batch_size, bf16)

    def _calibrate(self, texts: list[str]) -> None:
        self.precision = _choose_precision(self.encoder, texts, self.batch_size)

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
                # Timing both precisions costs seconds; small ingests are not worth it.
                return self._ordered(items, bf16=False)
            self._calibrate(items)
        return self._ordered(items, bf16=self.precision == "bf16")

    def _ordered(self, items: list[str], bf16: bool) -> np.ndarray:
        order = sorted(range(len(items)), key=lambda i: len(items[i]))
        vectors = self._encode([items[i] for i in order], bf16=bf16)
        out = np.empty_like(vectors)
        out[np.asarray(order)] = vectors
        return out

    def _embed_in_pool(self, items: list[str]) -> np.ndarray:
        if not self._pool:
            self._pool = [_Worker(self.batch_size, self.precision) for _ in range(self.workers)]
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

    def __init__(self, batch_size: int, precision: str) -> None:
        from dra_common.catalog.embed_worker import HEADER

        self._header = HEADER
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - kept for the child's lifetime, read on failure
        env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dra_common.catalog.embed_worker", "--batch-size", str(batch_size),
             "--precision", precision],
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
        return vectors, "bf16" if body[:1] == b"b" else "fp32"

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


def _encode_with(encoder: Any, texts: list[str], batch_size: int, bf16: bool) -> np.ndarray:
    if not bf16:
        return encoder.encode(texts, batch_size=batch_size)
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = encoder.encode(texts, batch_size=batch_size)
    return np.asarray(out, dtype=np.float32)


def _choose_precision(encoder: Any, texts: list[str], batch_size: int) -> str:
    """fp32 or bf16, by timing both on a sample and checking they agree."""
    sample = sorted(texts, key=len)[:: max(1, len(texts) // 64)][:64]
    try:
        _encode_with(encoder, sample[:4], batch_size, bf16=False)
        _encode_with(encoder, sample[:4], batch_size, bf16=True)
        start = time.perf_counter()
        ref = _encode_with(encoder, sample, batch_size, bf16=False)
        fp32_s = time.perf_counter() - start
        start = time.perf_counter()
        low = _encode_with(encoder, sample, batch_size, bf16=True)
        bf16_s = time.perf_counter() - start
        cosine = float(np.min(np.sum(ref * low, axis=1)))
    except (RuntimeError, TypeError, ValueError) as exc:
        log.info("bf16 unavailable, embedding in float32", extra={"error": str(exc)})
        return "fp32"
    choice = "bf16" if bf16_s < 0.85 * fp32_s and cosine >= MIN_BF16_COSINE else "fp32"
    log.info("embedding precision chosen", extra={"precision": choice, "fp32_s": round(fp32_s, 3),
                                                  "bf16_s": round(bf16_s, 3), "min_cosine": round(cosine, 5)})
    return choice


def to_bytes(vector: np.ndarray) -> bytes:
    """The stored form of an embedding: little-endian float32 bytes (`np.frombuffer(b, '<f4')` reads it)."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(blob: bytes) -> np.ndarray:
    """An embedding read back from `datasets.embedding`."""
    return np.frombuffer(blob, dtype="<f4")
