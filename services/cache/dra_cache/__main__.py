"""`python -m dra_cache`: the cache gRPC service (CACHE_PORT, metrics on CACHE_METRICS_PORT)."""

from __future__ import annotations

from dra_cache.config import CacheSettings
from dra_cache.server import start
from dra_cache.store import CacheStore, make_client
from dra_common.grpc_utils import wait_for_termination
from dra_common.log import setup_logging


def main() -> None:
    """Build settings, connect lazily to Redis, serve until SIGTERM."""
    settings = CacheSettings()
    setup_logging("cache", settings.log_level)
    store = CacheStore(make_client(settings), settings)
    running, housekeeper = start(settings, store)
    wait_for_termination(running, on_stop=housekeeper.stop)


if __name__ == "__main__":
    main()
