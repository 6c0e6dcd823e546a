"""``switch PATH|N`` in a REPL (examples/debugging/queue_three.py on a real PTY):
three children stopped at once; the holder switches to the last waiter, which gets
the terminal now with its banner; when it continues the terminal comes back to the
first, at the same line with its locals intact; the one in between keeps its turn.
The telemetry says the first hold ended as ``switched``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from _pty import EXAMPLES, assert_fits, banner, repl_fixture, stops_at_banner_line
from _queue_three import ANY_BANNER, AT, last_in_line_ends_the_run, three_stopped, waiters_listed
from conftest import scaled, wait_until
from devx.core import schema

pytestmark = pytest.mark.timeout(120)

repl = repl_fixture(EXAMPLES / "debugging")


def value(r, name: str) -> str:
    """What ``p name`` printed: its last line that is not a terminal control sequence
    (pdbp and readline may move the cursor around a prompt that ctrl-c interrupted)."""
    out = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", r.cmd(f"p {name}"))
    return [line.strip() for line in out.splitlines() if line.strip()][-1]


def test_switch_to_the_third_and_back(repl, tmp_path):
    from devx.telemetry.readback import load_logs

    trace = tmp_path / "t.jsonl"
    r = repl("queue_three.py", DEVX_TELEMETRY_FILE=str(trace))
    first, queue = three_stopped(r)
    mine = value(r, "doubled")
    assert mine == str(int(first[1]) * 2)
    assert "usage: switch N|PATH" in r.cmd("switch")
    assert "no waiter 5: 2 waiting" in r.cmd("switch 5")
    assert "no REPL of 'nobody' waits" in r.cmd("switch nobody")

    r.child.sendline("switch 2")  # the third in line, by its number in `waiters`
    r.expect_exact(f"[devx] the terminal goes to root/{queue[1]}: pause at queue_three.py")
    assert r.expect(ANY_BANNER).group("name") == queue[1]
    r.prompt()
    assert value(r, "doubled") == str(int(queue[1][1]) * 2)
    out = r.cmd("waiters")  # the switcher is next, then the one that was second
    assert re.search(rf"holder: root/{queue[1]}: {AT}", out), out
    assert waiters_listed(out) == [first, queue[0]], out
    assert "-> doubled += 1" in r.cmd("n")  # a step in the switched-to REPL
    r.child.sendline("c")

    # back to the first: its banner again, the same line, its locals intact
    m = r.expect(ANY_BANNER)
    assert m.group("name") == first
    r.expect_exact(f"(back from the switch to root/{queue[1]})")
    assert "-> await devx.pause()" in r.prompt()
    assert value(r, "doubled") == mine
    assert value(r, "k") == first[1]
    assert "-> doubled += 1" in r.cmd("n")
    assert value(r, "doubled") == mine  # not yet incremented: stopped before the line

    # the one that was second all along gets its turn
    last_in_line_ends_the_run(r, queue[0])
    r.expect_exact("terminal: echo=True icanon=True")
    assert r.finish() == 0
    assert_fits(r.log.getvalue())  # the switch's line too

    released = [
        rec["attributes"]
        for rec in load_logs(trace)
        if rec.get("event_name") == schema.LOCK_RELEASED
    ]
    switched = [a for a in released if a.get(schema.RELEASE_HOW) == "switched"]
    assert len(switched) == 1, released
    assert switched[0][schema.HOLDER_PATH] == f"root/{first}"
    assert switched[0][schema.SWITCHED_TO] == f"root/{queue[1]}"
    assert [a[schema.HOLDER_PATH] for a in released] == [
        f"root/{first}",
        f"root/{queue[1]}",
        f"root/{first}",
        f"root/{queue[0]}",
    ]


def test_ctrl_c_during_a_switch(repl):
    r = repl("queue_three.py")
    first, queue = three_stopped(r)
    r.child.sendline(f"switch root/{queue[0]}")  # by tree path
    assert r.expect(ANY_BANNER).group("name") == queue[0]
    r.prompt()
    r.wait_reading()
    r.child.sendintr()  # ctrl-c while the switched-out REPL waits for its turn back
    r.expect_exact(f"ctrl-c shielded: root/{queue[0]} is in the REPL")
    r.prompt()
    assert value(r, "doubled") == str(int(queue[0][1]) * 2)
    r.child.sendline("c")
    assert r.expect(ANY_BANNER).group("name") == first
    r.expect_exact(f"(back from the switch to root/{queue[0]})")
    r.prompt()
    assert value(r, "doubled") == str(int(first[1]) * 2)
    last_in_line_ends_the_run(r, queue[1])
    r.expect_exact("terminal: echo=True icanon=True")
    assert r.finish() == 0


def test_what_is_typed_after_a_switch_shows_once(repl):
    """The switcher's saved terminal settings go back before the REPL switched to
    starts, not after (they undid its readline's, and every command typed there
    showed twice, in about half the switches). Back and forth four times, a
    command each time."""
    r = repl("queue_three.py")
    three_stopped(r)
    for _ in range(4):
        r.child.sendline("switch 1")  # the next in line; the switcher queues behind it
        r.expect(ANY_BANNER)
        r.prompt()
        r.wait_reading()
        out = r.cmd("p doubled")
        assert out.count("p doubled") == 1, out
    for _ in range(2):
        r.child.sendline("c")
        r.expect(ANY_BANNER)
        r.prompt()
    r.child.sendline("c")
    r.expect_exact("results [1, 3, 5]")
    r.expect_exact("terminal: echo=True icanon=True")
    assert r.finish() == 0


def test_a_switcher_that_stepped_is_queued_where_it_stands(repl):
    """`n`, then `switch`: the queue (the banner switched to, `waiters`, `devx ps`)
    shows the switcher at the line it stands on, as it shows a holder, not at the
    line it first paused on (its request carried the first stop's place)."""
    r = repl("queue_three.py")
    first, queue = three_stopped(r)
    assert "-> doubled += 1" in r.cmd("n")
    r.child.sendline(f"switch root/{queue[0]}")
    assert r.expect(ANY_BANNER).group("name") == queue[0]
    banner_text = r.prompt()
    moved = f"root/{first}: pause at queue_three.py:20 in pause_here()"
    assert moved in banner_text, banner_text
    out = r.cmd("waiters")
    assert moved in out, out
    r.child.sendline("c")
    assert r.expect(ANY_BANNER).group("name") == first
    r.expect(r"queue_three\.py:20 in pause_here\(\) \(back from the switch")
    assert "-> doubled += 1" in r.prompt()
    last_in_line_ends_the_run(r, queue[1])
    assert r.finish() == 0


def test_an_empty_line_after_coming_back_does_not_switch_again(repl):
    """pdb runs the last command again on an empty line (`n`, `s` ...). Back from a
    switch, the switcher's last command is that `switch 1`: an Enter pressed for a
    fresh prompt (say, after a line of the program landed on the prompt's) gave the
    terminal away again, to whoever was now first in line. An empty line after
    `switch` does nothing, as after any command pdb does not repeat."""
    r = repl("queue_three.py")
    first, queue = three_stopped(r)
    r.child.sendline("switch 1")
    assert r.expect(ANY_BANNER).group("name") == queue[0]
    r.prompt()
    r.child.sendline("c")
    assert r.expect(ANY_BANNER).group("name") == first
    r.expect_exact(f"(back from the switch to root/{queue[0]})")
    r.prompt()
    out = r.cmd("")  # an empty line: a fresh prompt, nothing else
    assert "the terminal goes to" not in out, out
    assert "switch" not in out, out
    assert value(r, "k") == first[1]  # still the first's REPL
    last_in_line_ends_the_run(r, queue[1])
    assert r.finish() == 0


def test_on_an_80_column_terminal_devx_lines_fit_it_word_by_word(repl):
    """trial6's O2: at 80 columns the banner (88: its location), the waiters' header
    (87), the stepping hint (91) and the switch's two lines (fitted to 100) wrapped
    mid-word. They fit the PTY's own width now (tests/_pty.py pops COLUMNS), broken
    at spaces, every word kept; the location on a line of its own."""
    r = repl("queue_three.py", dimensions=(24, 80))
    first, queue = three_stopped(r)
    r.child.sendline("switch 1")
    r.expect_exact("[devx] the terminal goes to")
    assert r.expect(ANY_BANNER).group("name") == queue[0]
    out = r.prompt()
    stops_at_banner_line(out, "await devx.pause()")
    assert "\n    at queue_three.py:19 in pause_here()" in out.replace("\r", ""), out
    r.child.sendline("c")
    assert r.expect(ANY_BANNER).group("name") == first
    r.prompt()
    last_in_line_ends_the_run(r, queue[1])
    assert r.finish() == 0
    text = r.log.getvalue()
    assert_fits(text, 80)
    words = " ".join(text.split())  # each line's content is all there, only broken
    for said in (
        "(stepping stays in your code: `s` steps over calls into devx, remote calls included)",
        "more waiting for the terminal, served in this order (`waiters` for the live queue):",
        f"[devx] the terminal goes to root/{queue[0]}: pause at queue_three.py:19 in "
        f"pause_here(); root/{first} stays stopped here and has it back when that REPL is done",
    ):
        assert said in words, said


def test_a_quit_after_a_switch_names_the_repl_it_was_typed_in(repl, tmp_path):
    """`q` in the REPL switched to ends the tree, the REPL that switched included (it
    is told so): the quit is that REPL's, and the tree's last line and its telemetry
    name where it was typed. The switcher ended its own REPL with a plain `q` of its
    own, so the quit line named it when its quit reached the root first."""
    from devx.telemetry.readback import load_logs

    trace = tmp_path / "t.jsonl"
    r = repl("queue_three.py", DEVX_TELEMETRY_FILE=str(trace))
    _, queue = three_stopped(r)
    r.child.sendline(f"switch root/{queue[1]}")
    assert r.expect(ANY_BANNER).group("name") == queue[1]
    r.prompt()
    r.child.sendline("q")
    r.expect(r"devx: quit from the REPL in actor '([^']*)'")
    assert r.child.match.group(1) == f"root/{queue[1]}", r.log.getvalue()
    assert r.finish() == 1
    said = [
        str(rec["attributes"].get("exception.message", ""))
        for rec in load_logs(trace)
        if rec.get("event_name") == schema.REMOTE_ERROR
    ]
    quits = {m for line in said for m in re.findall(r"quit from the REPL in actor '([^']*)'", line)}
    assert quits == {f"root/{queue[1]}"}, said


# a child of root_repl_children_queue.py pausing (its name in the group "name")
_QUEUED_CHILD = banner("PAUSE", r"(?P<name>c\d)", "root/c0").replace("root/c0", r"root/c\d")


def _root_paused_with_two_children_waiting(repl, tmp_path, *args: str):
    """root_repl_children_queue.py on a PTY: the root's REPL on screen, then its two
    children paused meanwhile (both lock requests on record), their requests unread
    while that REPL blocks the root's loop."""
    from _pty import lock_requests

    trace = tmp_path / "t.jsonl"
    go = tmp_path / "go"
    script = Path(__file__).parent / "scripts" / "root_repl_children_queue.py"
    r = repl(str(script), str(go), *args, DEVX_TELEMETRY_FILE=str(trace))
    r.expect(r">>> devx PAUSE in actor 'root'")
    r.prompt()
    go.touch()
    wait_until(
        lambda: {"root/c0", "root/c1"} <= {a["devx.actor.path"] for a in lock_requests(trace)},
        scaled(20),
        "both children's lock requests",
    )
    return r


def test_the_roots_own_repl_sees_and_switches_to_what_children_asked_meanwhile(repl, tmp_path):
    """The root's REPL blocks the root's loop: two children that pause meanwhile wait
    with their requests unread in its sockets. `waiters` there said "nobody waits for
    the terminal" (so did `devx ps`), and `switch 1` "nobody waits", while both were
    stopped. Both let the loop read them first (as a release from the root's REPL
    does before its next grant)."""
    r = _root_paused_with_two_children_waiting(repl, tmp_path)
    out = r.cmd("waiters")
    listed = re.findall(r"\d\. root/(c\d): pause at root_repl_children_queue\.py:\d+", out)
    assert sorted(listed) == ["c0", "c1"], out
    r.child.sendline("switch 1")
    first = r.expect(_QUEUED_CHILD).group("name")
    r.prompt()
    r.child.sendline("c")
    r.expect(r">>> devx PAUSE in actor 'root'")
    r.expect_exact(f"(back from the switch to root/{first})")
    r.prompt()
    assert value(r, "rootvar") == "42"
    r.child.sendline("c")
    assert r.expect(_QUEUED_CHILD).group("name") != first
    r.prompt()
    r.child.sendline("c")
    r.expect_exact("results 42 [0, 1]")
    assert r.finish() == 0


def test_the_roots_waiters_and_switch_in_a_cancelled_scope_keep_its_repl(repl, tmp_path):
    """The root's pause in a cancelled scope (a deadline around the code being debugged
    passed while the user read the REPL; ``shield=True`` opened it): `waiters` lets the
    root's loop read the children's requests, and `switch` waits on that loop for the
    terminal to come back; neither wait may take the scope's cancel. Both did: the
    Cancelled went out of the command through pdb, whose trace stopped in the stdlib
    ('--Call--' in <frozen abc> __subclasscheck__, `p rootvar` a NameError): `waiters` at
    once, `switch` when the terminal came back."""
    r = _root_paused_with_two_children_waiting(repl, tmp_path, "--cancelled")
    out = r.cmd("waiters")
    assert "--Call--" not in out, out
    listed = re.findall(r"\d\. root/(c\d): pause at root_repl_children_queue\.py:\d+", out)
    assert sorted(listed) == ["c0", "c1"], out
    assert value(r, "rootvar") == "42"
    r.child.sendline("switch 1")
    first = r.expect(_QUEUED_CHILD).group("name")
    r.prompt()
    r.child.sendline("c")
    r.expect(r">>> devx PAUSE in actor 'root'")
    r.expect_exact(f"(back from the switch to root/{first})")
    out = r.prompt()
    assert "--Call--" not in out, out
    assert value(r, "rootvar") == "42"
    r.child.sendline("c")
    assert r.expect(_QUEUED_CHILD).group("name") != first
    r.prompt()
    r.child.sendline("c")
    r.expect_exact("results 42 [0, 1]")
    assert r.finish() == 0
