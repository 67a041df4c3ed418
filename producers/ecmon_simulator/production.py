"""Daily production output of the simulated enterprises, tied to their energy use.

Unit-product energy consumption (kgce per tonne of clinker, of crude steel, ...) needs output beside
consumption. Each enterprise reports one ProductionOutput per CST day on which it sent readings, for its
main product; the quantity follows the day's activity of the product's own process (the profile's load,
so a kiln stoppage shows in both series alike and a faulty meter does not change the output), scaled so
that the enterprise's unit consumption is realistic (``ecmon_simulator.unit_consumption``).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from ecmon.months import CST_OFFSET_MS, DAY_MS
from ecmon_gateway.signed_messages import encode_signed
from ecmon_simulator.fleet import Enterprise, PlannedBatch, signing_key
from ecmon_simulator.profiles import PROFILES
from ecmon_simulator.unit_consumption import day_activity, output_per_activity

PRODUCTION_NAMESPACE = uuid.UUID("0b6f3f0e-7f44-4a4b-9d0e-5f3c2b1a9e11")


def daily_main_consumption(batches: Iterable[PlannedBatch]) -> dict[tuple[str, int], int]:
    """(uscc, CST day number) -> the main meter's counted consumption that day, in thousandths."""
    totals: dict[tuple[str, int], int] = defaultdict(int)
    for batch in batches:
        main = batch.enterprise.meters[0].meter_id
        for r in batch.countable:
            if r["meter_id"] == main:
                # an interval stamped 00:00 belongs to the day it closes
                totals[(batch.enterprise.uscc, (r["ts"] - 1 + CST_OFFSET_MS) // DAY_MS)] += r["value_milli"]
    return totals


def daily_output_milli(ent: Enterprise, day: int) -> int:
    """The enterprise's output on CST day number ``day``, in thousandths of its product's unit."""
    profile = ent.profile
    driver_mean = sum(m.mean_per_interval for m in ent.meters if m.process == profile.product.driver)
    per_activity = output_per_activity(profile, ent.seed, driver_mean)
    return round(day_activity(profile, ent.seed, day * DAY_MS - CST_OFFSET_MS) * per_activity * 1000)


def production_records(fleet: list[Enterprise], batches: Iterable[PlannedBatch],
                       sent_at_ms: int) -> list[tuple[Enterprise, dict]]:
    """One record per enterprise and CST day on which its main meter reported."""
    by_uscc = {e.uscc: e for e in fleet}
    records = []
    for uscc, day in sorted(daily_main_consumption(batches)):
        ent = by_uscc[uscc]
        product = PROFILES[ent.industry_code].product
        start = day * DAY_MS - CST_OFFSET_MS
        records.append((ent, {
            "uscc": uscc,
            "gateway_id": ent.gateway_id,
            "batch_id": str(uuid.uuid5(PRODUCTION_NAMESPACE, f"{uscc}/{product.code}/{day}")),
            "sent_at": sent_at_ms,
            "key_id": ent.key_id,
            "signature": b"",
            "product_code": product.code,
            "product_name": product.name,
            "quantity_milli": daily_output_milli(ent, day),
            "unit": product.unit,
            "period_start": start,
            "period_end": start + DAY_MS,
        }))
    return records


def encode_production(ent: Enterprise, record: dict, state_dir: Path) -> bytes:
    """Signed like a reading batch: the enterprise's Ed25519 signature over the message encoded with an
    empty signature, under the key its gateway signs with now."""
    key_id, private_key = signing_key(ent, state_dir)
    return encode_signed("production_output", {**record, "key_id": key_id}, private_key)
