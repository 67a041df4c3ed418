"""CSV replay: recorded meter data (``timestamp,meter,value``) sent as one enterprise's gateway.

Column names, the time format and zone, and the mapping of meters to energy type and unit come
from a small TOML file (``producers/ecmon_simulator/replay-nab.toml`` is the example for the NAB series). Files
with a single series name their meter by the file name. Rows may come in any order; they are
sent in time order, batched by a number of intervals, with time acceleration like the simulator.
"""

from __future__ import annotations

import csv
import fnmatch
import heapq
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ecmon import codec, energy, topics
from ecmon.settings import Settings
from ecmon.uscc import make_uscc, validate_uscc
from ecmon_simulator.fleet import BATCH_NAMESPACE, Enterprise, Meter, PlannedBatch
from ecmon_simulator.ledger import Ledger


class ReplayError(ValueError):
    """The CSV or the mapping config is wrong; the message names the file and the line."""


@dataclass(frozen=True)
class MeterRule:
    match: str
    energy_type: str
    unit: str
    scale: Decimal
    kind: str = "INTERVAL"


@dataclass(frozen=True)
class ReplayConfig:
    timestamp_column: str
    value_column: str
    meter_column: str | None
    time_format: str
    tz: timezone
    interval_s: int
    intervals_per_batch: int
    stamp: str
    uscc: str
    region_code: str
    industry_code: str
    name: str
    gateway_id: str
    rules: tuple[MeterRule, ...]

    @classmethod
    def load(cls, path: Path) -> ReplayConfig:
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ReplayError(f"{path}: {exc}") from None
        src, ent = data.get("source", {}), data.get("enterprise", {})
        region_code = str(ent.get("region_code", "110108"))
        uscc = ent.get("uscc") or make_uscc(region_code, int(ent.get("serial", 1)))
        try:
            validate_uscc(uscc)
        except ValueError as exc:
            raise ReplayError(f"{path}: [enterprise] uscc: {exc}") from None
        rules = []
        for i, m in enumerate(data.get("meters", [])):
            try:
                energy.coal_factor(m["energy_type"], m["unit"])
            except (KeyError, ValueError) as exc:
                raise ReplayError(f"{path}: [[meters]] #{i + 1}: {exc}") from None
            if m.get("kind", "INTERVAL") not in ("INTERVAL", "CUMULATIVE"):
                raise ReplayError(f"{path}: [[meters]] #{i + 1}: kind must be INTERVAL or CUMULATIVE")
            rules.append(MeterRule(m.get("match", "*"), m["energy_type"], m["unit"], Decimal(str(m.get("scale", 1))),
                                   m.get("kind", "INTERVAL")))
        if not rules:
            raise ReplayError(f"{path}: no [[meters]] rules: say which energy type and unit the values are")
        return cls(
            timestamp_column=src.get("timestamp_column", "timestamp"),
            value_column=src.get("value_column", "value"),
            meter_column=src.get("meter_column"),
            time_format=src.get("time_format", "%Y-%m-%d %H:%M:%S"),
            tz=_zone(src.get("timezone", "UTC")),
            interval_s=int(src.get("interval_s", 900)),
            intervals_per_batch=int(src.get("intervals_per_batch", 24)),
            stamp=src.get("stamp", "end"),
            uscc=uscc,
            region_code=region_code,
            industry_code=str(ent.get("industry_code", "3120")),
            name=ent.get("name", f"CSV replay {uscc}"),
            gateway_id=ent.get("gateway_id", f"gw-{uscc[-6:]}-replay"),
            rules=tuple(rules),
        )

    def rule_for(self, meter: str) -> MeterRule:
        for rule in self.rules:
            if fnmatch.fnmatchcase(meter, rule.match):
                return rule
        raise ReplayError(f"meter {meter!r} matches no [[meters]] rule of the config")


def _zone(text: str) -> timezone:
    if text.upper() in ("UTC", "Z"):
        return UTC
    sign = -1 if text.startswith("-") else 1
    hours, _, minutes = text.lstrip("+-").partition(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes or 0)))


def _csv_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        files.extend(sorted(p.glob("*.csv")) if p.is_dir() else [p])
    if not files:
        raise ReplayError(f"no CSV files in {', '.join(map(str, paths))}")
    return files


def _parse_ts(text: str, cfg: ReplayConfig) -> int:
    if cfg.time_format == "epoch_s":
        return int(Decimal(text) * 1000)
    if cfg.time_format == "epoch_ms":
        return int(text)
    dt = datetime.strptime(text, cfg.time_format)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=cfg.tz)
    return int(dt.timestamp() * 1000)


CST_OFFSET_MS = 8 * 3_600_000


def _on_grid(rows: list[tuple[int, str, int]], step: int) -> list[tuple[int, str, int]]:
    """Each sample stamped with the end of the registered interval holding it (multiples of the interval after
    CST midnight): the platform identifies an interval by that end and refuses others (off_grid_reading).
    Samples of one meter falling in the same interval are added: the interval's consumption."""
    merged: dict[tuple[int, str], int] = {}
    for ts, meter, value in rows:
        into_day = (ts - 1 + CST_OFFSET_MS) % 86_400_000 + 1
        end = ts + min((-into_day) % step, 86_400_000 - into_day)  # a day's last interval ends at midnight
        merged[(end, meter)] = merged.get((end, meter), 0) + value
    return sorted((ts, meter, value) for (ts, meter), value in merged.items())


def read_rows(cfg: ReplayConfig, paths: list[Path]) -> Iterator[tuple[int, str, int]]:
    """(ts end of interval in ms, on the interval grid, meter id, value in thousandths), in time order."""
    per_file = []
    shift = cfg.interval_s * 1000 if cfg.stamp == "start" else 0
    for path in _csv_files(paths):
        rows = []
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            for line, row in enumerate(reader, start=2):
                try:
                    ts = _parse_ts(row[cfg.timestamp_column], cfg) + shift
                    meter = row[cfg.meter_column] if cfg.meter_column else path.stem
                    rule = cfg.rule_for(meter)
                    value = int((Decimal(row[cfg.value_column]) * rule.scale * 1000).to_integral_value())
                except (KeyError, ValueError, InvalidOperation) as exc:
                    raise ReplayError(f"{path}:{line}: {exc!r} in {row}") from None
                rows.append((ts, meter, value))
        per_file.append(_on_grid(rows, cfg.interval_s * 1000))
    yield from heapq.merge(*per_file)


def replay_enterprise(cfg: ReplayConfig, meters: list[str]) -> Enterprise:
    ms = []
    for m in meters:
        rule = cfg.rule_for(m)
        ms.append(Meter(m, rule.energy_type, rule.unit, 0.0, kind=rule.kind))
    return _ReplayEnterprise(cfg.uscc, cfg.name, cfg.region_code, cfg.industry_code, tuple(ms), 0, cfg.gateway_id)


@dataclass(frozen=True)
class _ReplayEnterprise(Enterprise):
    replay_gateway_id: str = ""

    @property
    def gateway_id(self) -> str:
        return self.replay_gateway_id


def plan_replay(cfg: ReplayConfig, paths: list[Path]) -> tuple[Enterprise, list[PlannedBatch]]:
    """Batches of the replayed rows: a batch closes after ``intervals_per_batch`` intervals of time."""
    rows = list(read_rows(cfg, paths))
    if not rows:
        raise ReplayError("the CSV files hold no rows")
    ent = replay_enterprise(cfg, sorted({m for _, m, _ in rows}))
    meters = {m.meter_id: m for m in ent.meters}
    span = cfg.interval_s * 1000 * cfg.intervals_per_batch
    current: list[dict[str, Any]] = []
    batches, window_end, seq = [], None, 0
    source = f"csv/{rows[0][0]}/{rows[-1][0]}/{len(rows)}"
    for ts, meter, value in rows:
        if window_end is not None and ts > window_end and current:
            seq += 1
            batches.append(PlannedBatch(ent, seq, str(_uuid(ent, source, seq)), current))
            current = []
        if not current:
            window_end = ts + span - cfg.interval_s * 1000
        m = meters[meter]
        current.append({"meter_id": meter, "energy_type": m.energy_type, "ts": ts, "value_milli": value,
                        "kind": m.kind, "unit": m.unit, "quality": "GOOD"})
    if current:
        seq += 1
        batches.append(PlannedBatch(ent, seq, str(_uuid(ent, source, seq)), current))
    return ent, batches


def _uuid(ent: Enterprise, source: str, seq: int):
    import uuid

    return uuid.uuid5(BATCH_NAMESPACE, f"{ent.uscc}/{ent.gateway_id}/{source}/{seq}")


def run_replay(settings: Settings, cfg: ReplayConfig, paths: list[Path], ledger: Ledger, speed: float = 0.0,
               spool: bool = True, show_progress: bool = True) -> list[PlannedBatch]:
    """Publish the enterprise's registry record, then send the replayed batches (through the spool)."""
    from ecmon_simulator.runs import replay_source, send_batches

    ent, batches = plan_replay(cfg, paths)
    source = replay_source(ent, batches, cfg.interval_s, f"csv/{cfg.gateway_id}/{batches[0].batch_id}")
    send_batches(settings, source, ledger, speed=speed, spool=spool, show_progress=show_progress)
    return batches


__all__ = ["ReplayConfig", "ReplayError", "plan_replay", "read_rows", "run_replay", "codec", "topics"]
