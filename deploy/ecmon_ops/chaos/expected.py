"""What a trial's fleet must end up as in ClickHouse, and whether it does.

The expected totals come from the fleet's plan: the spooled gateway delivers every planned batch
exactly once from the platform's point of view (resends carry the same batch identity), so "what the
gateways sent" is the plan once the spool is empty and every gateway's source position is at its end.
The gateway's own ``ledger.json`` is cross-checked against the plan and must equal it, also after the
gateway was killed with SIGKILL: it is saved before acknowledged batches leave the spool.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from clickhouse_driver import Client

from ecmon_reports.report import Reconciliation, latest_aggregates, reconcile
from ecmon_simulator.faults import FaultPlan
from ecmon_simulator.fleet import plan_batches
from ecmon_simulator.ledger import Ledger
from ecmon_simulator.runs import FleetRun, numbered

Key = tuple[str, str]  # (province, 'YYYY-MM')


def planned_ledger(run: FleetRun, electricity_method: str, bases: Mapping[str, int] | None = None) -> Ledger:
    """The ledger a gateway running ``run`` to the end without interruption would write. ``bases``: where each
    gateway's sequence counter stood before the run (``ecmon_gateway.sequences``): a gateway that sent before
    numbers the run's batches after it, with batch ids of their own (``ecmon_simulator.runs.numbered``)."""
    ledger = Ledger(electricity_method=electricity_method)
    plan = FaultPlan.parse(run.faults)
    for ent in run.fleet():
        base = (bases or {}).get(ent.gateway_id, 0)
        for planned in plan_batches(ent, run.start_ms, run.end_ms, run.interval_s, run.intervals_per_batch, plan):
            batch = numbered(planned, base, run.start_ms)
            ledger.add(batch.batch_id, ent.province, ent.uscc, batch.countable)
    return ledger


def merge(into: Ledger, other: Ledger) -> None:
    for batch_id in other.batch_ids:
        into.batch_ids.add(batch_id)
    for key, (phys, mgce, n) in other.totals.items():
        row = into.totals[key]
        row[0] += phys
        row[1] += mgce
        row[2] += n


def enterprise_totals(client: Client, database: str, usccs: set[str]) -> dict[tuple, list[int]]:
    """(uscc, energy_type, unit, 'YYYY-MM') -> [physical_milli, coal_mgce, readings] as ClickHouse holds them."""
    out: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in latest_aggregates(client, database, "ENTERPRISE"):
        if row["entity"] in usccs:
            cell = out[(row["entity"], row["energy_type"], row["unit"], row["period"][:7])]
            cell[0] += row["physical_milli"]
            cell[1] += row["coal_mgce"]
            cell[2] += row["readings"]
    return dict(out)


@dataclass(frozen=True)
class TrialCheck:
    """A trial's verdict. Each trial owns one (province, month), so its levels are judged on their own;
    the nation per month is judged against every trial of that month, and the whole run against the
    cumulative plan (``cumulative``, the same check as ``ecmon report``)."""

    key: Key
    planned: list[int]  # [coal_mgce, readings]
    enterprise: list[int]
    province: list[int]
    prefecture: list[int] | None
    national_ok: bool
    per_enterprise_ok: bool  # every enterprise x energy x unit: physical, coal and readings
    cumulative: Reconciliation

    @property
    def exact(self) -> bool:
        levels = [self.enterprise, self.province] + ([self.prefecture] if self.prefecture is not None else [])
        return all(level == self.planned for level in levels) and self.national_ok and self.per_enterprise_ok

    def shortfall(self) -> str:
        """How far ClickHouse is from the plan, for a trial that did not reconcile."""
        parts = [f"readings planned {self.planned[1]:,}", f"enterprise {self.enterprise[1]:,}",
                 f"province {self.province[1]:,}"]
        if self.prefecture is not None:
            parts.append(f"prefecture {self.prefecture[1]:,}")
        parts.append("national ok" if self.national_ok else "national differs")
        if not self.per_enterprise_ok:
            parts.append("per-enterprise totals differ")
        return ", ".join(parts)


def check_trial(client: Client, database: str, key: Key, trial: Ledger, everything: Ledger) -> TrialCheck:
    cumulative = reconcile(client, database, everything.by_province_month())
    period = key[1]
    month_sent = [0, 0]
    for (_, p), (mgce, n) in cumulative.sent.items():
        if p == period:
            month_sent[0] += mgce
            month_sent[1] += n
    national_ok = cumulative.national_level.get(period) == month_sent
    usccs = {k[1] for k in trial.totals}
    wanted = {(uscc, energy, unit, p): list(v) for (_prov, uscc, energy, unit, p), v in trial.totals.items()}
    return TrialCheck(
        key=key,
        planned=trial.by_province_month().get(key, [0, 0]),
        enterprise=cumulative.enterprise_level.get(key, [0, 0]),
        province=cumulative.province_level.get(key, [0, 0]),
        prefecture=cumulative.prefecture_level.get(key),
        national_ok=national_ok,
        per_enterprise_ok=enterprise_totals(client, database, usccs) == wanted,
        cumulative=cumulative,
    )
