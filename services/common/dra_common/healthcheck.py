"""Container healthcheck: `python -m dra_common.healthcheck grpc HOST:PORT` or `... http URL`.

Exit 0 when the target is healthy (gRPC health SERVING, or HTTP 200), 1 otherwise.
"""

from __future__ import annotations

import sys
import urllib.request

from dra_common.grpc_utils import health_check


def main(argv: list[str]) -> int:
    """Check one target and return the exit code."""
    if len(argv) != 2 or argv[0] not in ("grpc", "http"):
        sys.stderr.write("usage: python -m dra_common.healthcheck grpc HOST:PORT | http URL\n")
        return 2
    kind, target = argv
    if kind == "grpc":
        return 0 if health_check(target, timeout=2.0) == "SERVING" else 1
    try:
        with urllib.request.urlopen(target, timeout=2.0) as response:  # noqa: S310 - local health URL
            return 0 if response.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
