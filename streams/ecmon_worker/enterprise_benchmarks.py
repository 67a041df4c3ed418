"""Unit-product energy consumption of an enterprise against its product's quota standard.

Pure functions over JSON-able state, like streams/ecmon_worker/enterprise_rollup.py. The month's output per product
is kept in the ``production-state`` table (key USCC), one value per enterprise::

    {"p": {"3101010000|2026-10": {"1790870400000": [1790956800000, 5200000, "t", 1790960000000, "<batch id>"]}}}
           product | CST month      period_start:  [period_end, quantity_milli, unit, sent_at, batch_id]

One entry per production period, so a corrected figure (same product and period, later ``sent_at``)
replaces the previous one instead of adding to it, and a resend changes nothing: the month's output is
the sum of the entries, whatever order or how often they arrive. Only products with a quota standard
are kept, for the 13 most recent months of each (bounded state).

The month's energy is the enterprise's whole standard-coal total of that month from its rollup state
(``enterprise-state``, the ``m`` totals of streams/ecmon_worker/enterprise_rollup.py), as it stands when the production
figure arrives: the check runs on every production message, so a month is judged again with the readings
that arrived meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ecmon.months import month_start_ms, next_period
from ecmon.quota_standards import QuotaStandard, quantity_in
from ecmon_worker.anomaly_events import anomaly_event

DETECTOR = "enterprise_benchmark"
DETECTOR_VERSION = "1"
ANOMALY_TYPE = "intensity_above_standard"
CRITICAL_RATIO = Fraction(6, 5)  # 20 % above the limit: far outside measurement and allocation error
MONTHS_KEPT = 13


def new_state() -> dict[str, Any]:
    return {"p": {}}


def apply_production(state: dict[str, Any], record: dict[str, Any], month: str) -> bool:
    """Record one accepted production figure; True when the month's output changed.

    The newest ``sent_at`` of a (product, period) wins; an equal or older one is a resend or stale.
    """
    product = record["product_code"]
    months = state["p"].setdefault(f"{product}|{month}", {})
    start = str(record["period_start"])
    entry = [record["period_end"], record["quantity_milli"], record["unit"], record["sent_at"], record["batch_id"]]
    old = months.get(start)
    if old is not None and (old[3], old[4]) >= (entry[3], entry[4]):
        return False
    months[start] = entry
    _trim(state, product)
    return old is None or old[:3] != entry[:3]


def _trim(state: dict[str, Any], product: str) -> None:
    keys = sorted(k for k in state["p"] if k.split("|")[0] == product)
    for key in keys[:-MONTHS_KEPT]:
        del state["p"][key]


def month_output(state: dict[str, Any], product: str, month: str, unit: str) -> Fraction:
    """The month's output of ``product`` in whole ``unit`` (exact)."""
    entries = state["p"].get(f"{product}|{month}", {}).values()
    return sum((quantity_in(e[2], e[1], unit) for e in entries), Fraction(0))


def month_energy_mgce(enterprise_state: dict[str, Any] | None, month: str) -> int:
    """The enterprise's standard coal of ``month`` over every energy type, from its rollup state."""
    if not enterprise_state:
        return 0
    # Read "m" ("energy|unit|YYYY-MM" -> [physical, mgce, readings, version], streams/ecmon_worker/enterprise_rollup.py)
    # directly rather than through month_totals(), which also needs the day buckets: a state restored from
    # an older changelog record may not have them yet, and the month total does not depend on them.
    months = enterprise_state.get("m", {})
    return sum(row[1] for key, row in months.items() if key.rsplit("|", 1)[1] == month)


@dataclass(frozen=True)
class Benchmark:
    uscc: str
    month: str
    standard: QuotaStandard
    energy_mgce: int
    output: Fraction  # in standard.unit

    @property
    def intensity_mgce(self) -> Fraction:
        """Unit-product comprehensive energy consumption, mgce per standard.unit."""
        return Fraction(self.energy_mgce) / self.output

    @property
    def ratio(self) -> Fraction:
        """Intensity over the limit value: above 1 is a breach."""
        return self.intensity_mgce / self.standard.limit_mgce

    @property
    def above_limit(self) -> bool:
        # Cross-multiplied, so the verdict is exact: no division, no float.
        return self.energy_mgce > self.standard.limit_mgce * self.output


def benchmark(uscc: str, month: str, standard: QuotaStandard, production_state: dict[str, Any],
              enterprise_state: dict[str, Any] | None) -> Benchmark | None:
    """The month's benchmark of ``standard``'s product, or None while there is no output to divide by."""
    output = month_output(production_state, standard.product_code, month, standard.unit)
    if output <= 0:
        return None
    return Benchmark(uscc, month, standard, month_energy_mgce(enterprise_state, month), output)


def intensity_anomaly(b: Benchmark, province: str, industry_code: str) -> dict[str, Any]:
    """The anomaly event for a benchmark above its limit; one id per (enterprise, product, month), so
    every later re-judgement of the month replaces it in ClickHouse."""
    s = b.standard
    intensity_kgce = float(b.intensity_mgce / 10**6)
    limit_kgce = float(s.limit_kgce)
    return anomaly_event(
        kind=ANOMALY_TYPE,
        severity="CRITICAL" if b.ratio >= CRITICAL_RATIO else "WARNING",
        level="ENTERPRISE",
        entity_code=b.uscc,
        province=province,
        span_start_ms=month_start_ms(b.month),
        span_end_ms=month_start_ms(next_period(b.month)),
        observed=intensity_kgce,
        expected=limit_kgce,
        score=float(b.ratio),
        detector=DETECTOR,
        detector_version=DETECTOR_VERSION,
        identity=(s.product_code, b.month),
        unit=f"kgce/{s.unit}",
        industry_code=industry_code,
        detail=(f"{s.product_en} {b.month}: {intensity_kgce:,.1f} kgce/{s.unit} is above the limit value "
                f"{limit_kgce:g} kgce/{s.unit} of {s.number} ({s.route}); energy {b.energy_mgce / 10**9:,.3f} tce, "
                f"output {float(b.output):,.3f} {s.unit} so far this month"),
    )
