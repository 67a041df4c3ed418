"""The worker's state per meter, read back from its table changelogs (the newest value of each key).

Generic over the worker's tables (``ecmon.topics.faust_internal_topics``) and their encodings, so it
measures the redesigned worker's compact state as well as today's JSON: a key belongs to an enterprise
when its text starts with a USCC the benchmark sent (``<uscc>`` or ``<uscc>|...``); tables with no such
keys (the province and nation tables) hold nothing per meter and are left out. Values that are JSON are
also sized as Python objects (what they take in the worker's memory when it keeps them decoded).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ecmon.kafka_clients import client_config
from ecmon.settings import Settings
from ecmon.topics import faust_internal_topics
from ecmon_ops.bench.figures import deep_sizeof
from ecmon_ops.bench.kafka_probe import read_topic, topic_disk_bytes


def latest_values(connection: Mapping[str, Any], topic: str) -> dict[bytes, bytes]:
    """The newest value of each key of a compacted topic (a tombstone removes its key)."""
    latest: dict[bytes, bytes] = {}

    def keep(key, value) -> None:
        if value is None:
            latest.pop(key, None)
        else:
            latest[key] = value

    read_topic(connection, topic, keep)
    return latest


def key_owner(key: bytes) -> str:
    """The text before the first '|' of a table key (JSON-serialised or raw)."""
    try:
        text = json.loads(key)
    except ValueError:
        text = key.decode("utf-8", "replace")
    return str(text).split("|")[0]


def python_size(value: bytes) -> int | None:
    try:
        return deep_sizeof(json.loads(value))
    except ValueError:
        return None


def state_size(settings: Settings, meters_of: Mapping[str, int]) -> dict:
    """Bytes per meter in each per-enterprise table of the worker, and their sum."""
    connection = client_config(settings, "admin")
    app_id = settings.worker_app_id
    tables = {}
    for spec in faust_internal_topics(app_id):
        if not spec.compacted:
            continue
        latest = latest_values(connection, spec.name)
        mine = {k: v for k, v in latest.items() if key_owner(k) in meters_of}
        if not mine:
            continue
        owners = {key_owner(k) for k in mine}
        sizes = [python_size(v) for v in mine.values()]
        tables[spec.name.removeprefix(f"{app_id}-").removesuffix("-changelog")] = {
            "enterprises": len(owners), "meters": sum(meters_of[o] for o in owners), "values": len(mine),
            "value_bytes": sum(len(v) for v in mine.values()),
            "python_bytes": sum(s for s in sizes if s is not None), "json_values": sum(s is not None for s in sizes),
            "changelog_disk_bytes": topic_disk_bytes(settings.state_dir, spec.name),
        }
    # Per meter of the enterprises each table holds: a table written on a cadence may not have every
    # enterprise in its changelog yet in a short run.
    per_meter = {k: sum(t[k] / t["meters"] for t in tables.values() if t["meters"])
                 for k in ("value_bytes", "python_bytes", "changelog_disk_bytes")}
    enterprises = max((t["enterprises"] for t in tables.values()), default=0)
    meters = max((t["meters"] for t in tables.values()), default=0)
    return {"enterprises": enterprises, "meters": meters, "tables": tables,
            **{f"{k}_per_meter": v for k, v in per_meter.items()}}
