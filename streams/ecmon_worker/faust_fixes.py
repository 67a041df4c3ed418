"""Fixes for defects in the Faust release the worker runs (faust-streaming 0.15.3), applied at start.

Stream records lost when recovery resumes the stream partitions (docs/streams.md, "Recovered worker
stalled on one partition"). At the end of table recovery, `Recovery.on_recovery_completed` in 0.15.3

1. resumes the stream partitions (`consumer.resume_partitions`),
2. awaits `consumer.perform_seek()` (seek every partition to its committed offset), and only then
3. calls `app.flow_control.resume()`, which clears every agent's input queue, and `consumer.resume_flow()`.

Consumer flow is already on at step 1: recovery turned it on to read the changelogs. So while step 2
waits for the broker, the fetcher hands the backlog that aiokafka prefetched for the stream partitions
to the agents. Step 3 then throws those records away, but the consumer position has already moved past
them, so they are never fetched again and never acknowledged. Faust commits only up to the first
unacknowledged offset: the partition's committed offset stays there for good while the agent waits on
an empty queue. Upstream faust-streaming seeks first and resumes the partitions and the flow after it,
with no await in between; 0.15.3 moved step 1 in front of the seek.

The fix stops the consumer flow before `on_recovery_completed` runs. No record is delivered until the
method itself turns the flow back on, after the seek and after the queues are cleared. If the method
returns early because another rebalance started, that rebalance's recovery turns the flow on again.

Stream records lost on a partition the group never committed (docs/streams.md, "A partition never
committed lost its backlog"). Faust throws away records fetched while the flow is off and relies on a
seek back to the committed offsets to fetch them again (`Consumer.getmany`, `perform_seek`). aiokafka's
`seek_to_committed` moves only partitions with a committed offset: a partition whose first records
arrived while no worker ran (a new enterprise's partition) keeps the position past the records thrown
away, and they are never processed. The fix seeks such a stream partition to its beginning, which is
where `auto_offset_reset="earliest"` would have started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from typing import Any, NoReturn

import faust
from aiokafka.errors import IllegalStateError, KafkaError
from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

_MARK = "__ecmon_stops_flow_before_seek__"
_SEEK_MARK = "__ecmon_seeks_uncommitted_to_beginning__"
log = logging.getLogger(__name__)
FIRST_OFFSETS_S = 60.0  # within recovery's own bound on the seek (broker_request_timeout, 90 s)


def _stop_flow_until_repositioned(on_recovery_completed: Any) -> Any:
    @functools.wraps(on_recovery_completed)
    async def wrapper(self: Recovery, *args: Any, **kwargs: Any) -> None:
        self.app.consumer.stop_flow()
        await on_recovery_completed(self, *args, **kwargs)

    setattr(wrapper, _MARK, True)
    return wrapper


def _seek_uncommitted_to_beginning(seek_to_committed: Any) -> Any:
    @functools.wraps(seek_to_committed)
    async def wrapper(self: AIOKafkaConsumerThread) -> Any:
        consumer = self._ensure_consumer()
        streams = self.app.topics

        async def seek() -> Any:
            committed = await consumer.seek_to_committed()
            # Only the topics whose offsets the worker commits: not the changelogs (read by recovery from
            # its own offsets) nor Faust's assignor topic.
            never = [tp for tp, offset in committed.items() if not offset and streams.acks_enabled_for(tp.topic)]
            if never:
                log.info("no committed offset yet on %s: reading from the beginning",
                         ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(never)))
                # To the first offset itself, not `seek_to_beginning`: that leaves the position unset until the
                # fetcher resolves it, and Faust's livelock check then fails on aiokafka's assertion.
                # Long enough to ride out a broker's restart: a seek that lands late only reads again what the
                # batch and reading identities count once; one that never lands leaves the records unread.
                try:
                    first = await asyncio.wait_for(consumer.beginning_offsets(never), timeout=FIRST_OFFSETS_S)
                except (TimeoutError, KafkaError) as exc:
                    log.error("the first offsets of %s not known (%s): records fetched while the flow was off "
                              "may stay unread there until the worker restarts",
                              ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(never)),
                              type(exc).__name__)
                    return committed
                for tp, offset in first.items():
                    # IllegalStateError/AssertionError: revoked meanwhile, its next owner starts it
                    with contextlib.suppress(IllegalStateError, AssertionError, ValueError):
                        consumer.seek(tp, max(offset, 0))
            return committed

        return await self.call_thread(seek)

    setattr(wrapper, _SEEK_MARK, True)
    return wrapper


def apply() -> None:
    """Install the fixes; calling it again changes nothing."""
    if not getattr(Recovery.on_recovery_completed, _MARK, False):
        Recovery.on_recovery_completed = (  # type: ignore[method-assign]  # the patch is the point
            _stop_flow_until_repositioned(Recovery.on_recovery_completed))
    if not getattr(AIOKafkaConsumerThread.seek_to_committed, _SEEK_MARK, False):
        AIOKafkaConsumerThread.seek_to_committed = (  # type: ignore[method-assign]
            _seek_uncommitted_to_beginning(AIOKafkaConsumerThread.seek_to_committed))


def execute_until_exit(worker: faust.Worker) -> NoReturn:
    """Run a Faust worker and end the process with its exit code.

    After a crash Faust leaves client threads behind that keep the interpreter alive; a worker that cannot
    process must exit so the supervisor (and the operator) see it."""
    code = 1
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        logging.shutdown()
        os._exit(code)
