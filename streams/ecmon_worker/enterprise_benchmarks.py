"""Unit-product energy consumption of an enterprise against its product's quota standard.

Pure functions over JSON-able state, like streams/ecmon_worker/enterprise_rollup.py. The month's output per product
is kept in the ``production-state`` table (key USCC), one value per enterprise::

    {"p": {"3101010000|2026-10": {"1790870400000": [1790956800000, 5200000, "t", 1790960000000, "<batch id>"]}},
           product | CST month      period_start:  [period_end, quantity_milli, unit, sent_at, batch_id]
     "j": {"3101010000|2026-10": ["31|107000000000|1000000", 1]}}
           product | CST month     [basis of the last judgement, 1 once a warning was raised]

One entry per production period, so a corrected figure (same product and period, later ``sent_at``)
replaces the previous one instead of adding to it, and a resend changes nothing: the month's output is
the sum of the entries, whatever order or how often they arrive. Only products with a quota standard
are kept, for the 13 most recent months of each (bounded state).

The basis (issue 18): output and energy of the same days. Month to date, a judgement covers the CST days
that have a production figure AND whose readings the enterprise has delivered (its event-time watermark
is past the day's end); the energy is that of exactly those days (day buckets of ``enterprise-state``),
within the standard's energy scope (``ecmon.quota_standards.scope_energy_mgce``). Once every day of the
month is covered, the basis is the whole month, converted from the month totals exactly as ``ecmon report
benchmark`` converts them, so the last word of the worker and the month-end report are the same figure.
A month is judged again on every production figure and whenever the watermark completes a day; a warning
raised earlier is replaced (same anomaly id) by an INFO event when a later judgement is within the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TypedDict

from ecmon.months import CST_OFFSET_MS, DAY_MS, day_of_interval, month_start_ms, next_period
from ecmon.quota_standards import QuotaStandard, quantity_in, scope_energy_mgce, standard_for
from ecmon_worker.anomaly_events import anomaly_event
from ecmon_worker.enterprise_state import EnterpriseState

DETECTOR = "enterprise_benchmark"
DETECTOR_VERSION = "2"  # 2: same days for energy and output, standard's scope
ANOMALY_TYPE = "intensity_above_standard"
CRITICAL_RATIO = Fraction(6, 5)  # 20 % above the limit: far outside measurement and allocation error
MONTHS_KEPT = 13


class ProductionState(TypedDict):
    """The value of table ``production-state`` (layout above), owned by streams/ecmon_worker/production_steps.py.
    One version is in use."""

    #: "product|YYYY-MM" -> {period_start (text): [period_end, quantity_milli, unit, sent_at, batch_id]}
    p: dict[str, dict[str, list[Any]]]
    #: "product|YYYY-MM" -> [basis of the last judgement, 1 once a warning was raised]
    j: dict[str, list[Any]]


def new_state() -> ProductionState:
    return {"p": {}, "j": {}}


def apply_production(state: ProductionState, record: dict[str, Any], month: str) -> bool:
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


def _trim(state: ProductionState, product: str) -> None:
    keys = sorted(k for k in state["p"] if k.split("|")[0] == product)
    for key in keys[:-MONTHS_KEPT]:
        del state["p"][key]
        state.get("j", {}).pop(key, None)


def month_output(state: ProductionState, product: str, month: str, unit: str) -> Fraction:
    """The month's output of ``product`` in whole ``unit`` (exact)."""
    entries = state["p"].get(f"{product}|{month}", {}).values()
    return sum((quantity_in(e[2], e[1], unit) for e in entries), Fraction(0))


def month_energy_mgce(enterprise_state: EnterpriseState | None, month: str) -> int:
    """The enterprise's standard coal of ``month`` over every energy type, from its rollup state."""
    if not enterprise_state:
        return 0
    # Read "m" ("energy|unit|YYYY-MM" -> [physical, mgce, readings, version], streams/ecmon_worker/enterprise_rollup.py)
    # directly rather than through month_totals(), which also needs the day buckets: a state restored from
    # an older changelog record may not have them yet, and the month total does not depend on them.
    months = enterprise_state.get("m", {})
    return sum(row[1] for key, row in months.items() if key.rsplit("|", 1)[1] == month)


def _cst_day(ts_ms: int) -> int:
    return (ts_ms + CST_OFFSET_MS) // DAY_MS


def _date(cst_day: int) -> str:
    return day_of_interval((cst_day + 1) * DAY_MS - CST_OFFSET_MS)


def judged_output(state: ProductionState, product: str, month: str, unit: str,
                  watermark_ms: int) -> tuple[Fraction, frozenset[int]]:
    """(output in ``unit``, CST day numbers) of the month's production periods whose days have all been
    delivered in readings (the day's end is at or before ``watermark_ms``)."""
    complete_before = _cst_day(watermark_ms)  # days below this number have ended by the watermark
    output, days = Fraction(0), set[int]()
    for start, entry in state["p"].get(f"{product}|{month}", {}).items():
        first, last = _cst_day(int(start)), _cst_day(entry[0] - 1)
        if last < complete_before:
            output += quantity_in(entry[2], entry[1], unit)
            days.update(range(first, last + 1))
    return output, frozenset(days)


def _month_days(month: str) -> int:
    return (month_start_ms(next_period(month)) - month_start_ms(month)) // DAY_MS


def basis_energy_mgce(standard: QuotaStandard, enterprise_state: EnterpriseState | None, month: str,
                      days: frozenset[int]) -> int:
    """The standard's scope energy of exactly ``days`` of ``month``: the month totals when every day is
    in (the report's basis), else the day buckets of those days."""
    if not enterprise_state:
        return 0
    if len(days) >= _month_days(month):
        rows = enterprise_state.get("m", {})
        wanted = {month}
    else:
        rows = enterprise_state.get("d", {})
        wanted = {_date(d) for d in days}
    physical = []
    for key, row in rows.items():
        energy_type, unit, period = key.split("|")
        if period in wanted:
            physical.append((energy_type, unit, row[0]))
    return scope_energy_mgce(standard, physical)


@dataclass(frozen=True)
class Benchmark:
    uscc: str
    month: str
    standard: QuotaStandard
    energy_mgce: int  # within the standard's scope, of the judged days
    output: Fraction  # in standard.unit, of the judged days
    days: int = 0  # CST days judged (output and energy of the same days)
    month_days: int = 0  # 0: the whole month (a benchmark built by hand)

    @property
    def whole_month(self) -> bool:
        return self.month_days == 0 or self.days >= self.month_days

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

    @property
    def basis(self) -> str:
        """What was judged, so a re-judgement on the same figures is recognised and sends nothing."""
        return f"{self.days}|{self.energy_mgce}|{self.output}"


def benchmark(uscc: str, month: str, standard: QuotaStandard, production_state: ProductionState,
              enterprise_state: EnterpriseState | None) -> Benchmark | None:
    """The month's benchmark of ``standard``'s product on the days with both output and readings, or None
    while there is no output to divide by."""
    watermark = enterprise_state.get("wm", 0) if enterprise_state else 0
    output, days = judged_output(production_state, standard.product_code, month, standard.unit, watermark)
    if output <= 0:
        return None
    energy = basis_energy_mgce(standard, enterprise_state, month, days)
    return Benchmark(uscc, month, standard, energy, output, len(days), _month_days(month))


def months_to_judge(state: ProductionState, since_month: str = "") -> list[tuple[QuotaStandard, str]]:
    """(standard, month) of every product-month kept from ``since_month`` on."""
    out = []
    for key in sorted(state["p"]):
        product, month = key.split("|")
        standard = standard_for(product)
        if standard is not None and month >= since_month:
            out.append((standard, month))
    return out


def judge(state: ProductionState, b: Benchmark | None, province: str,
          industry_code: str) -> tuple[dict[str, Any] | None, bool]:
    """(anomaly event to send or None, whether ``state`` changed) for a fresh judgement of a month.

    A breach sends its event; a judgement within the limit sends an INFO event with the same id only when
    an earlier judgement of the month had warned, so no warning stands that the month's figures no longer
    support. The same basis judged again sends nothing."""
    if b is None:
        return None, False
    key = f"{b.standard.product_code}|{b.month}"
    judged = state.setdefault("j", {})
    last_basis, warned = judged.get(key, ["", 0])
    if last_basis == b.basis:
        return None, False
    if b.above_limit:
        judged[key] = [b.basis, 1]
        return intensity_anomaly(b, province, industry_code), True
    judged[key] = [b.basis, warned]
    return (intensity_anomaly(b, province, industry_code) if warned else None), True


def _basis_text(b: Benchmark) -> str:
    if b.whole_month:
        return "the whole month (output and energy of every day)"
    return (f"month to date: the {b.days} of {b.month_days} days with both output and readings, output and "
            "energy of the same days; the month-end figure is judged on the whole month")


def intensity_anomaly(b: Benchmark, province: str, industry_code: str) -> dict[str, Any]:
    """The anomaly event of a month's judgement; one id per (enterprise, product, month), so every later
    re-judgement of the month replaces it in ClickHouse. Above the limit: WARNING (CRITICAL from 120 %);
    within it (a warning withdrawn): INFO."""
    s = b.standard
    intensity_kgce = float(b.intensity_mgce / 10**6)
    limit_kgce = float(s.limit_kgce)
    if b.above_limit:
        severity = "CRITICAL" if b.ratio >= CRITICAL_RATIO else "WARNING"
        verdict = f"is above the limit value {limit_kgce:g} kgce/{s.unit}"
    else:
        severity = "INFO"
        verdict = f"is within the limit value {limit_kgce:g} kgce/{s.unit} (an earlier warning is withdrawn)"
    return anomaly_event(
        kind=ANOMALY_TYPE,
        severity=severity,
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
        detail=(f"{s.product_en} {b.month}: {intensity_kgce:,.1f} kgce/{s.unit} {verdict} of {s.number} "
                f"({s.route}); energy {b.energy_mgce / 10**9:,.3f} tce in the standard's scope ({s.scope}), "
                f"output {float(b.output):,.3f} {s.unit}; basis: {_basis_text(b)}"),
    )
