"""A sync main() wrapped in open_crash_handler, no trio.run() anywhere: a crash
opens a post-mortem REPL at the raising frame.

    python crash_main.py [swallow|ignore|only-keyerror|fixture|fixture-skip|peer-fixture]
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from devx.debug import open_crash_handler


def load_port(text: str) -> int:
    config = dict(line.split("=") for line in text.splitlines())
    return int(config["port"])


@contextmanager
def announce(enter: bool) -> Iterator[bool]:
    print("fixture entered", flush=True)
    yield enter
    print("fixture exited", flush=True)


@contextmanager
def peer_style(repl: Any, maybe_bxerr: Any = None) -> Iterator[bool]:
    """A fixture written for the peer project: called with the REPL about to run and
    the handler's box (whose value is the error)."""
    repl.prompt = "(Pdb+ fixture) "  # the very REPL that runs: its prompt shows
    print(f"fixture got a {type(repl).__name__} for {maybe_bxerr.value!r}", flush=True)
    yield True
    print("fixture exited", flush=True)


def main(mode: str) -> None:
    options: dict[str, Any] = {
        "": {},
        "swallow": {"raise_on_exit": False},
        "ignore": {"ignore": {ValueError}},
        "only-keyerror": {"raise_on_exit": [KeyError]},
        "fixture": {"repl_fixture": announce(True)},
        "fixture-skip": {"repl_fixture": announce(False)},
        "peer-fixture": {"repl_fixture": peer_style},
    }[mode]
    with open_crash_handler(**options) as box:
        port = load_port("host=localhost\nport=eighty")
        print(f"port {port}")
    print(f"main went on after {type(box.value).__name__}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
