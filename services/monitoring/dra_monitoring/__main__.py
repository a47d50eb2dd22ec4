"""`python -m dra_monitoring`: consume search events, serve quality metrics over gRPC."""

from __future__ import annotations

import threading

from dra.v1 import monitoring_pb2, monitoring_pb2_grpc
from dra_common.grpc_utils import serve, wait_for_termination
from dra_common.log import setup_logging
from dra_common.redis_client import redis_client
from dra_common.settings import Settings
from dra_monitoring.consumer import EventConsumer
from dra_monitoring.dashboard import start_dashboard
from dra_monitoring.server import MonitoringServicer


def main() -> None:
    """Start the consumer and the gRPC server; stop both on SIGTERM."""
    settings = Settings()
    setup_logging("monitoring", settings.log_level)
    servicer = MonitoringServicer(settings)

    def register(server: object) -> list[str]:
        monitoring_pb2_grpc.add_MonitoringServiceServicer_to_server(servicer, server)
        return [monitoring_pb2.DESCRIPTOR.services_by_name["MonitoringService"].full_name]

    running = serve(
        "monitoring",
        register,
        host=settings.bind_host,
        port=settings.monitoring_port,
        metrics_port=settings.monitoring_metrics_port,
    )
    consumer = EventConsumer(settings, redis_client(settings, timeout=5.0))
    consumer.start()
    start_dashboard(settings)
    running.set_serving(True)
    if settings.startup_quality_check:
        threading.Thread(target=servicer.startup_check, name="startup-check", daemon=True).start()
    wait_for_termination(running, on_stop=consumer.stop)


if __name__ == "__main__":
    main()
