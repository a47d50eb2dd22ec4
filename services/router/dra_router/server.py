"""The router gRPC service: `RouterService.Classify`.

The servicer holds a `Router` reference that is swapped whole (at start, and when feedback refreshes the
priors), so a request always sees one consistent classifier and prior table.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import grpc

from dra.v1 import common_pb2, router_pb2, router_pb2_grpc
from dra_common import mappings
from dra_common.evalsets import load_labelled
from dra_common.settings import Settings
from dra_router import feedback, metrics
from dra_router.routing import Decision, InvalidQueryError, Router, build_router, label_texts, rebuild_priors

log = logging.getLogger(__name__)

SERVICE_NAME = "dra.v1.RouterService"
FEEDBACK_REFRESH_SECONDS = 600.0


class RouterService(router_pb2_grpc.RouterServiceServicer):
    """Answers Classify from the current Router; UNAVAILABLE until it is trained."""

    def __init__(self) -> None:
        self.router: Router | None = None

    def Classify(  # noqa: N802 - gRPC method name
        self, request: router_pb2.ClassifyRequest, context: grpc.ServicerContext
    ) -> router_pb2.ClassifyResponse:
        """Domain, geography, ranked sources and the Singapore-first decision for one query."""
        router = self.router
        if router is None:
            context.abort(grpc.StatusCode.UNAVAILABLE, "router is still training its classifier; retry shortly")
        try:
            decision = router.classify(request.query, dict(request.user_context))
        except InvalidQueryError as exc:
            metrics.INVALID_REQUESTS.labels("empty_query").inc()
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        record(decision)
        return to_response(decision, router.embedding_model, request.return_embedding)


def record(decision: Decision) -> None:
    """Metrics of one answered request."""
    for stage in ("encode", "route", "total"):
        metrics.CLASSIFY_LATENCY.labels(stage).observe(decision.timings_ms.get(stage, 0.0) / 1000)
    metrics.CLASSIFICATIONS.labels(decision.domain, str(decision.singapore_first_applied).lower()).inc()
    if decision.low_confidence:
        metrics.LOW_CONFIDENCE.inc()
    if decision.notices:
        metrics.CLIPPED_QUERIES.inc()


def to_response(decision: Decision, embedding_model: str, return_embedding: bool) -> router_pb2.ClassifyResponse:
    """The protobuf answer; the embedding only when asked for (it is 384 floats)."""
    return router_pb2.ClassifyResponse(
        domain=decision.domain,
        confidence=decision.confidence,
        runner_up=[common_pb2.DomainScore(domain=d, confidence=p) for d, p in decision.runner_up],
        geography=list(decision.geography),
        singapore_intent=decision.singapore_intent,
        singapore_first_applied=decision.singapore_first_applied,
        reason=decision.reason,
        recommended_sources=[
            common_pb2.SourceScore(source=s.source, score=s.score, reason=s.reason) for s in decision.sources
        ],
        query_embedding=decision.embedding.tolist() if return_embedding else [],
        embedding_model=embedding_model,
        notices=list(decision.notices),
        geography_evidence=list(decision.evidence),
    )


def register_servicer(service: RouterService) -> Callable[[grpc.Server], list[str]]:
    """The `register` callback for `grpc_utils.serve`."""

    def register(server: grpc.Server) -> list[str]:
        router_pb2_grpc.add_RouterServiceServicer_to_server(service, server)
        return [SERVICE_NAME]

    return register


def load_mappings(settings: Settings) -> mappings.ParseResult:
    """Parse the training mappings, log rejected lines, and refresh the processed JSON the runbook checks."""
    result = mappings.parse_file(settings.training_mappings_path)
    for error in result.errors:
        log.warning("training mapping rejected", extra={"error": str(error)})
    metrics.MAPPING_ERRORS.set(len(result.errors))
    try:
        mappings.write_processed(result.records, mappings.processed_path(settings))
    except OSError as exc:
        log.warning("processed mappings not written", extra={"error": str(exc)})
    return result


def train(settings: Settings, encoder: object) -> tuple[Router, mappings.ParseResult]:
    """Build a Router from the mappings, the labelled queries and the feedback table."""
    parsed = load_mappings(settings)
    router = build_router(encoder, parsed, load_labelled(), feedback.loader(settings))
    metrics.TRAINING_EXAMPLES.set(router.classifier.n_train)
    metrics.MAPPINGS.set(router.priors.n_mappings)
    metrics.FEEDBACK_RATINGS.set(router.priors.n_feedback)
    return router, parsed


def refresh_loop(
    service: RouterService, settings: Settings, parsed: mappings.ParseResult, stop: threading.Event
) -> None:
    """Every FEEDBACK_REFRESH_SECONDS, rebuild the priors with the latest feedback and swap them in."""
    while not stop.wait(FEEDBACK_REFRESH_SECONDS):
        router = service.router
        if router is None:
            continue
        try:
            load = feedback.loader(settings)
            stats = load(lambda texts, current=router: label_texts(current.encoder, current.classifier, texts))
            priors = rebuild_priors(router, parsed, stats)
            service.router = Router(router.encoder, router.classifier, priors)
            metrics.FEEDBACK_RATINGS.set(priors.n_feedback)
            metrics.PRIORS_REFRESHES.labels("ok").inc()
        except Exception:  # noqa: BLE001 - keep serving the old priors
            metrics.PRIORS_REFRESHES.labels("error").inc()
            log.exception("priors refresh failed; keeping the previous priors")


def serve_forever(settings: Settings, started: float | None = None) -> None:
    """Start the server, train, go SERVING, and block until SIGTERM."""
    from dra_common.encoder import query_encoder
    from dra_common.grpc_utils import serve, wait_for_termination

    started = started or time.monotonic()
    service = RouterService()
    running = serve(
        "router",
        register_servicer(service),
        host=settings.bind_host,
        port=settings.router_port,
        metrics_port=settings.router_metrics_port,
    )
    encoder = query_encoder(settings)
    router, parsed = train(settings, encoder)
    service.router = router
    running.set_serving(True)
    metrics.STARTUP_SECONDS.set(time.monotonic() - started)
    log.info("router ready", extra={"port": running.port, "seconds": round(time.monotonic() - started, 2)})
    stop = threading.Event()
    refresher = threading.Thread(
        target=refresh_loop, args=(service, settings, parsed, stop), name="priors-refresh", daemon=True
    )
    refresher.start()
    wait_for_termination(running, on_stop=stop.set)
