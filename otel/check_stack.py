"""Health of the compose stack, checked from the host (its images are distroless: no
in-container probe can run). Exit 0 once every service answers, 1 after --timeout.

    python otel/check_stack.py [--timeout 60]
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request

# service -> the URL that answers 200 when it is up (ports as docker-compose.yml
# publishes them on 127.0.0.1; tests/test_compose_stack.py checks they agree)
ENDPOINTS = {
    "otel-collector": "http://127.0.0.1:13133/",
    "jaeger": "http://127.0.0.1:16686/",
    "tempo": "http://127.0.0.1:3200/ready",
    "loki": "http://127.0.0.1:3100/ready",
    "grafana": "http://127.0.0.1:3000/api/health",
}


# straight to 127.0.0.1, never through an http_proxy of the environment (a corporate
# or CI proxy cannot reach this host's loopback: every service read as DOWN)
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def up(url: str) -> bool:
    try:
        with _direct.open(url, timeout=2) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout
    waiting = dict(ENDPOINTS)
    said = False
    while True:
        waiting = {name: url for name, url in waiting.items() if not up(url)}
        if not waiting or time.monotonic() > deadline:
            break
        if not said:  # (a silent minute read as a hang)
            print(
                f"waiting up to {args.timeout:g} s for {', '.join(waiting)} "
                "(started by `docker compose up -d`)",
                file=sys.stderr,
                flush=True,
            )
            said = True
        time.sleep(1)  # polling a service that is starting: there is nothing to wait on
    for name, url in ENDPOINTS.items():
        print(f"{name:<15} {'DOWN' if name in waiting else 'up':<5} {url}")
    if waiting:
        print(
            "not up: is the stack started (`docker compose up -d`, then "
            "`docker compose ps` and `docker compose logs SERVICE`)?",
            file=sys.stderr,
        )
    return 1 if waiting else 0


if __name__ == "__main__":
    sys.exit(main())
