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
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any, NoReturn

import faust
from faust.tables.recovery import Recovery

_MARK = "__ecmon_stops_flow_before_seek__"


def _stop_flow_until_repositioned(on_recovery_completed: Any) -> Any:
    @functools.wraps(on_recovery_completed)
    async def wrapper(self: Recovery, *args: Any, **kwargs: Any) -> None:
        self.app.consumer.stop_flow()
        await on_recovery_completed(self, *args, **kwargs)

    setattr(wrapper, _MARK, True)
    return wrapper


def apply() -> None:
    """Install the fixes; calling it again changes nothing."""
    if not getattr(Recovery.on_recovery_completed, _MARK, False):
        Recovery.on_recovery_completed = (  # type: ignore[method-assign]  # the patch is the point
            _stop_flow_until_repositioned(Recovery.on_recovery_completed))


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
