"""What the platform rejected of one enterprise: the vendor feedback of the interface standard, section 10.

Read from the national ``dead_letters`` table, always for exactly one USCC (the query binds it as a
parameter, never pasted into SQL), by the read-only user ``ecmon_feedback``. A dead letter is one rejected
Kafka message; a message replayed into the table before a merge is counted once (by its source offset).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_driver import Client

from ecmon import codec
from ecmon.uscc import is_valid_uscc

#: Notices: the reading counted, the dead letter only tells the vendor (not a rejection).
NOTICES = ("meter_reset", "reading_corrected")


class BadUscc(ValueError):
    pass


@dataclass(frozen=True)
class ReasonSummary:
    reason: str
    messages: int
    first: datetime
    last: datetime
    example: str  # the detail of the newest dead letter of this reason
    example_topic: str
    example_offset: str  # "partition@offset" of that message on its source topic


def rejections(client: Client, database: str, uscc: str, since: datetime | None = None) -> list[ReasonSummary]:
    """One row per reason: how many messages, first and last rejection, the newest one as an example."""
    if not is_valid_uscc(uscc):
        raise BadUscc(f"{uscc!r} is not a valid USCC (18 characters with its check character, GB 32100)")
    rows = client.execute(
        f"SELECT reason, uniqExact(source_topic, source_partition, source_offset), min(rejected_at), "
        f"max(rejected_at), argMax(detail, rejected_at), argMax(source_topic, rejected_at), "
        f"argMax(concat(toString(source_partition), '@', toString(source_offset)), rejected_at) "
        f"FROM {database}.dead_letters WHERE uscc = %(uscc)s AND rejected_at >= %(since)s "
        f"GROUP BY reason ORDER BY reason",
        {"uscc": uscc, "since": since or datetime(1970, 1, 2)},
    )
    return [ReasonSummary(*r) for r in rows]


@dataclass(frozen=True)
class ReusedSequence:
    gateway_id: str
    sequence: int
    batch_id: str
    rejected: int  # how many copies the platform answered duplicate_batch
    #: the batch's last reading (meter, interval end in ms): what a resend shares with the counted batch (the
    #: last, not the first: a cumulative meter's very first register reading only sets its baseline, no row)
    last_reading: tuple[str, int] = ("", 0)


def duplicate_batches(client: Client, database: str, usccs: list[str], since: datetime) -> list[ReusedSequence]:
    """The (gateway, sequence) of every ``duplicate_batch`` of these enterprises since ``since``, from the
    rejected messages themselves (their original bytes)."""
    found: dict[tuple[str, int, str], int] = {}
    last: dict[tuple[str, int, str], tuple[str, int]] = {}
    for uscc in usccs:
        if not is_valid_uscc(uscc):
            raise BadUscc(f"{uscc!r} is not a valid USCC")
        rows = client.execute(
            f"SELECT any(payload) FROM {database}.dead_letters WHERE uscc = %(uscc)s AND reason = 'duplicate_batch' "
            f"AND rejected_at >= %(since)s GROUP BY source_topic, source_partition, source_offset",
            {"uscc": uscc, "since": since},
        )
        for (payload,) in rows:
            batch = _batch(payload)
            if batch is not None:
                key = (batch["gateway_id"], batch["sequence"], batch["batch_id"])
                found[key] = found.get(key, 0) + 1
                if batch["readings"]:
                    last[key] = (batch["readings"][-1]["meter_id"], batch["readings"][-1]["ts"])
    return [ReusedSequence(gw, seq, bid, n, last.get((gw, seq, bid), ("", 0)))
            for (gw, seq, bid), n in sorted(found.items())]


def _batch(payload: str | bytes) -> dict[str, Any] | None:
    raw = payload.encode("latin-1") if isinstance(payload, str) else payload
    try:
        return codec.decode(raw, "reading_batch")[1]
    except codec.CodecError:
        return None


def uncounted(client: Client, database: str, reused: list[ReusedSequence]) -> list[ReusedSequence]:
    """Those of ``reused`` whose readings the platform never counted. A resend (the spool after a crash, a copy
    on purpose) is the counted batch again: its last reading is in ``readings`` under its batch id. A reused
    sequence brings other readings (its batch id may even be the same, made from the sequence): refused, none
    of them counted. A batch without readings counts nothing either way and is left out."""
    suspects = [d for d in reused if d.last_reading[0]]
    if not suspects:
        return []
    counted = {(r[0], r[1], r[2]) for r in client.execute(
        f"SELECT batch_id, meter_id, toUInt64(toUnixTimestamp(interval_end)) FROM {database}.readings "
        f"WHERE batch_id IN %(ids)s",
        {"ids": tuple(d.batch_id for d in suspects)},
    )}
    return [d for d in suspects if (d.batch_id, d.last_reading[0], d.last_reading[1] // 1000) not in counted]
