"""Names two modules must agree on: telemetry span, event and attribute names of the
TTY lock and the REPL. Writers (the debug layer) and readers (``devx timeline``,
tests) import them from here; a literal spelled twice is a bug waiting to happen.
Stdlib only: imported on the boot path."""

from __future__ import annotations

from typing import Any, Final

# the semantic-conventions version these names follow (code.*, exception.*, service.*)
SCHEMA_URL = "https://opentelemetry.io/schemas/1.30.0"

# --- spans -------------------------------------------------------------------------
# holder side: request -> grant. Ended at the grant, so a receiver sees who holds the
# terminal while the REPL is still open (the hold span only exports at its end)
LOCK_WAIT_SPAN = "devx.tty_lock.wait"
LOCK_HELD_SPAN = "devx.tty_lock.held"  # holder side: grant -> release
REPL_SPAN = "devx.repl"  # holder side, child of the hold span: prompt shown -> REPL left

# --- point events --------------------------------------------------------------------
LOCK_REQUESTED = "devx.tty_lock.requested"  # requester side, before waiting
LOCK_GRANTED = "devx.tty_lock.granted"  # root side
LOCK_RELEASED = "devx.tty_lock.released"  # root side
REPL_REENTERED = "devx.repl.reentered"  # the holding task paused again: same hold

LOCK_EVENTS = (LOCK_REQUESTED, LOCK_GRANTED, LOCK_RELEASED)

# --- attributes ------------------------------------------------------------------------
HOLD_ID = "devx.tty_lock.hold_id"  # minted by the root in each grant
REQUEST_ID = "devx.tty_lock.request_id"  # minted by the requester
# time.monotonic() of the request (one clock for every process of the machine): the
# root grants in this order
REQUESTED_AT = "devx.tty_lock.requested_at_monotonic"
REASON = "devx.tty_lock.reason"  # why the hold was asked: a HOLD_* value below, or a caller's
# the reasons devx itself asks a hold for (the lock request, the REPL span, the banner)
HOLD_PAUSE = "pause"  # await pause() / breakpoint() in async code
HOLD_CRASH = "crash"  # a post-mortem (a crash, post_mortem(), a crash reached by stepping)
HOLD_SYNC_PAUSE = "sync_pause"  # pause_from_sync() / breakpoint() in sync code
RELEASE_HOW = "devx.tty_lock.release"  # see debug.lock_protocol.ReleaseHow
# the RELEASE_HOW of a hold whose owning task or thread ended with it live (the
# backstop of devx.debug.holdguard freed it): a ReleaseHow, spelled once here
RELEASED_OWNER_ENDED: Final = "owner_ended"
WAIT_S = "devx.tty_lock.wait_s"
HELD_S = "devx.tty_lock.held_s"
QUEUED = "devx.tty_lock.queued"  # requests waiting behind this hold at its grant
HOLDER_PATH = "devx.tty_lock.holder.path"
HOLDER_UID = "devx.tty_lock.holder.uid"
HOLDER_PID = "devx.tty_lock.holder.pid"
HOLDER_WHERE = "devx.tty_lock.holder.where"  # the user's code that stopped: file:line in fn()
SWITCHED_TO = "devx.tty_lock.switched_to"  # a hold ended by `switch`: who got the terminal
ATTACH_CLIENT_PID = "devx.attach.client.pid"  # `devx attach`: who attached to the hold
ATTACH_CLIENT_TTY = "devx.attach.client.tty"
ATTACH_WAIT_S = "devx.attach.wait_s"  # from the REPL's start to the attach
WAITERS = "devx.tty_lock.waiters"  # tree paths of the requests queued at a grant, in order
# the REPL span's end, when steps moved it: where it was left ("file.py:12 in fn()") and
# how many stop lines it stood at (its first included); not an event per step
REPL_LEFT_AT = "devx.repl.left_at"
REPL_STOPS = "devx.repl.stops"

# --- OpenTelemetry semantic conventions (code.*), current names ----------------------
CODE_FILE_PATH = "code.file.path"
CODE_LINE_NUMBER = "code.line.number"
CODE_FUNCTION_NAME = "code.function.name"

# --- crashes ---------------------------------------------------------------------------
CALL = "devx.call"  # "module.function" of the RPC call that raised
# JSON map: the innermost user frame's local name -> bounded repr, secrets "[redacted]"
CRASH_LOCALS = "devx.crash.locals"

# --- actor lifetimes (recorded by the parent) -------------------------------------------
ACTOR_SPAWN = "devx.actor.spawn"
ACTOR_EXIT = "devx.actor.exit"
ACTOR_CANCEL_REQUESTED = "devx.actor.cancel_requested"
CANCEL_REASON = "devx.actor.cancel_reason"
CANCELLED_BY_SIGTERM = "SIGTERM"  # the cancel reason of an actor a SIGTERM ended (root or child)
CHILD_PATH = "devx.child.path"
CHILD_PID = "devx.child.pid"
CHILD_EXIT_CODE = "devx.child.exit_code"
CHILD_SIGNAL = "devx.child.signal"  # "SIGKILL", or "" for a plain exit
CHILD_CANCEL_REQUESTED = "devx.child.cancel_requested"

# --- lineage: on the Resource, every span and every log line ------------------------------
ACTOR_NAME = "devx.actor.name"
ACTOR_UID = "devx.actor.uid"  # str(ActorID): name@uuid8
ACTOR_PARENT_UID = "devx.actor.parent_uid"  # absent on the root
ACTOR_ROOT_UID = "devx.actor.root_uid"
ACTOR_PATH = "devx.actor.path"
PROCESS_PID = "process.pid"
PROCESS_PARENT_PID = "process.parent_pid"


def lineage_attrs(lineage: Any) -> dict[str, str | int]:
    """The lineage attributes of ``lineage`` (a ``devx.runtime.msgs.Lineage``): the one
    builder for the Resource, spans, log lines and banners. Uids are ``str(ActorID)``
    (``name@uuid8``); the full uuid is the Resource's ``service.instance.id``. The root
    has no parent: its ``parent_uid`` is absent, never an empty string."""
    attrs: dict[str, str | int] = {
        ACTOR_NAME: lineage.uid.name,
        ACTOR_UID: str(lineage.uid),
        ACTOR_ROOT_UID: str(lineage.root_uid),
        ACTOR_PATH: lineage.path,
        PROCESS_PID: lineage.pid,
        PROCESS_PARENT_PID: lineage.parent_pid,
    }
    if lineage.parent_uid is not None:
        attrs[ACTOR_PARENT_UID] = str(lineage.parent_uid)
    return attrs


# --- the tree, actors and their errors ---------------------------------------------------
TREE_SPAN = "devx.tree"  # the root's, one per tree, start to end (exported at the end)
ACTOR_SPAN = "devx.actor"  # one per actor process, child of its parent's span
# A span exports when it ends, so the lifetimes above reach a receiver only at exit.
# What a trace view needs while the tree runs hangs off spans ended (and exported) at
# once instead: the tree's start (the trace's root: no parent, or the actor that
# started the tree), each actor's start under its parent's start, and under an
# actor's start its live records (a turn at the terminal, a stack dump). A live trace
# is then rooted and nested, and an actor killed before its exit is still a service.
TREE_START_SPAN = "devx.tree.start"
ACTOR_START_SPAN = "devx.actor.start"
# spawn-carrier key beside traceparent: the span id (16 hex) of the parent's start span
ANCHOR_CARRIER_KEY = "devx-anchor"
DUMP_TEXT_LIMIT = 32 * 1024  # characters of a dump's text kept on its span
# a stack dump's attributes (its span and its log record; plain names, as Loki's
# fields and `devx timeline` have read them from the start)
DUMP_SIGNAL = "signal"
DUMP_TASK_COUNT = "task_count"  # -1: thread stacks only (a blocked loop)
DUMP_LOG_PATH = "log_path"
DUMP_TEXT = "dump"
DUMP_TRUNCATED = "devx.dump.truncated"  # the span's text was cut at DUMP_TEXT_LIMIT
TREE_ROOT = "devx.tree.root"
TREE_OUTCOME = "devx.tree.outcome"
ACTOR_OUTCOME = "devx.actor.outcome"  # ok | error | cancelled | crashed | quit | hard_exit
# An actor's process ended at once from its lifeline thread (runtime.lifeline.exit_now:
# its loop blocked at a SIGTERM or after its parent died, a second SIGTERM): its
# outcome is "hard_exit"; every span still open then (its actor span, a call's, a
# REPL's...) is ended with an ERROR status "hard exit: <why>" and HARD_EXIT_REASON;
# its actor span gets the HARD_EXIT event (a log record too) with the reason and code
OUTCOME_HARD_EXIT = "hard_exit"
HARD_EXIT = "devx.hard_exit"
HARD_EXIT_REASON = "devx.hard_exit.reason"
HARD_EXIT_CODE = "devx.hard_exit.exit_code"
CRASH = "devx.crash"  # log record: an exception raised by this actor's code
REMOTE_ERROR = "devx.remote_error"  # log record: a boxed error arriving from another actor
CANCELLED = "devx.cancelled"  # log record: a cancellation (not an error)
STACK_DUMP = "devx.stack_dump"
REMOTE_TYPE = "devx.remote.type"
REMOTE_MESSAGE = "devx.remote.message"
REMOTE_SRC_PATH = "devx.remote.src_path"
REMOTE_SRC_UID = "devx.remote.src_uid"
REMOTE_SRC_PID = "devx.remote.src_pid"
REMOTE_RELAY_PATH = "devx.remote.relay_path"

# --- contexts (devx.runtime.context) -----------------------------------------------------
CONTEXT_SPAN = "devx.context"  # one per context on each side, caller and callee
CONTEXT_STARTED = "devx.context.started"  # event: the callee said started()
CONTEXT_STREAM_OPENED = "devx.context.stream_opened"  # event: this side opened its stream
CONTEXT_RESULT = "devx.context.result"  # event: the callee returned
CONTEXT_CANCEL = "devx.context.cancel"  # event: ctx.cancel() on this side
CONTEXT_FUNC = "devx.context.func"  # "module.qualname"
CONTEXT_SIDE = "devx.context.side"  # caller | callee
CONTEXT_CID = "devx.context.cid"  # the caller's call id: caller and callee spans share it
CONTEXT_PEER_UID = "devx.context.peer_uid"
CONTEXT_CANCELLER = "devx.context.canceller"  # uid of the actor that asked for the cancel

# --- discovery (devx.runtime.discovery) ---------------------------------------------------
# a call into an actor of another tree (found through the registry), linked in both
# trees' traces: a span in the caller's trace linking to the callee actor's start span
# (exported at its boot, so the target is there while the call runs), and a span in
# the callee's trace, under that start span, serving the call and linking back to the
# caller's span (whose traceparent the call message carries: Start.trace)
REMOTE_CALL_SPAN = "devx.remote_call"
REMOTE_CALL_SERVE_SPAN = "devx.remote_call.serve"  # the callee's, ended with the call
# its parent, under the start span and linked back too, ended (exported) on receipt:
# the call and its caller are in a live view of the callee's trace while it runs
REMOTE_CALL_RECEIVED_SPAN = "devx.remote_call.received"
REMOTE_CALL_FUNC = "devx.remote_call.func"  # "module.qualname" (on both spans)
# in the caller's trace, under its actor's start span, ended at once (a live view shows
# it): the callee stopped at a REPL on its own tree's terminal while serving a call of
# this actor's (msgs.CalleeAtRepl), with REASON and HOLDER_WHERE of that stop, linked
# to the callee actor's start span
REMOTE_CALL_AT_REPL_SPAN = "devx.remote_call.callee_at_repl"
CALLEE_PATH = "devx.callee.path"
CALLEE_PID = "devx.callee.pid"
CALLEE_UID = "devx.callee.uid"
CALLEE_ROOT = "devx.callee.root_uid"
CALLER_UID = "devx.caller.uid"  # on the serve span
CALLER_ROOT = "devx.caller.root_uid"
LINK_TRACE_ID = "devx.link.trace_id"  # the other tree's trace (what the link names)
LINK_SPAN_ID = "devx.link.span_id"
# on the span link itself: "callee" (the called actor's start span, from the caller's
# devx.remote_call) or "caller" (the caller's devx.remote_call, from the serve span)
LINK_KIND = "devx.link.kind"
