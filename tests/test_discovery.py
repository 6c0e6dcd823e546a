"""Discovery (issue 23): a registrar, and actors found by name within a tree, across
trees (separate programs sharing a registrar and DEVX_TREE_SECRET) and across
"hosts" (two roots on 127.0.0.2 and 127.0.0.3). Every tree is a real process; the
registrar's table is read through the public lookups."""

from __future__ import annotations

import bdb
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pexpect
import pytest
import trio
import trio.testing

import devx
import discovery_fns
from _pty import Repl, assert_fits, banner
from conftest import scaled, wait_until

pytestmark = pytest.mark.timeout(180)

SCRIPT = str(Path(__file__).parent / "scripts" / "discovery_tree.py")
SECRET = "discovery-test-secret-0123456789"


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _env(secret: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVX_TREE_SECRET")}
    if secret is not None:
        env["DEVX_TREE_SECRET"] = secret
    return env


@contextmanager
def _proc(args: list[str], secret: str | None, ready: str) -> Iterator[pexpect.spawn]:
    child = pexpect.spawn(
        sys.executable, args, env=_env(secret), encoding="utf-8", timeout=scaled(20)
    )
    try:
        child.expect(ready)
        yield child
    finally:
        if child.isalive():
            child.kill(signal.SIGINT)
            try:
                child.expect(pexpect.EOF, timeout=scaled(10))
            except pexpect.TIMEOUT:
                child.kill(signal.SIGKILL)
        child.close(force=True)


def _registrar(port: int, host: str = "127.0.0.1") -> AbstractContextManager[pexpect.spawn]:
    return _proc(["-m", "devx", "registrar", "--listen", f"{host}:{port}"], SECRET, "listening on")


def _tree(
    reg: tuple[str, int], *extra: str, secret: str | None = SECRET
) -> AbstractContextManager[pexpect.spawn]:
    args = [SCRIPT, "--registry", f"{reg[0]}:{reg[1]}", *extra]
    return _proc(args, secret, r"READY (\{[^\r\n]*\})")


@contextmanager
def other_tree(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[tuple[str, int], Path, Path]]:
    """A registrar and another tree serving actor ``svc`` (its root ``other``), each a
    process of its own, sharing the test's secret; yields the registry address and
    the telemetry files of this process's tree (``mine``) and the other's (``theirs``,
    through ``DEVX_TELEMETRY_FILE``, set for it)."""
    port = _free_port()
    reg = ("127.0.0.1", port)
    mine, theirs = tmp_path / "caller.otlp.jsonl", tmp_path / "callee.otlp.jsonl"
    monkeypatch.setenv("DEVX_TREE_SECRET", SECRET)
    monkeypatch.setenv("DEVX_TELEMETRY_FILE", str(theirs))
    with _registrar(port), _tree(reg, "--name", "other", "--start", "svc"):
        yield reg, mine, theirs


async def _until(pred: Callable[[], Awaitable[object]], what: str) -> object:
    """Poll an async predicate until it holds (bounded): the registrar's view changes
    when it reads a frame or an end of file, which nothing here can wait on."""
    with trio.move_on_after(scaled(10)):
        while True:
            got = await pred()
            if got:
                return got
            await trio.sleep(0.02)
    pytest.fail(f"timed out after {scaled(10):g} s waiting for {what}")


async def _addr_of(name: str) -> object:
    async with devx.query_actor(name) as (addr, _):
        return addr


def test_find_call_and_deregister_within_one_tree() -> None:
    """The root is the registrar; its children register on start (found as soon as
    start_actor returns, by the root and by a sibling) and are gone once they exit."""

    async def main() -> None:
        async with devx.open_nursery() as an:
            assert devx.current_actor().is_registrar
            svc = await an.start_actor("svc", enable_modules=["discovery_fns"])
            client = await an.start_actor("client", enable_modules=["discovery_fns"])
            assert not await client.run(discovery_fns.is_registrar)
            async with devx.find_actor("svc") as portal:
                assert portal is not None
                assert (await portal.run(discovery_fns.where))["path"] == "root/svc"
            got = await client.run(discovery_fns.call_by_name, name="svc")
            assert got["path"] == "root/svc"
            async with devx.wait_for_actor("client") as portal:
                assert (await portal.run(discovery_fns.where))["path"] == "root/client"
            async with devx.find_actor("nobody") as portal:
                assert portal is None
            with pytest.raises(RuntimeError, match="no actor named 'nobody'"):
                async with devx.find_actor("nobody", raise_on_none=True):
                    pass
            await svc.cancel_actor()
            await _until(lambda: _none(_addr_of("svc")), "svc to be forgotten")
            assert await client.run(discovery_fns.call_by_name, name="svc") is None
            await an.cancel()

    trio.run(main)


def test_a_lookup_at_an_address_where_no_registrar_answers_says_so() -> None:
    """find_actor / wait_for_actor / query_actor / get_registry given an address where
    nothing listens: an OSError naming the address, the asking actor and what to do
    (before: trio's bare 'all attempts to connect to ... failed'); the tree goes on."""
    dead = ("127.0.0.1", _free_port())
    told = re.compile(
        rf"^no registrar answers at \('127\.0\.0\.1', {dead[1]}\) \(asked by actor "
        r"'(root|root/client)'.*devx registrar --listen"
    )

    async def main() -> None:
        async with devx.open_nursery() as an:
            client = await an.start_actor("client", enable_modules=["discovery_fns"])
            lookups = [
                devx.find_actor("client", registry_addrs=[dead]),
                devx.wait_for_actor("client", registry_addr=dead),
                devx.query_actor("client", dead),
                devx.get_registry(dead),
            ]
            for lookup in lookups:
                with pytest.raises(OSError, match=told):
                    async with lookup:
                        pass
            said = await client.run(
                discovery_fns.find_at, name="client", host=dead[0], port=dead[1]
            )
            assert told.match(said) and "root/client" in said, said
            async with devx.find_actor("client") as portal:  # the tree's own registrar
                assert (await portal.run(discovery_fns.where))["path"] == "root/client"
            await an.cancel()

    trio.run(main)


class _Stranger:
    """A TCP service that is no devx actor on 127.0.0.1 (a mistyped registrar
    port): ``talk`` answers every connection with an HTTP error, else it stays silent."""

    def __init__(self, talk: bool) -> None:
        import socket
        import threading

        self.sock = socket.create_server(("127.0.0.1", 0))
        self.addr = ("127.0.0.1", self.sock.getsockname()[1])
        self.talk, self.conns = talk, []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if self.talk:
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


def test_a_lookup_at_another_service_says_no_devx_actor_listens_there() -> None:
    """find_actor(registry_addrs=[a web server's port]): an OSError saying no devx
    actor listens there (before: a bare ``trio.TooSlowError``, or devx's
    ``MsgTypeError`` about a frame of 1213486160 bytes, "HTTP" read as a length)."""
    silent, talking = _Stranger(talk=False), _Stranger(talk=True)

    async def main() -> None:
        async with devx.open_root_actor(name="asker"):
            for stranger, what, why in (
                (
                    talking,
                    "answered the hello of actor 'asker' with no devx frame",
                    "no devx actor listens there",
                ),
                (  # silence may also be a devx actor whose loop is blocked: both said
                    silent,
                    "did not answer the hello of actor 'asker' within",
                    "another service on that port, or a devx actor whose loop is blocked",
                ),
            ):
                with pytest.raises(OSError) as got:
                    async with devx.find_actor("x", registry_addrs=[stranger.addr]):
                        pass
                msg = str(got.value)
                assert msg.startswith(f"no registrar answers at {stranger.addr}"), msg
                assert what in msg and why in msg, msg

    try:
        trio.run(main)
    finally:
        silent.close()
        talking.close()


def test_a_root_whose_registry_address_is_another_service_still_opens() -> None:
    """A root given registry_addrs=[a port another service holds, silent to its hello]:
    it says it cannot listen there and registers once a registrar answers, and runs
    (before: ``UnboundLocalError: ... 'chan'`` out of open_root_actor, its first
    registration cut by its deadline before the hello's own timeout)."""
    silent = _Stranger(talk=False)

    async def main() -> None:
        async with devx.open_nursery(registry_addrs=[silent.addr]) as an:
            portal = await an.start_actor("kid", enable_modules=["discovery_fns"])
            assert (await portal.run(discovery_fns.where))["path"] == "root/kid"
            await an.cancel()

    try:
        trio.run(main)
    finally:
        silent.close()


def test_a_listen_address_that_cannot_be_had_says_where_and_what_to_do() -> None:
    """``listen_addr`` an address of no interface here (a typo, the other host's
    address), or a port another service holds: an OSError (its errno kept) naming the
    actor, the address and what to give instead (before: trio's bare "[Errno 99]
    Cannot assign requested address")."""
    import errno

    taken = _Stranger(talk=False)

    async def main(addr: object) -> None:
        async with devx.open_root_actor(name="lonely", listen_addr=addr):
            pass

    try:
        for addr, code, hint in (
            ("192.0.2.1", errno.EADDRNOTAVAIL, "it is no address of this host"),
            (taken.addr, errno.EADDRINUSE, "that port is taken"),
        ):
            with pytest.raises(OSError) as got:
                trio.run(main, addr)
            where = "192.0.2.1:0" if addr == "192.0.2.1" else f"127.0.0.1:{taken.addr[1]}"
            assert got.value.errno == code
            assert f"actor 'lonely' cannot listen on {where} (" in str(got.value), got.value
            assert hint in str(got.value)
    finally:
        taken.close()


def test_the_peers_bind_address_spellings() -> None:
    """The peer's ``tpt_bind_addrs=[(host, port)]`` is ``listen_addr``: every actor of
    the tree listens on 127.0.0.2. Its per-child ``bind_addrs=`` is refused naming the
    actor and what to give instead, before any spawn (before: an unexpected-keyword
    TypeError); so is a bind spelling a tree cannot honour, at the root."""

    async def main() -> None:
        async with devx.open_nursery(tpt_bind_addrs=[("127.0.0.2", 0)]) as an:
            svc = await an.start_actor("svc", enable_modules=["discovery_fns"])
            assert (await svc.run(discovery_fns.where))["addr"][0] == "127.0.0.2"
            async with devx.find_actor("svc") as portal:
                assert portal.chan.raddr.host == "127.0.0.2"
            told = r"bind_addrs=\[\('127\.0\.0\.3', 0\)\] for actor '%s'.*listen_addr="
            with pytest.raises(ValueError, match=told % "other"):
                await an.start_actor("other", bind_addrs=[("127.0.0.3", 0)])
            with pytest.raises(ValueError, match=told % "once"):
                await an.run_in_actor(
                    discovery_fns.where, name="once", bind_addrs=[("127.0.0.3", 0)]
                )
            async with devx.find_actor("other") as portal:
                assert portal is None
            await an.cancel()

    trio.run(main)

    async def root(binds: list[object]) -> None:
        async with devx.open_root_actor(tpt_bind_addrs=binds):
            pass

    for bad in ([("127.0.0.2", 0), ("127.0.0.3", 0)], ["/ip4/127.0.0.1/tcp/0"], [("/tmp", "s")]):
        with pytest.raises(ValueError, match="a devx tree listens on one TCP address"):
            trio.run(root, bad)


async def _none(aw: Awaitable[object]) -> bool:
    return await aw is None


def test_trees_find_each_other_through_a_standalone_registrar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`devx registrar` holds the registry; another program's actor is found, called
    and is forgotten when its whole tree is killed with SIGKILL."""
    port = _free_port()
    reg = ("127.0.0.1", port)
    monkeypatch.setenv("DEVX_TREE_SECRET", SECRET)
    with _registrar(port), _tree(reg, "--name", "other", "--start", "svc") as other:

        async def main() -> None:
            async with devx.open_nursery(registry_addrs=[reg]) as an:
                me = devx.current_actor()
                assert not me.is_registrar
                async with devx.get_registry() as portal:
                    assert portal.channel.peer_uid.name == "registrar"
                async with devx.find_actor("svc") as portal:
                    got = await portal.run(discovery_fns.where)
                assert got["path"] == "other/svc" and got["root"] != me.root_uid.uuid
                # a child of this tree finds the other tree's actor too
                client = await an.start_actor("client", enable_modules=["discovery_fns"])
                got = await client.run(discovery_fns.call_by_name, name="svc")
                assert got["path"] == "other/svc"
                # the other tree dies at once: the registrar notices the dropped channels
                os.kill(other.pid, signal.SIGKILL)
                await _until(lambda: _none(_addr_of("svc")), "the killed tree's actor to go")
                await _until(lambda: _none(_addr_of("other")), "the killed root to go")
                await an.cancel()

        trio.run(main)


def test_actors_register_again_after_the_registrar_restarts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The registrar is killed (SIGKILL) and started again on its port: the other
    tree's actors and this tree's own register again by themselves."""
    port = _free_port()
    reg = ("127.0.0.1", port)
    monkeypatch.setenv("DEVX_TREE_SECRET", SECRET)
    registrar = _registrar(port)
    first = registrar.__enter__()
    try:
        with _tree(reg, "--name", "other", "--start", "svc"):

            async def main() -> None:
                async with devx.open_root_actor(name="client", registry_addrs=[reg]):
                    async with devx.wait_for_actor("svc") as portal:
                        assert (await portal.run(discovery_fns.where))["path"] == "other/svc"
                    first.kill(signal.SIGKILL)
                    await trio.to_thread.run_sync(first.expect, pexpect.EOF)
                    with pytest.raises(OSError):
                        async with devx.find_actor("svc"):
                            pass
                    restarted = _registrar(port)  # kept: its exit ends the process
                    await trio.to_thread.run_sync(restarted.__enter__)
                    try:
                        for name in ("svc", "other", "client"):
                            await _until(lambda n=name: _found(n), f"{name} to register again")
                        async with devx.find_actor("svc") as portal:
                            assert (await portal.run(discovery_fns.where))["path"] == "other/svc"
                    finally:
                        await trio.to_thread.run_sync(restarted.__exit__, None, None, None)

            trio.run(main)
    finally:
        registrar.__exit__(None, None, None)


async def _found(name: str) -> bool:
    try:
        return await _addr_of(name) is not None
    except OSError:
        return False


def test_a_stranger_without_the_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tree with another secret can neither look up nor register; the error says
    what to set."""
    port = _free_port()
    reg = ("127.0.0.1", port)
    with (
        _registrar(port),
        _tree(reg, "--name", "intruder", "--start", "spy", secret="x" * 32) as intruder,
    ):
        # the intruder's actors say why they are not registered
        hint = "does this tree share the registrar's DEVX_TREE_SECRET"
        if hint not in intruder.before:  # said before READY, or just after
            intruder.expect(hint)
        monkeypatch.setenv("DEVX_TREE_SECRET", "another-secret-entirely-000000")

        async def stranger() -> None:
            async with devx.open_root_actor(registry_addrs=[reg]):
                with pytest.raises(devx.ChannelClosed, match="DEVX_TREE_SECRET"):
                    async with devx.find_actor("spy"):
                        pass

        trio.run(stranger)
        monkeypatch.setenv("DEVX_TREE_SECRET", SECRET)

        async def member() -> None:
            async with devx.open_root_actor(registry_addrs=[reg]):
                async with devx.get_registry() as portal:
                    table = await portal.run_from_ns("devx.runtime.registry", "list_actors")
                names = sorted(entry[0][0] for entry in table)
                assert names == ["registrar", "root"], names  # no intruder, no spy

        trio.run(member)


def test_two_roots_on_two_loopback_addresses() -> None:
    """ "Two hosts": a root on 127.0.0.2 holds the registry (and listens only there), a
    root on 127.0.0.3 registers with it; each finds and calls the other's actor."""
    port = _free_port("127.0.0.2")
    reg = ("127.0.0.2", port)
    with _tree(reg, "--name", "alpha", "--listen", f"127.0.0.2:{port}", "--start", "a1") as a:
        assert json.loads(a.match.group(1)) == {"registrar": True}
        with _tree(
            reg, "--name", "beta", "--listen", "127.0.0.3", "--start", "b1", "--call", "a1"
        ) as b:
            assert json.loads(b.match.group(1)) == {"registrar": False}
            called = json.loads(b.before.split("CALLED", 1)[1].strip().splitlines()[0])
            assert called["path"] == "alpha/a1" and called["addr"][0] == "127.0.0.2"
            # and from a third program: beta's actor listens on beta's host only
            with _tree(reg, "--name", "gamma", "--call", "b1") as c:
                called = json.loads(c.before.split("CALLED", 1)[1].strip().splitlines()[0])
                assert called["path"] == "beta/b1" and called["addr"][0] == "127.0.0.3"


@contextmanager
def _debug_host(port: int) -> Iterator[Repl]:
    """A debug-mode tree ``host`` on a PTY, its actor ``svc`` registered with the
    registrar this starts on ``port``: up (``READY``) when yielded, closed after."""
    with _registrar(port):
        host = Repl(
            SCRIPT, "--registry", f"127.0.0.1:{port}", "--name", "host", "--start", "svc",
            "--debug", DEVX_TREE_SECRET=SECRET,
        )  # fmt: skip
        try:
            host.expect("READY")
            yield host
        finally:
            host.close()


def test_a_pause_in_another_trees_actor_uses_that_trees_terminal(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A found actor of a debug-mode tree pauses in a call from this tree: its REPL
    opens on its own tree's terminal (a PTY here), says whose call it serves, and is
    driven there (n, p, c); the caller gets the result and never sees a prompt, and
    its terminal says, once, that its call stopped at that other tree's REPL (it
    seemed to hang before), as its trace does (a live mark linked to the callee)."""
    from devx.core import schema
    from devx.telemetry.readback import load_spans

    port = _free_port()
    reg = ("127.0.0.1", port)
    trace = tmp_path / "caller.jsonl"
    monkeypatch.setenv("DEVX_TREE_SECRET", SECRET)
    with _debug_host(port) as host:

        def drive() -> None:
            host.expect(banner("PAUSE", "svc", "host/svc"))
            host.expect(r"serving a call from actor caller@\w+ \(pid \d+\) of another tree")
            host.prompt()
            host.wait_reading()
            host.cmd("n")
            assert "41" in host.cmd("p x")
            host.child.sendline("c")

        async def main() -> int:
            async with devx.open_root_actor(
                name="caller", registry_addrs=[reg], telemetry=str(trace)
            ):
                async with devx.find_actor("svc") as portal:
                    async with trio.open_nursery() as n:
                        n.start_soon(trio.to_thread.run_sync, drive)
                        got: int = await portal.run(discovery_fns.pause_then_add, x=41)
            return got

        assert trio.run(main) == 42
        assert_fits(host.log.getvalue())  # the banner's line on the caller too
        out, err = capfd.readouterr()
        assert "Pdb" not in out
        # the caller's terminal says where its call stopped, once
        said = re.findall(
            r"\[devx\] caller: actor host/svc \(pid (\d+), another tree\) serving a call of "
            r"this actor's\n +stopped at a REPL on its own tree's terminal "
            r"\(pause at discovery_fns\.py:\d+ in pause_then_add\(\)\):\n"
            r" +the call goes on once that REPL is left\n",
            err,
        )
        assert said == [str(host.repl_pid)], err
        assert all(len(line) <= 100 for line in err.splitlines() if "[devx]" in line), err
        spans = load_spans(trace)
        (mark,) = [s for s in spans if s["name"] == schema.REMOTE_CALL_AT_REPL_SPAN]
        a = mark["attributes"]
        assert (a[schema.CALLEE_PATH], a[schema.CALLEE_PID]) == ("host/svc", host.repl_pid)
        assert a[schema.REASON] == schema.HOLD_PAUSE
        assert re.fullmatch(r"discovery_fns\.py:\d+ in pause_then_add\(\)", a[schema.HOLDER_WHERE])
        (start,) = [s for s in spans if s["name"] == schema.ACTOR_START_SPAN]
        assert mark["parent_span_id"] == start["span_id"]  # live: under the start span
        (link,) = mark["links"]
        assert link["trace_id"] != mark["trace_id"]  # the callee's tree's trace
        assert link["attributes"] == {schema.LINK_KIND: "callee"}
        shown = subprocess.run(
            [sys.executable, "-m", "devx", "timeline", str(trace), "--width", "0"],
            capture_output=True,
            text=True,
            timeout=scaled(20),
        )
        assert re.search(
            rf"caller +callee at REPL +host/svc \(pid {host.repl_pid}\): pause at "
            r"discovery_fns\.py:\d+ in pause_then_add\(\)",
            shown.stdout,
        ), shown.stdout + shown.stderr
        # the answer can arrive before the host's root took the release of the
        # terminal: a ctrl-c then is the REPL's (shielded), not the tree's
        from devx.debug import lock_file

        def released() -> bool:
            mine = [t for t in lock_file.trees() if t.pid == host.child.pid]
            return bool(mine) and not mine[0].state.busy

        wait_until(released, scaled(10), "the host tree's terminal released")
        host.child.sendintr()  # ctrl-c on its terminal ends the host tree
        host.finish()


def test_a_quit_at_another_trees_repl_ends_that_tree_and_fails_the_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``q`` at the REPL of a found actor of another tree, stopped in a call from
    this tree: the tree where it was typed ends as on a quit (its one line, exit 1,
    no REPL left), and the caller's call fails with an error its code can handle
    (boxed ``QuitInAnotherTree``), not a quit of the caller's tree, whose user typed
    nothing. Before: the caller's tree ended by the quit ('quit from the REPL in
    actor host/svc') and the host tree ran on, every later pause in it quitting at
    once (its lock kept the quit)."""
    port = _free_port()
    reg = ("127.0.0.1", port)
    monkeypatch.setenv("DEVX_TREE_SECRET", SECRET)
    with _debug_host(port) as host:

        def drive() -> None:
            host.expect(banner("PAUSE", "svc", "host/svc"))
            host.prompt()
            host.wait_reading()
            host.child.sendline("q")

        async def main() -> str:
            async with devx.open_root_actor(name="caller", registry_addrs=[reg]):
                async with devx.find_actor("svc") as portal:
                    async with trio.open_nursery() as n:
                        n.start_soon(trio.to_thread.run_sync, drive)
                        with pytest.raises(devx.RemoteActorError) as info:
                            await portal.run(discovery_fns.pause_then_add, x=41)
            err = info.value  # (and the caller's tree ended as usual: no quit raised)
            assert not isinstance(err, bdb.BdbQuit)
            assert err.boxed_type_name == "devx.runtime.errors.QuitInAnotherTree", err
            return str(err)

        said = trio.run(main)
        assert "the user quit the REPL in actor 'host/svc' that served this call" in said, said
        assert host.finish() == 1
        assert "devx: quit from the REPL in actor 'host/svc'" in host.log.getvalue()


def test_a_pause_granted_while_the_callers_channel_is_busy_holds_no_terminal_for_ever(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A found actor of a debug-mode tree pauses, under a deadline of the user's, in a
    call of another tree's actor while its channel to that caller is busy (a big reply
    the caller does not read yet), then goes on: the REPL opens (granted before the
    deadline), and a pause of another call there opens one too. Before: the deadline
    fired while the callee told the caller of its REPL (a wait for that busy channel,
    after the grant): the pause raised Cancelled with the tree's terminal held by a
    session nobody would release while that task lived, and every other REPL of that
    tree waited meanwhile (here for ever: the first call waits for the second)."""
    port = _free_port()
    reg = ("127.0.0.1", port)
    called, go, done = (str(tmp_path / n) for n in ("called", "go", "done"))
    monkeypatch.setenv("DEVX_TREE_SECRET", SECRET)
    with _debug_host(port) as host:
        stop = threading.Event()
        repls: list[int] = []

        def drive() -> None:  # each REPL of svc left with c, however many open
            pattern = banner("PAUSE", "svc", "host/svc")
            while not stop.is_set():
                if host.child.expect([pattern, pexpect.TIMEOUT], timeout=0.2) == 0:
                    host.repl_pid = int(host.child.match.group("pid"))
                    host.prompt()
                    host.wait_reading()
                    host.child.sendline("c")
                    repls.append(1)

        async def main() -> tuple[int, int]:
            with trio.fail_after(scaled(60)):
                async with trio.open_nursery() as n:
                    n.start_soon(trio.to_thread.run_sync, drive)
                    try:
                        return await body()
                    finally:
                        stop.set()

        async def body() -> tuple[int, int]:
            async with devx.open_root_actor(name="caller", registry_addrs=[reg]):
                async with devx.find_actor("svc") as portal:
                    # (a first REPL there: the next one's grant costs no imports)
                    assert await portal.run(discovery_fns.pause_then_add, x=0) == 1
                    got: dict[str, Any] = {}

                    async def call(key: str, fn: Any, **kw: Any) -> None:
                        got[key] = await portal.run(fn, **kw)

                    async with trio.open_nursery() as n:
                        # (granted within its deadline, which fires while the
                        # caller is told: behind the big reply, for up to 0.5 s)
                        n.start_soon(
                            partial(
                                call, "pause", discovery_fns.pause_within,
                                after=called, secs=0.3, until=done,
                            )
                        )  # fmt: skip
                        await trio.testing.wait_all_tasks_blocked()  # (its Start first)
                        n.start_soon(
                            partial(
                                call, "big", discovery_fns.big_when,
                                go=go, marker=called, n=BIG_REPLY,
                            )
                        )  # fmt: skip
                        while not os.path.exists(called):
                            await trio.sleep(0.005)
                        open(go, "w").close()
                        # this loop reads nothing while the pause is granted and its
                        # caller told, behind the big reply
                        time.sleep(scaled(2))
                        # a pause there while that call's task goes on
                        got["after"] = await portal.run(discovery_fns.pause_then_add, x=1)
                        open(done, "w").close()
            return len(got["big"]), got["after"]

        size, after = trio.run(main)
        assert (size, after) == (BIG_REPLY, 2)
        assert repls  # (pause_then_add's REPL at least)


BIG_REPLY = 32 * 1024 * 1024  # far more than a socket pair buffers


def test_a_call_into_another_tree_is_a_span_linked_to_the_callees_trace(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The caller's trace has a devx.remote_call span with a span link (and attributes)
    naming the trace and actor start span of the called tree, whose span serving the
    call links back to it, as each tree's own file records them. (The same over OTLP:
    tests/telemetry/test_tel_links.py.)"""
    from devx.core import schema
    from devx.telemetry.readback import load_spans

    with other_tree(monkeypatch, tmp_path) as (reg, mine, theirs):

        async def main() -> None:
            async with devx.open_root_actor(
                name="caller", registry_addrs=[reg], telemetry=str(mine)
            ):
                async with devx.find_actor("svc") as portal:
                    assert (await portal.run(discovery_fns.where))["path"] == "other/svc"

        trio.run(main)
    calls = [s for s in load_spans(mine) if s["name"] == schema.REMOTE_CALL_SPAN]
    assert len(calls) == 1, calls
    attrs = calls[0]["attributes"]
    assert attrs[schema.REMOTE_CALL_FUNC] == "discovery_fns.where"
    assert attrs[schema.CALLEE_UID].startswith("svc@")
    callee = load_spans(theirs, strict=False)
    linked = [s for s in callee if s["span_id"] == attrs[schema.LINK_SPAN_ID]]
    assert linked and linked[0]["trace_id"] == attrs[schema.LINK_TRACE_ID], linked
    assert attrs[schema.LINK_TRACE_ID] != calls[0]["trace_id"]  # two trees, two traces
    (link,) = calls[0]["links"]
    assert (link["trace_id"], link["span_id"]) == (linked[0]["trace_id"], linked[0]["span_id"])
    assert link["attributes"] == {schema.LINK_KIND: "callee"}
    assert linked[0]["name"] == schema.ACTOR_START_SPAN  # exported at the callee's boot
    # and back: the callee's span serving the call links to the caller's span
    (received,) = [s for s in callee if s["name"] == schema.REMOTE_CALL_RECEIVED_SPAN]
    assert received["parent_span_id"] == linked[0]["span_id"]
    (serve,) = [s for s in callee if s["name"] == schema.REMOTE_CALL_SERVE_SPAN]
    assert serve["parent_span_id"] == received["span_id"]
    (back,) = serve["links"]
    assert (back["trace_id"], back["span_id"]) == (calls[0]["trace_id"], calls[0]["span_id"])
    assert back["attributes"] == {schema.LINK_KIND: "caller"}
    # devx timeline shows the call and the span its link names
    shown = subprocess.run(
        [sys.executable, "-m", "devx", "timeline", str(mine), "--width", "0"],
        capture_output=True,
        text=True,
        timeout=scaled(20),
        stdin=subprocess.DEVNULL,
    )
    assert shown.returncode == 0, shown.stderr
    (call_line,) = [ln for ln in shown.stdout.splitlines() if " remote call " in ln]
    assert "discovery_fns.where in svc@" in call_line, shown.stdout
    linked_line = f"linked: trace {link['trace_id']} span {link['span_id']}"
    assert linked_line in shown.stdout, shown.stdout
    # and the callee tree's timeline the call it served, naming the caller's span
    served = subprocess.run(
        [sys.executable, "-m", "devx", "timeline", str(theirs), "--width", "0"],
        capture_output=True,
        text=True,
        timeout=scaled(20),
        stdin=subprocess.DEVNULL,
    )
    assert served.returncode == 0, served.stderr
    (served_line,) = [ln for ln in served.stdout.splitlines() if " call served " in ln]
    assert "discovery_fns.where for caller@" in served_line, served.stdout
    back_line = f"linked: trace {back['trace_id']} span {back['span_id']}"
    assert back_line in served.stdout, served.stdout


def test_the_secret_from_a_private_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """DEVX_TREE_SECRET_FILE: refused while others can read the file (saying how to fix
    it), then used: this tree reaches a registrar started with the same secret."""
    from devx.runtime.tree_secret import TreeSecretError

    secret_file = tmp_path / "tree-secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o644)
    monkeypatch.delenv("DEVX_TREE_SECRET", raising=False)
    monkeypatch.setenv("DEVX_TREE_SECRET_FILE", str(secret_file))
    port = _free_port()
    reg = ("127.0.0.1", port)

    async def main() -> str:
        async with devx.open_root_actor(registry_addrs=[reg]):
            async with devx.get_registry() as portal:
                assert portal.channel.peer_uid is not None
                return portal.channel.peer_uid.name

    with pytest.raises(
        TreeSecretError, match=re.escape(f"mode 0644 lets others read it; chmod 600 {secret_file}")
    ):
        trio.run(main)
    secret_file.chmod(0o600)
    with _registrar(port):
        assert trio.run(main) == "registrar"


def test_the_registrar_command_needs_the_secret_and_an_address() -> None:
    env = _env(None)
    for args, want in (
        (["--listen", "127.0.0.1:1616"], "no tree secret: set DEVX_TREE_SECRET"),
        (["--listen", "1616"], "expected HOST:PORT"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "devx", "registrar", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=scaled(20),
        )
        assert proc.returncode == 2 and want in proc.stderr, proc.stderr


def test_the_registrar_command_refuses_an_address_no_tree_can_be_given() -> None:
    """A wildcard (a traceback of open_root_actor's ValueError before) and a port past
    65535 (the resolver took 99999 as 34463: it listened there, saying so) are one line
    each, before anything listens."""
    env = _env(SECRET)
    for listen, want in (
        ("0.0.0.0:1616", "a wildcard is no address the trees can be given"),
        ("[::]:1616", "a wildcard is no address the trees can be given"),
        ("127.0.0.1:99999", "with a port of 1 to 65535"),
        ("127.0.0.1:0", "with a port of 1 to 65535"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "devx", "registrar", "--listen", listen],
            env=env,
            capture_output=True,
            text=True,
            timeout=scaled(20),
        )
        assert proc.returncode == 2, (listen, proc.stdout, proc.stderr)
        assert want in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.count("\n") == 1 and not proc.stdout, (proc.stdout, proc.stderr)


@pytest.mark.parametrize("where", ["listen_addr", "registry_addrs"])
def test_a_port_past_65535_is_refused(where: str) -> None:
    addr = ("127.0.0.1", 99999)
    kwargs = {"listen_addr": addr} if where == "listen_addr" else {"registry_addrs": [addr]}

    async def main() -> None:
        async with devx.open_root_actor(telemetry="off", **kwargs):
            pass

    with pytest.raises(ValueError, match=r"99999\): the port must be 0 to 65535"):
        trio.run(main)


def test_a_tree_starts_while_its_registrar_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing listens at the registry address (and the root was told where to listen,
    so it does not take the address over): the tree starts its actors all the same,
    each says once that it cannot reach the registrar, and they register as soon as
    a registrar comes up there."""
    port = _free_port()
    reg = ("127.0.0.1", port)
    monkeypatch.setenv("DEVX_TREE_SECRET", SECRET)
    with _tree(reg, "--name", "early", "--listen", "127.0.0.1", "--start", "svc") as early:
        assert json.loads(early.match.group(1)) == {"registrar": False}
        assert "cannot reach the registrar" in early.before
        with _registrar(port):

            async def main() -> None:
                async with devx.open_root_actor(name="late", registry_addrs=[reg]):
                    async with devx.wait_for_actor("svc") as portal:
                        assert (await portal.run(discovery_fns.where))["path"] == "early/svc"

            trio.run(main)


def test_a_wildcard_listen_address_is_refused() -> None:
    """Actors advertise their listen address: 0.0.0.0 would send other trees to their
    own host, so it is refused, saying what to give instead."""

    async def main() -> None:
        async with devx.open_root_actor(listen_addr=("0.0.0.0", 0)):
            pass

    with pytest.raises(ValueError, match="a wildcard cannot be reached by other trees"):
        trio.run(main)


def test_find_actor_waits_for_an_actor_whose_loop_is_blocked(tmp_path: Path) -> None:
    """An actor at a REPL (its loop blocked) is registered and up, but does not
    answer a new connection's hello: find_actor gave up after the hello timeout
    and said ``None``, "no such actor", to a user looking at its prompt (another
    tree's probe, or the tree's own supervisor). It waits for the hello as a call
    to that actor would wait, says once why, and yields the portal."""
    script = Path(__file__).resolve().parent / "scripts" / "find_blocked.py"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "DEVX_LOG_FORMAT": "console"},
    )
    try:
        assert proc.stderr is not None
        said, seen = "", []
        for line in proc.stderr:  # until the lookup says it waits, or the tree ends
            seen.append(line)
            if "has not answered" in line:
                said = line
                break
        (tmp_path / "go").touch()
        out, err = proc.communicate(timeout=scaled(30))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "found: root/svc" in out, (out, "".join(seen) + err)
    assert "actor 'root/svc'" in said and "its loop is blocked" in said, said
    # what else it may be (a lookup cannot tell a stranger listening at a registered
    # address from a blocked actor: both take the connection, neither answers)
    assert "or another program listens at the address it registered" in said, said


def test_a_found_actor_that_dies_is_named_once_with_its_pid():
    """A call to an actor found by name (a connection through its listener, as to
    another tree's actor) whose process dies: the ChannelClosed names it once, with
    its pid. It said ``actor svc@... (pid None) at HOST:PORT went away: actor svc@...
    (pid None) at HOST:PORT disconnected``: the accepting side never told its pid."""
    script = Path(__file__).parent / "scripts" / "found_actor_killed.py"
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=scaled(60)
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("ERROR ")), None)
    assert line is not None, (proc.stdout, proc.stderr)
    _, pid, text = line.split(" ", 2)
    assert text.count("svc@") == 1 and f"(pid {pid})" in text, text
    assert "None" not in text and text.endswith("went away: disconnected"), text
