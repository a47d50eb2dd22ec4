"""`python -m dra_ranking`: the ranking gRPC service (RANKING_PORT, metrics on RANKING_METRICS_PORT).

Health stays NOT_SERVING until the encoder, the models (or the degraded fallback) and the catalog
index are ready.
"""

from __future__ import annotations

import logging
import os

from dra_common.settings import Settings

log = logging.getLogger("dra_ranking")


def main() -> None:
    """Load encoder, models and catalog, then serve until SIGTERM."""
    settings = Settings()
    from dra_common.log import setup_logging

    setup_logging("ranking", settings.log_level)
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from tenacity import Retrying, stop_after_delay, wait_exponential
    from threadpoolctl import threadpool_limits

    from dra_common.encoder import query_encoder
    from dra_common.grpc_utils import serve, wait_for_termination
    from dra_ranking.encoding import QueryEncoder
    from dra_ranking.server import RankingService, register_servicer

    threads = max(1, settings.torch_threads)
    torch.set_num_threads(threads)
    # numpy's BLAS spinning next to torch's threads costs more than it saves for one query.
    threadpool_limits(1, user_api="blas")
    encoder = QueryEncoder(query_encoder(settings, threads))
    encoder.calibrate()
    service = RankingService(settings, encoder)
    running = serve("ranking", register_servicer(service), host=settings.bind_host, port=settings.ranking_port,
                    metrics_port=settings.ranking_metrics_port)
    service.load_models()
    try:
        for attempt in Retrying(stop=stop_after_delay(60), wait=wait_exponential(max=5), reraise=True):
            with attempt:
                service.load_catalog()
    except Exception:  # noqa: BLE001 - serve an empty catalog; the watcher keeps trying
        log.exception("catalog could not be loaded; serving an empty index until it can")
    service.start_watcher()
    running.set_serving(True)
    log.info("ranking ready", extra={"degraded": service.state.degraded, "datasets": len(service.state.index)})
    wait_for_termination(running, on_stop=service.stop)


if __name__ == "__main__":
    main()
