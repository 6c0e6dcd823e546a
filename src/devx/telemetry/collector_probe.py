"""Is anybody listening where the collector should be? A quick TCP connect tells.

A tree exporting to a collector that is not running (``docker compose up`` forgotten)
paid the OTLP exporter's retries at every actor's exit: the exit flush waited out
``DEVX_TELEMETRY_EXIT_TIMEOUT`` per level of the tree, seconds per run for records
that could not arrive. A refused connection is a definite answer, known in well under
a millisecond on the same host: the exporters ask this probe before each export and
fail at once while the collector's address refuses connections (rechecked every
``RECHECK_REFUSED_S`` seconds, so a collector that comes up is used again; a listening
one every ``RECHECK_LISTENING_S``). Only a collector on this host is probed (the
forgotten ``docker compose up``), and only when no proxy stands between: the exporter
may reach a remote one by a route a direct connect does not take (a proxy, an egress
rule). Anything less definite (no answer within ``CONNECT_S``) leaves the export to
the exporter, with its own timeouts and retries, as before.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

CONNECT_S = 0.25  # how long a connect may take before the probe says "not sure"
RECHECK_REFUSED_S = 2.0  # how long "refused" is trusted (a collector coming up is seen)
RECHECK_LISTENING_S = 30.0  # how long "listening" is (a healthy one is not pestered)

_DEFAULT_PORTS = {"http": 4318, "https": 443}


def endpoint_address(
    protocol: str | None, signal: str, env: Mapping[str, str] = os.environ
) -> tuple[str, int] | None:
    """``(host, port)`` of the OTLP endpoint ``signal`` (``TRACES`` or ``LOGS``)
    exports to (its own variable, else the generic one), or ``None``: none set, or
    one the probe does not judge (not on this host, or behind a proxy)."""
    url = (
        env.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
        or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or ""
    ).strip()
    if not url:
        return None
    bare = "://" not in url  # gRPC's "host:port"
    try:
        parts = urlsplit(f"//{url}" if bare else url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or not _local_and_direct(parts.hostname, parts.scheme or "http"):
        return None
    if port is None:
        port = 4317 if protocol == "grpc" else _DEFAULT_PORTS.get(parts.scheme, 4318)
    return parts.hostname, port


def _local_and_direct(host: str, scheme: str) -> bool:
    """A collector on this host, reached with no proxy (where a direct connect's
    answer is the exporter's answer)."""
    import ipaddress
    import urllib.request

    if host.lower() != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                return False
        except ValueError:  # another name: remote, or not ours to judge
            return False
    proxies = urllib.request.getproxies()
    if any(k in proxies for k in (scheme, "https", "http", "grpc", "all")):
        return bool(urllib.request.proxy_bypass(host))
    return True


class CollectorProbe:
    """Shared by a process's span and log exporters; thread-safe (exports run on the
    SDK's worker threads)."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._refused = False

    def refused(self) -> bool:
        """Whether the collector's address refused a connection when last checked
        (checked now when that answer is too old to trust)."""
        with self._lock:
            now = time.monotonic()
            trusted = RECHECK_REFUSED_S if self._refused else RECHECK_LISTENING_S
            if now - self._checked < trusted:
                return self._refused
            self._refused = self._connect_refused()
            self._checked = time.monotonic()
            return self._refused

    def _connect_refused(self) -> bool:
        try:
            with socket.create_connection(self.address, timeout=CONNECT_S):
                return False
        except ConnectionRefusedError:
            return True
        except OSError:  # a timeout, no route, a name not resolved: not definite
            return False


class FailFast:
    """An OTLP exporter (span or log: the SDK calls ``export``, ``force_flush`` and
    ``shutdown``) that raises at once, without its retries, while ``probe`` says the
    collector refuses connections. The guard around it (``otel.Guarded*Exporter``)
    turns that into the one warning and a failed batch."""

    def __init__(self, inner: object, probe: CollectorProbe) -> None:
        self.inner, self.probe = inner, probe

    def export(self, batch: object) -> object:
        if self.probe.refused():
            host, port = self.probe.address
            raise ConnectionRefusedError(
                f"nothing listens at {host}:{port} (is the collector running?)"
            )
        return self.inner.export(batch)  # type: ignore[attr-defined]

    def force_flush(self, timeout_millis: int = 30000) -> object:
        return self.inner.force_flush(timeout_millis)  # type: ignore[attr-defined]

    def shutdown(self) -> None:
        self.inner.shutdown()  # type: ignore[attr-defined]
