"""The Celery application and its beat schedule: what an operations team would otherwise do by hand.

Run: `celery -A dra_worker.celery_app:app worker` and `celery -A dra_worker.celery_app:app beat`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from celery import Celery
from celery.schedules import crontab
from celery.signals import beat_init, worker_process_init, worker_ready, worker_shutdown

from dra_common.log import setup_logging
from dra_common.settings import Settings

settings = Settings()

app = Celery("dra_worker", broker=settings.broker_url, backend=settings.redis_url, include=["dra_worker.tasks"])
app.conf.update(
    task_default_queue=settings.key("tasks"),
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=7 * 24 * 3600,
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    timezone="Asia/Singapore",
    beat_schedule={
        "hourly-quality-check": {"task": "dra.hourly_quality_check", "schedule": crontab(minute=0)},
        "daily-report": {"task": "dra.quality_report", "schedule": crontab(hour=9, minute=0), "args": ("1d",)},
        "weekly-report": {
            "task": "dra.quality_report",
            "schedule": crontab(hour=8, minute=0, day_of_week="mon"),
            "args": ("7d",),
        },
        "weekly-mapping-update": {
            "task": "dra.weekly_mapping_update",
            "schedule": crontab(hour=18, minute=0, day_of_week="fri"),
        },
        "monthly-retraining": {
            "task": "dra.monthly_retraining",
            "schedule": crontab(hour=2, minute=0, day_of_week="sat", day_of_month="1-7"),
        },
        "ab-test-evaluation": {"task": "dra.evaluate_ab_tests", "schedule": crontab(hour=3, minute=30)},
        "quarterly-review": {
            "task": "dra.quarterly_review",
            "schedule": crontab(hour=6, minute=0, day_of_month=1, month_of_year="1,4,7,10"),
        },
    },
)

HEARTBEAT_INTERVAL_S = 5.0
_stop = threading.Event()


def _heartbeat_loop() -> None:
    """Tell the gateway's health check this worker is alive."""
    from dra_common.redis_client import redis_client

    client = redis_client(settings)
    while not _stop.is_set():
        # Redis down: the health check will notice the stale beat.
        with contextlib.suppress(Exception):
            client.set(settings.key("worker_heartbeat"), time.time(), ex=120)
        _stop.wait(HEARTBEAT_INTERVAL_S)


@worker_ready.connect
def _on_ready(**_: Any) -> None:
    setup_logging("worker", settings.log_level)
    threading.Thread(target=_heartbeat_loop, name="heartbeat", daemon=True).start()
    from prometheus_client import start_http_server

    with contextlib.suppress(OSError):
        start_http_server(settings.worker_metrics_port, addr=settings.bind_host)


@beat_init.connect
def _on_beat(**_: Any) -> None:
    setup_logging("beat", settings.log_level)
    from prometheus_client import start_http_server

    with contextlib.suppress(OSError):
        start_http_server(settings.beat_metrics_port, addr=settings.bind_host)


@worker_process_init.connect
def _on_child(**_: Any) -> None:
    setup_logging("worker", settings.log_level)


@worker_shutdown.connect
def _on_shutdown(**_: Any) -> None:
    _stop.set()
