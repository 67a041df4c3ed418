"""Production output, after admission: accepted figures go on, and the unit-product benchmark is judged.

Table ``production-state`` (streams/ecmon_worker/enterprise_benchmarks.py) is owned here. A month is judged
on the days with both output and readings (``enterprise-state``, read only), when its output arrives and
again whenever readings complete a CST day, so the last judgement of a month never lacks readings that
arrived after its production figures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ecmon.months import month_of
from ecmon.quota_standards import QuotaStandard
from ecmon.regions import province_of
from ecmon_worker import anomaly_events, enterprise_benchmarks
from ecmon_worker.emission import DeferredChangelog
from ecmon_worker.enterprise_benchmarks import ProductionState
from ecmon_worker.outputs import Outputs
from ecmon_worker.production_intake import AcceptedProduction, accepted_message
from ecmon_worker.rollup_steps import Step


class ProductionSteps:
    def __init__(self, production: DeferredChangelog, enterprise_state: Callable[[str], Any]) -> None:
        self.production = production
        self.enterprise_state = enterprise_state

    def take(self, accepted: AcceptedProduction) -> Step:
        """An admitted production output: its accepted message, its judgement, its state to store."""
        step = Step()
        uscc = accepted.uscc
        step.send("production_accepted", uscc.encode(), accepted_message(accepted))
        if accepted.standard is None:
            return step
        state = self.production.get(uscc) or enterprise_benchmarks.new_state()
        changed = enterprise_benchmarks.apply_production(state, accepted.record, accepted.month)
        judged = self._judge(step, uscc, accepted.enterprise, state, [(accepted.standard, accepted.month)])
        if changed or judged:
            step.store[uscc] = state
        return step

    def after_readings(self, uscc: str, enterprise: dict[str, Any], watermark_before: int, partition: int) -> Outputs:
        """Readings completed a CST day: the months with production are judged again."""
        out = Outputs()
        state = self.production.get(uscc)
        if not state or not state.get("p"):
            return out
        months = enterprise_benchmarks.months_to_judge(state, month_of(watermark_before))
        if months and self._judge(out, uscc, enterprise, state, months):
            self.production.put(uscc, partition, state)
        return out

    def _judge(self, out: Outputs, uscc: str, enterprise: dict[str, Any], state: ProductionState,
               months: list[tuple[QuotaStandard, str]]) -> bool:
        """Judge each (standard, month); the events that changed go to ``out``. True when ``state`` changed."""
        changed = False
        province = province_of(enterprise["region_code"])
        for standard, month in months:
            found = enterprise_benchmarks.benchmark(uscc, month, standard, state, self.enterprise_state(uscc))
            event, touched = enterprise_benchmarks.judge(state, found, province, enterprise["industry_code"])
            changed |= touched
            if event is not None:
                out.send("anomalies", uscc.encode(), anomaly_events.encode(event))
        return changed
