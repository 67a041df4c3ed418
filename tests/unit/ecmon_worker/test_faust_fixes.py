"""streams/ecmon_worker/faust_fixes.py: no stream record reaches an agent while recovery repositions the partitions."""

import asyncio
from unittest.mock import AsyncMock, MagicMock

from faust.tables.recovery import Recovery
from faust.types import TP

from ecmon_worker import faust_fixes

READINGS_0 = TP("ecmon.readings.v1", 0)


class FlowRecorder:
    """The consumer and flow control as on_recovery_completed drives them; records whether flow was on."""

    def __init__(self) -> None:
        self.flow_active = True  # recovery turned it on to read the changelogs
        self.steps: list[tuple[str, bool]] = []

    def stop_flow(self) -> None:
        self.flow_active = False

    def resume_flow(self) -> None:
        self.flow_active = True
        self.steps.append(("resume_flow", self.flow_active))

    def assignment(self) -> set[TP]:
        return {READINGS_0}

    def resume_partitions(self, tps) -> None:
        self.steps.append(("resume_partitions", self.flow_active))

    async def perform_seek(self) -> None:
        await asyncio.sleep(0)  # the broker round trip during which the fetcher used to deliver
        self.steps.append(("seek", self.flow_active))

    def clear_agent_queues(self) -> None:
        self.steps.append(("clear_queues", self.flow_active))


def recovery_with(consumer: FlowRecorder) -> MagicMock:
    recovery = MagicMock(name="recovery")
    recovery.app.consumer = consumer
    recovery.app.consumer_generation_id = 0
    recovery.app.on_rebalance_complete.send = AsyncMock()
    recovery.app._fetcher.maybe_start = AsyncMock()
    recovery.app.flow_control.resume = consumer.clear_agent_queues
    recovery.app.assignor.assigned_standbys.return_value = set()
    recovery.tables.values.return_value = []
    recovery._is_changelog_tp.return_value = False

    async def wait(coro, timeout=None):
        await coro

    recovery._wait = wait
    return recovery


def test_flow_stays_off_until_the_stream_partitions_are_repositioned_and_the_queues_cleared():
    faust_fixes.apply()
    faust_fixes.apply()  # idempotent
    consumer = FlowRecorder()
    asyncio.run(Recovery.on_recovery_completed(recovery_with(consumer), 0))
    steps = dict(consumer.steps)
    assert steps["resume_partitions"] is False
    assert steps["seek"] is False
    assert steps["clear_queues"] is False
    assert consumer.flow_active  # and on again once the method is done


def test_without_the_fix_the_backlog_flows_while_the_seek_is_awaited():
    """Documents the defect in faust-streaming 0.15.3 the fix is for; fails once upstream changes it."""
    unfixed = getattr(Recovery.on_recovery_completed, "__wrapped__", Recovery.on_recovery_completed)
    consumer = FlowRecorder()
    asyncio.run(unfixed(recovery_with(consumer), 0))
    assert [s for s, _ in consumer.steps][:2] == ["resume_partitions", "seek"]
    assert dict(consumer.steps)["seek"] is True


class SeekRecorder:
    """aiokafka's consumer as seek_to_committed drives it: what it was asked to seek to the beginning."""

    def __init__(self, committed) -> None:
        self.committed = committed
        self.to_beginning: list = []

    async def seek_to_committed(self):
        return self.committed

    async def beginning_offsets(self, tps):
        return {tp: 7 for tp in tps}  # the log's start, after retention

    def seek(self, tp, offset):  # sets the position at once: Faust's livelock check reads it
        self.to_beginning.append((tp, offset))


def _consumer_thread(consumer, acks_enabled_for) -> MagicMock:
    """Faust's consumer thread around ``consumer``, calling on the test's own loop."""
    thread = MagicMock(name="consumer-thread")
    thread._ensure_consumer.return_value = consumer
    thread.app.topics.acks_enabled_for = acks_enabled_for

    async def call_thread(fun, *args):
        return await fun(*args)

    thread.call_thread = call_thread
    return thread


def test_a_stream_partition_never_committed_is_read_again_from_its_beginning():
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    faust_fixes.apply()
    changelog = TP("ecmon-worker-enterprise-state-changelog", 3)
    readings_3 = TP("ecmon.readings.v1", 3)
    assignor = TP("ecmon-worker-__assignor-__leader", 0)
    consumer = SeekRecorder({READINGS_0: 124, readings_3: None, changelog: None, assignor: None})
    thread = _consumer_thread(consumer, lambda topic: topic == "ecmon.readings.v1")  # the streams Faust commits
    committed = asyncio.run(AIOKafkaConsumerThread.seek_to_committed(thread))
    assert committed == consumer.committed  # Faust's read offsets follow the committed ones, as before
    assert consumer.to_beginning == [(readings_3, 7)]  # not the committed one, a changelog or the assignor's


def test_a_broker_that_cannot_name_the_first_offsets_leaves_recovery_going_with_an_error_logged(caplog):
    from aiokafka.errors import KafkaTimeoutError
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    faust_fixes.apply()
    readings_3 = TP("ecmon.readings.v1", 3)

    class NoOffsets(SeekRecorder):
        async def beginning_offsets(self, tps):
            raise KafkaTimeoutError()

    consumer = NoOffsets({readings_3: None})
    thread = _consumer_thread(consumer, lambda topic: True)
    assert asyncio.run(AIOKafkaConsumerThread.seek_to_committed(thread)) == {readings_3: None}
    assert consumer.to_beginning == []
    assert "ecmon.readings.v1[3]" in caplog.text and "KafkaTimeoutError" in caplog.text
