"""HTTP for connectors: timeouts, a rate limit, and retries with exponential backoff on 429 and 5xx."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

log = logging.getLogger(__name__)

USER_AGENT = "dataset-research-assistant/0.1 (catalog sync)"


class ConnectorError(RuntimeError):
    """A portal answered in a way a retry will not fix (4xx, not JSON, an API error object)."""


class RetryableStatusError(Exception):
    """429 or 5xx: worth retrying, after `retry_after` seconds when the server said so."""

    def __init__(self, url: str, status: int, retry_after: float | None) -> None:
        super().__init__(f"{url} answered HTTP {status}")
        self.status = status
        self.retry_after = retry_after


class RateLimiter:
    """At most one request per `min_interval` seconds (portals throttle or ban bursts)."""

    def __init__(self, min_interval: float) -> None:
        self.min_interval = max(0.0, min_interval)
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Sleep until the next request is allowed."""
        with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.min_interval
        if delay > 0:
            time.sleep(delay)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class HttpFetcher:
    """GETs JSON with a timeout, a rate limit and tenacity retries (exponential backoff, honouring Retry-After).

    Args:
        timeout: seconds for connect/read of one request.
        min_interval: seconds between requests.
        max_attempts: attempts per request, the first included.
        backoff_base: first backoff in seconds (doubles per attempt).
        backoff_max: cap of one backoff (and of an honoured Retry-After).
    """

    def __init__(
        self,
        timeout: float = 30.0,
        min_interval: float = 1.0,
        max_attempts: int = 5,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=True,
            transport=transport,
        )
        self.limiter = RateLimiter(min_interval)
        self.max_attempts = max(1, max_attempts)
        self.backoff_max = backoff_max
        self._exponential = wait_exponential(multiplier=backoff_base, min=0, max=backoff_max)
        self.requests = 0
        self.retries = 0

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableStatusError) and exc.retry_after is not None:
            return min(exc.retry_after, self.backoff_max)
        return float(self._exponential(state))

    def _before_sleep(self, state: RetryCallState) -> None:
        self.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        log.warning("request failed, retrying", extra={"attempt": state.attempt_number, "error": str(exc),
                                                       "sleep_s": round(state.next_action.sleep, 2)
                                                       if state.next_action else None})

    def _once(self, url: str, params: dict[str, Any] | None) -> Any:
        self.limiter.wait()
        self.requests += 1
        response = self._client.get(url, params=params)
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryableStatusError(str(response.url), response.status_code, _retry_after(response))
        if response.status_code >= 400:
            raise ConnectorError(f"{response.url} answered HTTP {response.status_code}: {response.text[:300]}")
        try:
            return response.json()
        except ValueError:
            raise ConnectorError(f"{response.url} did not answer JSON: {response.text[:200]!r}") from None

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        """The JSON body of GET `url`; ConnectorError when it fails for good."""
        retrying = Retrying(
            retry=retry_if_exception_type((RetryableStatusError, httpx.TransportError)),
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            return retrying(self._once, url, params)
        except RetryableStatusError as exc:
            raise ConnectorError(f"{exc} {self.max_attempts} times; giving up") from exc
        except httpx.TransportError as exc:
            raise ConnectorError(f"{url}: {type(exc).__name__}: {exc} (after {self.max_attempts} attempts)") from exc

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> HttpFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
