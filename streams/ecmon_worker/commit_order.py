"""Two hooks into Faust 0.15.3 that deferred emission (streams/ecmon_worker/emission.py) needs to stay exact.

How Faust commits (faust/transport/consumer.py): every ``broker_commit_interval`` (and when it stops),
``Consumer._commit_tps`` takes, per partition, the offset below the first event not yet acknowledged, then
``_handle_attached(offsets)`` sends the messages attached to those offsets, then ``_commit_offsets``
awaits ``producer.flush()`` (every message handed to the producer so far, changelog records included, is
on the broker) and only then commits. An event is acknowledged once its agent has gone past it. So
without deferral, everything an event sent before it was acknowledged is on the broker before its offset
is committed, and a SIGKILL loses no output of a committed event.

Deferred sends break that: an acknowledged event's totals and changelog records may still wait in the
worker's memory. ``before_commit`` hooks run at the start of ``_handle_attached``: the offsets are
already chosen, so every event they cover has been applied to the in-memory state, and the hooks hand
all that is pending to the producer (synchronously, with no await: nothing else runs in between), which
the flush that follows puts on the broker before the commit. An offset is therefore never committed
before what its events caused has been produced.

``after_recovery`` hooks run when table recovery has completed (a start, a rebalance): the worker
re-emits what it holds, so a send lost with a crashed worker is sent again even when its input's offset
was committed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import faust
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer

_MARK = "__ecmon_commit_order__"
_BEFORE = "_ecmon_before_commit"
_AFTER = "_ecmon_after_recovery"
_READ = "_ecmon_tables_read"


def before_commit(app: faust.App, hook: Callable[[], None]) -> None:
    """Run ``hook`` (synchronous) before any offset of ``app``'s consumer is committed."""
    _hooks(app, _BEFORE).append(hook)


def after_recovery(app: faust.App, hook: Callable[[], None]) -> None:
    """Run ``hook`` (synchronous) each time ``app``'s tables have been recovered."""
    _hooks(app, _AFTER).append(hook)


def tables_read(app: faust.App, hook: Callable[[], None]) -> None:
    """Run ``hook`` (synchronous) once the changelogs are read, before Faust seeks the stream partitions to
    their committed offsets and turns the flow back on: the first event delivered after it sees the hook's
    effect, and anything delivered before it is delivered again by that seek."""
    _hooks(app, _READ).append(hook)


def _hooks(app: faust.App, name: str) -> list[Callable[[], None]]:
    install()
    hooks: list[Callable[[], None]] | None = getattr(app, name, None)
    if hooks is None:
        hooks = []
        setattr(app, name, hooks)
    return hooks


def _run(app: Any, name: str) -> None:
    for hook in getattr(app, name, ()):
        hook()


def _hand_over_first(handle_attached: Any) -> Any:
    @functools.wraps(handle_attached)
    async def wrapper(self: Consumer, commit_offsets: Mapping[Any, int]) -> None:
        _run(self.app, _BEFORE)
        await handle_attached(self, commit_offsets)

    setattr(wrapper, _MARK, True)
    return wrapper


def _reemit_after(on_recovery_completed: Any) -> Any:
    @functools.wraps(on_recovery_completed)
    async def wrapper(self: Recovery, *args: Any, **kwargs: Any) -> None:
        _run(self.app, _READ)
        await on_recovery_completed(self, *args, **kwargs)
        _run(self.app, _AFTER)

    setattr(wrapper, _MARK, True)
    return wrapper


def install() -> None:
    """Install both hooks; calling it again changes nothing."""
    if not getattr(Consumer._handle_attached, _MARK, False):
        Consumer._handle_attached = _hand_over_first(Consumer._handle_attached)  # type: ignore[method-assign]
    if not getattr(Recovery.on_recovery_completed, _MARK, False):
        Recovery.on_recovery_completed = _reemit_after(  # type: ignore[method-assign]
            Recovery.on_recovery_completed)
