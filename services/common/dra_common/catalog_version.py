"""Catalog version notifications: writers bump a counter and publish; ranking reloads in the background."""

from __future__ import annotations

import redis

from dra_common.settings import Settings

CHANNEL = "catalog_version"


def bump_catalog_version(client: redis.Redis, settings: Settings, version: int) -> None:
    """Record the new catalog version and tell subscribers."""
    client.set(settings.key(CHANNEL), version)
    client.publish(settings.key(CHANNEL), str(version))


def model_channel(settings: Settings) -> str:
    """Pub/sub channel announcing model registry changes (reload requests)."""
    return settings.key("model_version")
