"""From Kafka messages to ClickHouse rows: one converter per record type, one row type per table.

A message becomes rows of the national tables and, for rows of a province with a database, the same
rows in that province's tables (``sinks/ecmon_sink/databases.py``). Every row remembers the message it came from,
so a row ClickHouse rejects can go to the dead-letter table with its original bytes.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import NamedTuple

from ecmon import codec, topics
from ecmon.dead_letter_reasons import REASONS
from ecmon.emission_factors import co2_of_month, scope
from ecmon.months import month_of_interval
from ecmon.regions import NoPrefecture, UnknownRegion, prefecture_of, province_of
from ecmon.registry_records import read_registry_record
from ecmon.rejection import Rejection
from ecmon.uscc import region_of
from ecmon_sink.databases import province_codes, province_database

log = logging.getLogger(__name__)

class AggregateRow(NamedTuple):
    level: str
    entity: str
    province: str
    industry_code: str
    energy_type: str
    period: date
    unit: str
    physical_milli: int
    coal_mgce: int
    readings: int
    version: int
    co2_g: int
    co2_scope: str


class DeadLetterRow(NamedTuple):
    reason: str
    detail: str
    source_topic: str
    source_partition: int
    source_offset: int
    uscc: str
    message_key: str
    payload: str
    rejected_at: datetime


class EnterpriseRow(NamedTuple):
    uscc: str
    name: str
    region_code: str
    province: str
    prefecture: str
    industry_code: str
    tier: str
    meter_ids: list[str]
    meter_energy_types: list[str]
    meter_units: list[str]
    meter_interval_s: list[int]
    valid_from: datetime
    version: int


class ReadingRow(NamedTuple):
    uscc: str
    meter_id: str
    interval_end: datetime
    interval_start: datetime
    period: date
    energy_type: str
    unit: str
    physical_milli: int
    coal_mgce: int
    quality: str
    province: str
    region_code: str
    industry_code: str
    batch_id: str
    version: int


class AnomalyRow(NamedTuple):
    anomaly_id: str
    type: str
    severity: str
    level: str
    entity_code: str
    province: str
    industry_code: str
    energy_type: str
    span_start: datetime
    span_end: datetime
    observed: float
    expected: float
    unit: str
    score: float
    detector: str
    detector_version: str
    detail: str
    detected_at: datetime
    version: int


class MonthlyReportRow(NamedTuple):
    province: str
    period: date
    version: int
    closed_at: datetime
    total_coal_mgce: int
    change_mom_bp: int | None
    change_yoy_bp: int | None
    received: int
    expected: int
    completeness_bp: int
    completeness_threshold_bp: int
    consistent: int
    revised: int
    previous_total_coal_mgce: int | None
    revision_reason: str
    month_to_date: int
    expected_until: datetime
    submission_rule: str
    total_co2_g: int | None
    total_direct_co2_g: int | None
    total_indirect_co2_g: int | None


class MonthlyReportVersionRow(NamedTuple):
    """Every submitted version of a province's month (monthly_reports keeps only the newest)."""

    province: str
    period: date
    version: int
    closed_at: datetime
    submission_rule: str
    total_coal_mgce: int
    previous_total_coal_mgce: int | None
    received: int
    expected: int
    completeness_bp: int
    consistent: int
    revised: int
    revision_reason: str


class MonthlyReportTotalRow(NamedTuple):
    province: str
    period: date
    version: int
    industry_code: str
    energy_type: str
    unit: str
    physical_milli: int
    coal_mgce: int
    enterprises: int
    change_mom_bp: int | None
    change_yoy_bp: int | None
    co2_g: int | None


class MonthlyReportEnterpriseRow(NamedTuple):
    province: str
    period: date
    version: int
    uscc: str
    industry_code: str
    coal_mgce: int
    received: int
    expected: int
    completeness_bp: int
    co2_g: int | None


class NationalFeedbackRow(NamedTuple):
    province: str
    period: date
    version: int
    generated_at: datetime
    provinces_reported: int
    national_coal_mgce: int
    province_coal_mgce: int
    share_bp: int
    province_rank: int
    completeness_threshold_bp: int
    province_completeness_bp: int
    industry_codes: list[str]
    industry_coal_mgce: list[int]
    industry_national_coal_mgce: list[int]
    industry_share_bp: list[int]
    industry_rank: list[int]
    industry_provinces: list[int]
    failing_uscc: list[str]
    failing_received: list[int]
    failing_expected: list[int]
    failing_completeness_bp: list[int]
    final: int
    provinces_expected: int


class ProductionRow(NamedTuple):
    uscc: str
    product_code: str
    period_start: datetime
    period_end: datetime
    period: date
    product_name: str
    quantity_milli: int
    unit: str
    province: str
    gateway_id: str
    batch_id: str
    sent_at: datetime
    version: int


class EnterpriseRecordRow(EnterpriseRow):
    """Every registry record, for the coverage list's history (the enterprises table keeps the newest)."""


class TargetRow(NamedTuple):
    scope: str
    entity_code: str
    province: str
    year: int
    month: int
    coal_mgce: int
    intensity_basis: str
    product_code: str
    denominator_unit: str
    intensity_mgce_per_unit: int
    reduction_bp: int | None
    document: str
    issued_at: datetime
    version: int


Row = (AggregateRow | DeadLetterRow | EnterpriseRow | ReadingRow | AnomalyRow | MonthlyReportRow
       | MonthlyReportVersionRow | MonthlyReportTotalRow | MonthlyReportEnterpriseRow | NationalFeedbackRow
       | ProductionRow | TargetRow)

TABLES: dict[str, type[Row]] = {
    "aggregates_monthly": AggregateRow,
    "dead_letters": DeadLetterRow,
    "enterprises": EnterpriseRow,
    "readings": ReadingRow,
    "anomalies": AnomalyRow,
    "monthly_reports": MonthlyReportRow,
    "monthly_report_versions": MonthlyReportVersionRow,
    "monthly_report_totals": MonthlyReportTotalRow,
    "monthly_report_enterprises": MonthlyReportEnterpriseRow,
    "national_feedback": NationalFeedbackRow,
    "production": ProductionRow,
    "targets": TargetRow,
    "enterprise_records": EnterpriseRecordRow,
}
"""The row type of each ClickHouse table the sink writes: its fields are the columns the sink inserts (the
table's other columns, such as ``written_at``, take their defaults)."""

TABLE_OF: dict[type[Row], str] = {row_type: table for table, row_type in TABLES.items()}

COLUMNS: dict[str, tuple[str, ...]] = {table: row_type._fields for table, row_type in TABLES.items()}
"""Insert column lists, derived from the row types."""

NATIONAL_ONLY = frozenset({"dead_letters"})
"""Operational tables the provincial databases do not have."""

TOPIC_RECORDS: dict[str, str] = {
    topics.AGGREGATES.name: "aggregate_batch",
    topics.DEAD_LETTERS.name: "dead_letter",
    topics.REGISTRY.name: "enterprise_record",
    topics.NORMALISED_READINGS.name: "normalised_reading_batch",
    topics.ANOMALIES.name: "anomaly",
    topics.MONTHLY_REPORTS.name: "monthly_report",
    topics.NATIONAL_FEEDBACK.name: "national_feedback",
    topics.PRODUCTION_ACCEPTED.name: "production_output",
    topics.TARGETS.name: "target",
}
"""The one record type each topic the sink reads carries: a client allowed to write one topic must not fill
the tables of another (an AggregateBatch on the registry topic is ``unexpected_record_type``)."""

COMPACTED_TOPICS = frozenset(spec.name for spec in topics.all_topics() if spec.compacted)
"""Where a null value is a tombstone (a deletion), reported as ``tombstone`` rather than ``null_value``."""

PAYLOAD_LIMIT = 512 * 1024
"""As streams/ecmon_worker/dead_letters.py: a dead letter keeps at most the first 512 KiB of its message, and says
so."""


def period_date(period: str) -> date:
    year, month = period.split("-")
    return date(int(year), int(month), 1)


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Origin:
    """The Kafka message a row came from."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes

    @property
    def uscc(self) -> str:
        key = self.key.decode(errors="replace")
        return key if len(key) == 18 else ""


Converted = Iterator[tuple[str, Row]]
"""(province or '', row): the row's type names its table."""


def _aggregates(record: dict, origin: Origin) -> Converted:
    for a in record["aggregates"]:
        province = "" if a["level"] == "NATIONAL" else a["province"]
        yield province, AggregateRow(
            a["level"], a["entity"], a["province"], a["industry_code"], a["energy_type"], period_date(a["period"]),
            a["unit"], a["physical_milli"], a["coal_mgce"], a["readings"], a["version"], *_co2(a),
        )


def _co2(a: dict) -> tuple[int, str]:
    """(co2_g, co2_scope) of an aggregate. One written before v4 has none: an enterprise's is the same function
    of its monthly total the worker uses; a region's cannot be rebuilt from its total, so it stays 0 until the
    worker sends the region again (with a higher version, which every query prefers)."""
    co2, co2_scope = a.get("co2_g"), a.get("co2_scope") or scope(a["energy_type"])
    if co2 is None:
        co2 = co2_of_month(a["energy_type"], a["unit"], a["period"], a["physical_milli"]) \
            if a["level"] == "ENTERPRISE" else 0
    return co2, co2_scope


def _dead_letter(record: dict, origin: Origin) -> Converted:
    yield "", DeadLetterRow(
        record["reason"], record["detail"], record["source_topic"], record["source_partition"],
        record["source_offset"], record["uscc"], record["key"].decode(errors="replace"),
        record["payload"].decode("latin-1"), utc(record["rejected_at"]),
    )


def _enterprise(record: dict, origin: Origin) -> Converted:
    """A record that passed the worker's checks (Rows._convert). Its version is the authority's issued_at
    (ms; an offset only for a record without one): the ReplacingMergeTree keeps the record the authority
    issued last, so a replayed older record, stale for the worker, never outranks it here either."""
    code = record["region_code"]
    try:
        province = province_of(code)
    except UnknownRegion:
        province = ""
    try:
        prefecture = prefecture_of(code)
    except (NoPrefecture, UnknownRegion):
        prefecture = ""
    meters = record["meters"]
    row = EnterpriseRow(
        record["uscc"], record["name"], code, province, prefecture, record["industry_code"], record["tier"],
        [m["meter_id"] for m in meters], [m["energy_type"] for m in meters], [m["unit"] for m in meters],
        [m["interval_s"] for m in meters], utc(record["valid_from"]), record.get("issued_at") or origin.offset,
    )
    yield province, row
    yield province, EnterpriseRecordRow(*row)


#: The readings table keeps, per (uscc, meter_id, interval_end), the row of the highest version. A first
#: count's version is its normalised_at (ms, below 2^48 until the year 10889); a correction's is
#: CORRECTION_VERSION + its revision (the enterprise state version that applied it, growing per
#: correction), so a correction outranks the original and a later correction an earlier one, whatever
#: the workers' clocks say.
CORRECTION_VERSION = 1 << 48


def _readings(record: dict, origin: Origin) -> Converted:
    p = record["province"]
    for r in record["readings"]:
        revision = r.get("revision") or 0
        yield p, ReadingRow(
            record["uscc"], r["meter_id"], utc(r["interval_end"]), utc(r["interval_start"]),
            period_date(month_of_interval(r["interval_end"])), r["energy_type"], r["unit"], r["physical_milli"],
            r["coal_mgce"], r.get("quality", "GOOD"), p, record["region_code"], record["industry_code"],
            record["batch_id"], CORRECTION_VERSION + revision if revision > 0 else record["normalised_at"],
        )


def _anomaly(record: dict, origin: Origin) -> Converted:
    r = record
    yield r["province"], AnomalyRow(
        r["anomaly_id"], r["type"], r["severity"], r["level"], r["entity_code"], r["province"], r["industry_code"],
        r["energy_type"], utc(r["span_start"]), utc(r["span_end"]), r["observed"], r["expected"], r["unit"],
        r["score"], r["detector"], r["detector_version"], r["detail"], utc(r["detected_at"]), r["detected_at"],
    )


def _monthly_report(record: dict, origin: Origin) -> Converted:
    r, p, period, v = record, record["province"], period_date(record["period"]), record["version"]
    c = r["completeness"]
    yield p, MonthlyReportRow(
        p, period, v, utc(r["closed_at"]), r["total_coal_mgce"], r["change_mom_bp"], r["change_yoy_bp"],
        c["received"], c["expected"], c["ratio_bp"], r["completeness_threshold_bp"], int(r["consistent"]),
        int(r.get("revised", False)), r.get("previous_total_coal_mgce"), r.get("revision_reason", ""),
        int(r.get("month_to_date", False)), utc(r.get("expected_until", 0)), r.get("submission_rule", ""),
        r.get("total_co2_g"), r.get("total_direct_co2_g"), r.get("total_indirect_co2_g"),
    )
    if not r.get("month_to_date", False):
        yield p, MonthlyReportVersionRow(
            p, period, v, utc(r["closed_at"]), r.get("submission_rule", ""), r["total_coal_mgce"],
            r.get("previous_total_coal_mgce"), c["received"], c["expected"], c["ratio_bp"], int(r["consistent"]),
            int(r.get("revised", False)), r.get("revision_reason", ""),
        )
    for t in r["totals"]:
        yield p, MonthlyReportTotalRow(
            p, period, v, t["industry_code"], t["energy_type"], t["unit"], t["physical_milli"], t["coal_mgce"],
            t["enterprises"], t["change_mom_bp"], t["change_yoy_bp"], t.get("co2_g"),
        )
    for e in r["enterprises"]:
        ec = e["completeness"]
        yield p, MonthlyReportEnterpriseRow(
            p, period, v, e["uscc"], e["industry_code"], e["coal_mgce"], ec["received"], ec["expected"], ec["ratio_bp"],
            e.get("co2_g"),
        )


def _national_feedback(record: dict, origin: Origin) -> Converted:
    r, ranks, failing = record, record["industry_rankings"], record["failing_enterprises"]
    yield r["province"], NationalFeedbackRow(
        r["province"], period_date(r["period"]), r["version"], utc(r["generated_at"]), r["provinces_reported"],
        r["national_coal_mgce"], r["province_coal_mgce"], r["share_bp"], r["province_rank"],
        r["completeness_threshold_bp"], r["province_completeness_bp"],
        [x["industry_code"] for x in ranks], [x["coal_mgce"] for x in ranks], [x["national_coal_mgce"] for x in ranks],
        [x["share_bp"] for x in ranks], [x["rank"] for x in ranks], [x["provinces"] for x in ranks],
        [x["uscc"] for x in failing], [x["received"] for x in failing], [x["expected"] for x in failing],
        [x["completeness_bp"] for x in failing], int(r.get("final", False)), r.get("provinces_expected", 0),
    )


def _target(record: dict, origin: Origin) -> Converted:
    """A province's target or an enterprise's quota; an enterprise's lands in its registration province."""
    r, intensity = record, record.get("intensity") or {}
    entity = r["entity_code"]
    try:
        province = province_of(entity if r["scope"] == "PROVINCE" else region_of(entity))
    except (UnknownRegion, ValueError):
        province = ""
    yield province, TargetRow(
        r["scope"], entity, province, r["year"], r["month"], r["coal_mgce"], intensity.get("basis", ""),
        intensity.get("product_code", ""), intensity.get("denominator_unit", ""), intensity.get("mgce_per_unit", 0),
        intensity.get("reduction_bp"), r.get("document", ""), utc(r["issued_at"]), r["issued_at"],
    )


def _production(record: dict, origin: Origin) -> Converted:
    """Accepted production output (the worker validated it, signature and registry included)."""
    r = record
    try:
        province = province_of(region_of(r["uscc"]))  # the registration region: never changes
    except (ValueError, UnknownRegion):
        province = ""
    yield province, ProductionRow(
        r["uscc"], r["product_code"], utc(r["period_start"]), utc(r["period_end"]),
        period_date(month_of_interval(r["period_end"])), r["product_name"], r["quantity_milli"], r["unit"],
        province, r["gateway_id"], r["batch_id"], utc(r["sent_at"]), r["sent_at"],
    )


CONVERTERS: dict[str, Callable[[dict, Origin], Converted]] = {
    "aggregate_batch": _aggregates,
    "dead_letter": _dead_letter,
    "enterprise_record": _enterprise,
    "normalised_reading_batch": _readings,
    "anomaly": _anomaly,
    "monthly_report": _monthly_report,
    "national_feedback": _national_feedback,
    "production_output": _production,
    "target": _target,
}


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def dead_letter_row(origin: Origin, reason: str, detail: str) -> DeadLetterRow:
    payload = origin.value
    if len(payload) > PAYLOAD_LIMIT:
        detail += (f" [payload truncated to its first {PAYLOAD_LIMIT} of {len(payload)} bytes, sha256 "
                   f"{hashlib.sha256(payload).hexdigest()}; the original is {origin.topic} partition "
                   f"{origin.partition} offset {origin.offset}]")
        payload = payload[:PAYLOAD_LIMIT]
    return DeadLetterRow(reason, detail, origin.topic, origin.partition, origin.offset, origin.uscc,
                         origin.key[:4096].decode(errors="replace"), payload.decode("latin-1"), now_utc())


@dataclass
class Rows:
    """The rows of one consumed batch, per (database, table), each with the message it came from."""

    national: str
    #: the registry authority's raw Ed25519 public key; without it every registry record is refused
    authority_public_key: bytes = b""
    #: (database, table) -> rows of that table's type (TABLES)
    tables: dict[tuple[str, str], list[Row]] = field(default_factory=lambda: defaultdict(list))
    origins: dict[tuple[str, str], list[Origin]] = field(default_factory=lambda: defaultdict(list))
    #: dead letters this batch added, by reason (the sink's metric counts them once written)
    rejected: Counter[str] = field(default_factory=Counter)

    def add(self, database: str, row: Row, origin: Origin) -> None:
        self._append((database, TABLE_OF[type(row)]), row, origin)

    def _append(self, key: tuple[str, str], row: Row, origin: Origin) -> None:
        self.tables[key].append(row)
        self.origins[key].append(origin)

    def add_dead_letter(self, origin: Origin, reason: str, detail: str) -> None:
        self.rejected[reason] += 1
        self.add(self.national, dead_letter_row(origin, reason, detail), origin)

    def add_message(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> None:
        """The rows of one message, or its dead letter: whatever the key and value, nothing raises."""
        origin = Origin(topic, partition, offset, key if isinstance(key, bytes) else b"",
                        value if isinstance(value, bytes) else b"")
        try:
            converted = self._convert(origin, value)
        except Exception as exc:  # a defect of the sink: the message is set aside, the sink goes on
            log.exception("converting %s[%d]@%d raised; dead-lettered as internal_error", topic, partition, offset)
            self.add_dead_letter(origin, "internal_error", f"the sink raised {type(exc).__name__}: {exc}"[:2000])
            return
        if converted is None:
            return
        provinces = province_codes()
        for province, row in converted:
            table = TABLE_OF[type(row)]
            self._append((self.national, table), row, origin)
            if province in provinces and table not in NATIONAL_ONLY:
                self._append((province_database(self.national, province), table), row, origin)

    def _convert(self, origin: Origin, value: bytes | None) -> list[tuple[str, Row]] | None:
        """The message's rows; None when it became a dead letter instead."""
        topic = origin.topic
        try:
            name, record = codec.decode(value)
        except codec.NullValue:
            if topic in COMPACTED_TOPICS and origin.key:
                self.add_dead_letter(origin, "tombstone", f"a tombstone on {topic} (key {origin.key[:100]!r}); "
                                     "the sink's tables keep history and record no deletion")
            else:
                self.add_dead_letter(origin, "null_value", f"a message without a value on {topic}")
            return None
        except codec.CodecError as exc:
            self.add_dead_letter(origin, exc.reason, f"sink could not read {topic}: {exc}")
            return None
        expected = TOPIC_RECORDS.get(topic)
        converter = CONVERTERS.get(name)
        if converter is None or (expected is not None and name != expected):
            self.add_dead_letter(origin, "unexpected_record_type",
                                 f"the sink reads {expected or 'no such record'} on {topic}, not {name}")
            return None
        if name == "dead_letter" and (record["reason"] not in REASONS or not record["detail"].strip()):
            # Only the worker writes dead letters; one without a known reason explains nothing to anyone.
            self.add_dead_letter(origin, "invalid_internal_message",
                                 f"a dead letter on {topic} without a known reason and a detail "
                                 f"(reason {record['reason'][:64]!r})")
            return None
        if name == "enterprise_record":
            # The worker's own checks and signature (ecmon/registry_records.py): the enterprises table must
            # list no record the worker refused, under the same reason.
            checked = read_registry_record(origin.key, value, self.authority_public_key)  # type: ignore[arg-type]
            if isinstance(checked, Rejection):
                self.add_dead_letter(origin, checked.reason, checked.detail)
                return None
        try:
            return list(converter(record, origin))
        except Exception as exc:  # a value the tables cannot hold (e.g. period '2026-13')
            self.add_dead_letter(origin, "unconvertible", f"sink could not convert {name} from {topic}: {exc!r}")
            return None

    def __len__(self) -> int:
        return sum(len(r) for r in self.tables.values())
