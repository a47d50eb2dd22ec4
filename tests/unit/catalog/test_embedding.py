"""The catalog embedder: worker processes return the same vectors, in input order, as the in-process encoder."""

from __future__ import annotations

import numpy as np
import pytest

from dra_common.catalog import onnx_encoder
from dra_common.catalog.embedding import CatalogEmbedder, from_bytes, to_bytes
from dra_common.encoder import SentenceEncoder

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


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory: pytest.TempPathFactory):
    """One export directory for this module's tests (an export takes ~20 s)."""
    return tmp_path_factory.mktemp("onnx")


@pytest.mark.slow
def test_int8_onnx_model_agrees_with_float32_in_process_and_in_workers(onnx_dir) -> None:
    local = CatalogEmbedder(threads=1, precision="fp32")
    int8 = CatalogEmbedder(threads=1, precision="int8", onnx_dir=onnx_dir, encoder=local.encoder)
    pooled = CatalogEmbedder(threads=1, precision="int8", workers=2, pool_min_texts=1, onnx_dir=onnx_dir,
                             encoder=local.encoder)
    try:
        reference = local.embed(TEXTS)
        in_process = int8.embed(TEXTS)
        in_workers = pooled.embed(TEXTS)
    finally:
        pooled.close()
    assert int8.int8_path is not None and int8.int8_path.parent == onnx_dir  # exported once, reused by the pool
    assert sorted(p.name for p in onnx_dir.glob("*.onnx")) == sorted(
        onnx_encoder.file_name(p) for p in onnx_encoder.PRECISIONS)
    assert pooled.worker_precisions == {"int8"}
    for vectors in (in_process, in_workers):
        cosines = np.sum(reference * vectors, axis=1)
        assert cosines.min() > 0.98
        assert cosines.max() < 0.99999  # really the quantised model, not float32 again
    # The torch encoder the exporter traced is still exact afterwards.
    assert np.allclose(local.embed(TEXTS), reference, atol=1e-5)


@pytest.mark.slow
def test_query_encoder_on_onnx_runtime_gives_the_torch_numbers(onnx_dir) -> None:
    torch_encoder = SentenceEncoder(threads=1)
    onnx = SentenceEncoder(threads=1, onnx_dir=onnx_dir)
    assert torch_encoder.runtime == "torch" and onnx.runtime == "onnx"
    queries = ["singapore housing prices", "EEG data for an emotion study", "气候变化 données 🌧️", "x"]
    reference, vectors = torch_encoder.encode(queries), onnx.encode(queries)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.sum(reference * vectors, axis=1).min() > 0.9999
    assert float(onnx.encode_query(queries[0]) @ onnx.encode_query(queries[1])) < 0.9  # not one constant vector


def test_query_encoder_falls_back_to_torch_when_the_onnx_file_is_damaged(tmp_path) -> None:
    (tmp_path / onnx_encoder.file_name("fp32")).write_bytes(b"not an onnx model")
    encoder = SentenceEncoder(threads=1, onnx_dir=tmp_path)
    assert encoder.runtime == "torch"
    assert encoder.encode_query("rainfall in singapore").shape == (384,)


def test_precision_int8_needs_a_cache_directory() -> None:
    with pytest.raises(ValueError, match="onnx_dir"):
        CatalogEmbedder(precision="int8")


def test_embedding_bytes_round_trip() -> None:
    vector = np.arange(384, dtype=np.float32) / 384
    blob = to_bytes(vector)
    assert len(blob) == 384 * 4
    assert np.array_equal(from_bytes(blob), vector)
