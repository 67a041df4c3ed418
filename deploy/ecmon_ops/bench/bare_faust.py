"""The bare job in Faust: only the heart of the worker's work, so the framework's share stays visible.

Decode each reading batch with ``ecmon.codec``, keep exact sums (thousandths of the unit, integers) per
enterprise x energy type x unit x CST month in a changelogged table, and emit the changed sums every second.
No admission, no signatures, no detectors, no regional rollups: what this app reaches is about the most a
Faust worker of the same shape can reach on this machine, and the full worker's figure beside it shows
what the platform's own work costs. Run by the benchmark as a process of its own
(``python -m ecmon_ops.bench.bare_faust``), its own consumer group and topics, as the stack's admin user
(it is a measuring tool, not a role of the platform).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

import faust

from ecmon import codec, topics
from ecmon.kafka_clients import faust_credentials
from ecmon.months import month_of_interval
from ecmon.settings import Settings
from ecmon_worker.faust_fixes import execute_until_exit

APP_ID = "ecmon-bench-bare"
SUMS = topics.TopicSpec(f"{APP_ID}.sums", "the bare job's changed sums, every second")
EMIT_EVERY_S = 1.0


def bare_topics() -> list[topics.TopicSpec]:
    """Its topics; the brokers do not auto-create topics, so the benchmark creates these before it starts."""
    return [SUMS, topics.TopicSpec(f"{APP_ID}-sums-changelog", "the bare job's table", compacted=True),
            topics.TopicSpec(f"{APP_ID}-__assignor-__leader", "Faust leader election", partitions=1, compacted=True)]


def batch_sums(record: dict) -> dict[str, int]:
    """One batch's readings summed per '<uscc>|<energy type>|<unit>|<CST month>'."""
    out: dict[str, int] = defaultdict(int)
    uscc = record["uscc"]
    for r in record["readings"]:
        out[f"{uscc}|{r['energy_type']}|{r['unit']}|{month_of_interval(r['ts'])}"] += r["value_milli"]
    return out


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        APP_ID, broker=[f"kafka://{hp}" for hp in settings.bootstrap_servers.split(",")], store="memory://",
        topic_partitions=topics.PARTITIONS, topic_replication_factor=settings.replication_factor,
        topic_allow_declare=False, web_enabled=False, producer_acks=-1, consumer_auto_offset_reset="earliest",
        broker_session_timeout=10.0, broker_heartbeat_interval=1.0, broker_rebalance_timeout=20.0,
        broker_commit_interval=1.0, table_standby_replicas=0, stream_wait_empty=False,
        broker_credentials=faust_credentials(settings, "admin"),
    )
    readings = app.topic(topics.READINGS.name, key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw", partitions=topics.PARTITIONS)
    out = app.topic(SUMS.name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
                    partitions=topics.PARTITIONS)
    sums = app.Table("sums", default=int, partitions=topics.PARTITIONS, key_type=str, value_type=int)
    dirty: set[str] = set()

    @app.agent(readings)
    async def sum_batches(stream):
        async for value in stream:
            try:
                _, record = codec.decode(value, expected="reading_batch")
            except codec.CodecError:
                continue  # the full worker dead-letters it; here it is just not counted
            # One table write per key per batch (a changelog record each), as the redesigned worker does.
            for key, delta in batch_sums(record).items():
                sums[key] += delta
                dirty.add(key)

    @app.timer(EMIT_EVERY_S)
    async def emit_changed() -> None:
        keys = list(dirty)
        dirty.clear()
        for key in keys:
            await out.send(key=key.encode(), value=json.dumps({"key": key, "sum_milli": sums[key]}).encode())

    return app


def main() -> None:
    sys.argv = [sys.argv[0]]  # Faust's worker reads sys.argv
    app = create_app(Settings())
    execute_until_exit(faust.Worker(app, loglevel="WARNING"))


if __name__ == "__main__":
    main()
