"""An embedding worker process: `python -m dra_common.catalog.embed_worker --batch-size 32 --precision auto
[--onnx MODEL]`.

Started by `CatalogEmbedder` (one per core, one torch thread each) as a plain child process, so the caller's
`__main__` is never re-imported the way multiprocessing's spawn would. Protocol over stdin/stdout, one request at a
time: the parent sends an 8-byte big-endian length and a UTF-8 JSON list of texts; the worker answers with an
8-byte length, one precision byte (b"f" float32, b"b" bfloat16, b"i" int8 ONNX) and the little-endian float32
matrix (n x 384).
End of input ends the worker.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from typing import BinaryIO

HEADER = struct.Struct(">Q")


def read_frame(stream: BinaryIO) -> bytes | None:
    """One length-prefixed frame, or None at end of stream."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    body = stream.read(size)
    if len(body) < size:
        return None
    return body


def write_frame(stream: BinaryIO, payload: bytes) -> None:
    """Write one length-prefixed frame and flush it."""
    stream.write(HEADER.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def main() -> None:
    """Serve embedding requests until stdin closes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16", "int8"), default="auto")
    parser.add_argument("--onnx", help="the int8 ONNX model (exported by the parent)")
    args = parser.parse_args()

    import numpy as np

    from dra_common.catalog.embedding import CALIBRATION_MIN_TEXTS, PRECISION_BYTES, _choose_precision, _encode_with
    from dra_common.encoder import SentenceEncoder

    encoder = SentenceEncoder(threads=1)
    int8 = None
    if args.onnx:
        from dra_common.catalog.onnx_encoder import OnnxEncoder

        int8 = OnnxEncoder(args.onnx, encoder)
    precision = args.precision if int8 is not None or args.precision != "int8" else "auto"
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while (frame := read_frame(stdin)) is not None:
        texts = json.loads(frame.decode("utf-8"))
        if precision == "auto" and len(texts) >= CALIBRATION_MIN_TEXTS // 2:
            precision = _choose_precision(encoder, texts, args.batch_size, int8)
        used = precision if precision != "auto" else "fp32"
        vectors = _encode_with(encoder, texts, args.batch_size, used, int8)
        write_frame(stdout, PRECISION_BYTES[used] + np.asarray(vectors, dtype="<f4").tobytes())


if __name__ == "__main__":
    main()
