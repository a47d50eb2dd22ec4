"""An embedding worker process: `python -m dra_common.catalog.embed_worker --batch-size 32 --precision auto`.

Started by `CatalogEmbedder` (one per core, one torch thread each) as a plain child process, so the caller's
`__main__` is never re-imported the way multiprocessing's spawn would. Protocol over stdin/stdout, one request at a
time: the parent sends an 8-byte big-endian length and a UTF-8 JSON list of texts; the worker answers with an
8-byte length, one precision byte (b"f" float32, b"b" bfloat16) and the little-endian float32 matrix (n x 384).
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
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    args = parser.parse_args()

    import numpy as np

    from dra_common.catalog.embedding import CALIBRATION_MIN_TEXTS, _choose_precision, _encode_with
    from dra_common.encoder import SentenceEncoder

    encoder = SentenceEncoder(threads=1)
    precision = args.precision
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while (frame := read_frame(stdin)) is not None:
        texts = json.loads(frame.decode("utf-8"))
        if precision == "auto" and len(texts) >= CALIBRATION_MIN_TEXTS // 2:
            precision = _choose_precision(encoder, texts, args.batch_size)
        bf16 = precision == "bf16"
        vectors = _encode_with(encoder, texts, args.batch_size, bf16=bf16)
        write_frame(stdout, (b"b" if bf16 else b"f") + np.asarray(vectors, dtype="<f4").tobytes())


if __name__ == "__main__":
    main()
