"""The catalog embedder: worker processes return the same vectors, in input order, as the in-process encoder."""

from __future__ import annotations

import numpy as np
import pytest

from dra_common.catalog.embedding import CatalogEmbedder, from_bytes, to_bytes

TEXTS = [
    "Population, total. population, demographics. World Bank. Mid-year estimates of all residents.",
    "HDB resale flat prices. housing, resale, prices. Housing and Development Board.",
    "EEG during emotional film clips. eeg, emotion. Example University.",
    "Rainfall, monthly total. weather, rain. Meteorological Service Singapore. Monthly rainfall in millimetres.",
    "Bus arrival times. transport, bus. LTA.",
] * 4


@pytest.mark.slow
def test_worker_processes_match_in_process_encoding_in_order() -> None:
    local = CatalogEmbedder(threads=1, precision="fp32")
    pooled = CatalogEmbedder(threads=1, precision="fp32", workers=2, pool_min_texts=1)
    try:
        reference = local.embed(TEXTS)
        vectors = pooled.embed(TEXTS)
    finally:
        pooled.close()
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    cosines = np.sum(reference * vectors, axis=1)
    assert cosines.min() > 0.999  # same text -> same vector, so the order was restored
    assert pooled.worker_precisions == {"fp32"}
    distinct = reference[:5] @ reference[:5].T
    assert distinct[0, 1] < 0.9  # different texts stay different (the check above can fail)


@pytest.mark.slow
def test_int8_onnx_model_agrees_with_float32_in_process_and_in_workers(tmp_path) -> None:
    local = CatalogEmbedder(threads=1, precision="fp32")
    int8 = CatalogEmbedder(threads=1, precision="int8", onnx_dir=tmp_path, encoder=local.encoder)
    pooled = CatalogEmbedder(threads=1, precision="int8", workers=2, pool_min_texts=1, onnx_dir=tmp_path,
                             encoder=local.encoder)
    try:
        reference = local.embed(TEXTS)
        in_process = int8.embed(TEXTS)
        in_workers = pooled.embed(TEXTS)
    finally:
        pooled.close()
    assert int8.int8_path is not None and int8.int8_path.parent == tmp_path  # exported once, reused by the pool
    assert len(list(tmp_path.glob("*.onnx"))) == 1
    assert pooled.worker_precisions == {"int8"}
    for vectors in (in_process, in_workers):
        cosines = np.sum(reference * vectors, axis=1)
        assert cosines.min() > 0.98
        assert cosines.max() < 0.99999  # really the quantised model, not float32 again
    # The torch encoder the exporter traced is still exact afterwards.
    assert np.allclose(local.embed(TEXTS), reference, atol=1e-5)


def test_precision_int8_needs_a_cache_directory() -> None:
    with pytest.raises(ValueError, match="onnx_dir"):
        CatalogEmbedder(precision="int8")


def test_embedding_bytes_round_trip() -> None:
    vector = np.arange(384, dtype=np.float32) / 384
    blob = to_bytes(vector)
    assert len(blob) == 384 * 4
    assert np.array_equal(from_bytes(blob), vector)
