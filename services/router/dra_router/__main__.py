"""`python -m dra_router`: the router gRPC service (ROUTER_PORT, metrics on ROUTER_METRICS_PORT).

Health stays NOT_SERVING until the sentence encoder is loaded and the classifier and priors are trained
(a few seconds, nothing is downloaded).
"""

from __future__ import annotations

import os
import time


def main() -> None:
    """Build settings, set up logging and thread limits, then serve until SIGTERM."""
    started = time.monotonic()
    from dra_common.log import setup_logging
    from dra_common.settings import Settings

    settings = Settings()
    setup_logging("router", settings.log_level)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from threadpoolctl import threadpool_limits

    from dra_router.server import serve_forever

    # One query is a single matrix-vector product: BLAS threads would cost more in wake-ups than they save.
    threadpool_limits(1, user_api="blas")
    serve_forever(settings, started)


if __name__ == "__main__":
    main()
