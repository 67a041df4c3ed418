"""Energy-consumption targets and quotas, as the authorities issue them, onto the compacted targets topic.

A targets file is TOML, one ``[[target]]`` table per target::

    [[target]]
    scope = "PROVINCE"          # or "ENTERPRISE"
    entity_code = "370000"      # GB/T 2260 province code, or the enterprise's USCC
    year = 2026
    month = 10                  # 1-12, or 0 for the whole year
    tce = 2_000_000             # the cap, in tonnes of standard coal equivalent (decimals allowed)
    document = "Shandong 2026 dual-control plan"   # optional

The record key is ``<scope>/<entity_code>/<year>/<month>``, so a revised target replaces the old
one when the topic is compacted, and the worker keeps the newest ``issued_at``.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ecmon import codec, topics
from ecmon.regions import UnknownRegion, province_of
from ecmon.uscc import is_valid_uscc
from ecmon_gateway.delivery import BatchProducer

MGCE_PER_TCE = 10**9


class BadTargets(ValueError):
    """A targets file that cannot be published; the message names the entry and the fix."""


def _record(entry: dict, where: str, issued_at: int) -> dict:
    try:
        scope = entry["scope"]
        code = str(entry["entity_code"])
        year, month = int(entry["year"]), int(entry["month"])
        coal = Decimal(str(entry["tce"])) * MGCE_PER_TCE
    except KeyError as exc:
        raise BadTargets(f"{where}: missing {exc.args[0]!r} (needs scope, entity_code, year, month, tce)") from exc
    except (ValueError, InvalidOperation) as exc:
        raise BadTargets(f"{where}: year and month must be integers and tce a number ({exc})") from exc
    if scope == "PROVINCE":
        try:
            if province_of(code) != code:
                raise BadTargets(f"{where}: {code} is not a province code (GB/T 2260, ending in 0000)")
        except UnknownRegion as exc:
            raise BadTargets(f"{where}: {exc}") from exc
    elif scope == "ENTERPRISE":
        if not is_valid_uscc(code):
            raise BadTargets(f"{where}: {code!r} is not a valid USCC")
    else:
        raise BadTargets(f"{where}: scope must be PROVINCE or ENTERPRISE, not {scope!r}")
    if not 0 <= month <= 12 or not 2000 <= year <= 2100:
        raise BadTargets(f"{where}: month must be 0 (whole year) to 12 and year a calendar year")
    if coal <= 0 or coal != coal.to_integral_value():
        raise BadTargets(f"{where}: tce must be positive with at most 9 decimals")
    return {"scope": scope, "entity_code": code, "year": year, "month": month, "coal_mgce": int(coal),
            "intensity": None, "document": str(entry.get("document", "")), "issued_at": issued_at}


def load_targets(path: Path) -> list[dict]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadTargets(f"cannot read targets file {path}: {exc}") from exc
    entries = data.get("target")
    if not isinstance(entries, list) or not entries:
        raise BadTargets(f"{path}: no [[target]] tables found")
    issued_at = int(time.time() * 1000)
    return [_record(e, f"{path} target #{i + 1}", issued_at) for i, e in enumerate(entries)]


def target_key(record: dict) -> str:
    return f"{record['scope']}/{record['entity_code']}/{record['year']}/{record['month']}"


def publish_targets(connection: str | Mapping[str, Any], records: list[dict]) -> int:
    """``connection``: bootstrap servers, or the registry role's client configuration (scram mode)."""
    producer = BatchProducer(connection, client_id="ecmon-targets")
    for record in records:
        producer.send(topics.TARGETS.name, target_key(record).encode(), codec.encode("target", record))
    producer.flush()
    return len(records)
