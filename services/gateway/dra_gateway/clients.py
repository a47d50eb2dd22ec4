"""Connections the gateway holds for its lifetime: gRPC stubs, Redis, a background executor."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import grpc
import redis

from dra.v1 import cache_pb2_grpc, monitoring_pb2_grpc, ranking_pb2, ranking_pb2_grpc, router_pb2_grpc
from dra_common.grpc_utils import channel
from dra_common.redis_client import redis_client
from dra_common.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class ModelState:
    """Model versions the ranking service serves, refreshed in the background (cache keys need them)."""

    current: str = ""
    candidate: str = ""
    degraded: bool = False
    refreshed_at: float = 0.0


@dataclass
class Clients:
    """Everything a request handler needs to reach the other services."""

    settings: Settings
    router: router_pb2_grpc.RouterServiceStub
    ranking: ranking_pb2_grpc.RankingServiceStub
    cache: cache_pb2_grpc.CacheServiceStub
    monitoring: monitoring_pb2_grpc.MonitoringServiceStub
    redis: redis.Redis
    executor: ThreadPoolExecutor
    models: ModelState = field(default_factory=ModelState)
    _stop: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def connect(cls, settings: Settings) -> Clients:
        """Stubs over shared channels; nothing blocks if a peer is down (calls carry deadlines)."""
        return cls(
            settings=settings,
            router=router_pb2_grpc.RouterServiceStub(channel(settings.router_addr)),
            ranking=ranking_pb2_grpc.RankingServiceStub(channel(settings.ranking_addr)),
            cache=cache_pb2_grpc.CacheServiceStub(channel(settings.cache_addr)),
            monitoring=monitoring_pb2_grpc.MonitoringServiceStub(channel(settings.monitoring_addr)),
            redis=redis_client(settings, timeout=0.5),
            executor=ThreadPoolExecutor(max_workers=4, thread_name_prefix="gateway-bg"),
        )

    def refresh_models(self) -> None:
        """Ask ranking which versions it serves."""
        try:
            info = self.ranking.Info(ranking_pb2.InfoRequest(), timeout=self.settings.rpc_deadline_s)
        except grpc.RpcError:
            return
        self.models = ModelState(info.current_version, info.candidate_version, info.degraded, time.monotonic())

    def start_background(self, interval: float = 10.0) -> None:
        """Keep the model state fresh without putting an Info call on the search path."""

        def loop() -> None:
            while not self._stop.is_set():
                self.refresh_models()
                self._stop.wait(interval if self.models.refreshed_at else 1.0)

        threading.Thread(target=loop, name="model-state", daemon=True).start()

    def close(self) -> None:
        """Stop background work."""
        self._stop.set()
        self.executor.shutdown(wait=False, cancel_futures=True)
