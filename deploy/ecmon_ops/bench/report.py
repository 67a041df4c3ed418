"""The benchmark's console report: every stage against the same-run baseline, then issue 19's targets."""

from __future__ import annotations

from typing import cast

from rich.console import JustifyMethod
from rich.table import Table

GIB = 2**30
TARGET_METERS = 1_000_000


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def _rate_target(name: str, per_s: float | None, base: float, target: float, note: str = "") -> dict:
    return {"figure": name, "value": per_s, "unit": "readings/s", "ratio": None if per_s is None else per_s / base,
            "target": f">= {target:,.0f} readings/s", "met": per_s is not None and per_s >= target, "note": note}


def targets(result: dict) -> list[dict]:
    """Issue 19's targets against this run's figures; a figure the run did not measure is None (not met)."""
    base = result["baseline"]["readings_per_s"]
    workers = result["worker"]["workers"]
    one = "one process" if workers == 1 else f"{workers} processes (the target is for one)"
    lat = result["latency"]
    p99 = lat["p99_s"]
    drain = result.get("drain")
    rows = [
        _rate_target(f"worker steady, {one}", result["worker"]["steady_readings_per_s"], base, 100_000,
                     "from its first commit"),
        _rate_target("sink", result["sink"]["readings_per_s"], base, 150_000, "until ClickHouse reconciles"),
        _rate_target("drain", drain and drain["steady_readings_per_s"], base, 50_000,
                     "pre-loaded topic, worker + sink running, until ClickHouse reconciles exactly"),
        _rate_target("end to end", result["e2e"]["readings_per_s"], base, 40_000,
                     "second fleet, gateway sharing cores"),
        {"figure": f"p99 reading -> ClickHouse at {lat['offered_per_s']:,.0f} readings/s offered", "value": p99,
         "unit": "s", "ratio": None, "target": "<= 2 s",
         "met": p99 is not None and p99 <= 2.0 and lat["visible"] == lat["batches"],
         "note": f"{lat['visible']:,}/{lat['batches']:,} batches seen"},
    ]
    st = result.get("state_phase")
    if st is None:
        rows.append({"figure": f"worker RSS with {TARGET_METERS:,} meters loaded", "value": None, "unit": "GiB",
                     "ratio": None, "target": "<= 1.5 GiB, measured", "met": False, "note": "state phase not run"})
    else:
        how = "extrapolated" if st["rss_at_target_extrapolated"] else "measured"
        rows.append({
            "figure": f"worker RSS with {st['target_meters']:,} meters loaded",
            "value": st["rss_at_target_bytes"] / GIB,
            "unit": "GiB", "ratio": None, "target": "<= 1.5 GiB, measured",
            "met": not st["rss_at_target_extrapolated"] and st["target_meters"] >= TARGET_METERS
            and st["rss_at_target_bytes"] <= 1.5 * GIB,
            "note": f"{how}: {st['outcome']}, {st['meters_reached']:,} meters reached, "
                    f"{st['rss_bytes_per_meter']:,.0f} B RSS and {st['changelog_disk_bytes_per_meter']:,.0f} B "
                    "changelog per meter"})
    bare = result.get("bare_faust")
    if bare is not None:
        rows.append({"figure": "bare-job Faust (decode, exact sums, emit on a cadence)",
                     "value": bare["steady_readings_per_s"], "unit": "readings/s",
                     "ratio": bare["steady_readings_per_s"] / base, "target": "(the framework's share)", "met": None,
                     "note": "from its first commit"})
    return rows


def _value(t: dict) -> str:
    if t["value"] is None:
        return "not measured"
    if t["unit"] == "readings/s":
        return f"{t['value']:,.0f} readings/s"
    return f"{t['value']:.2f} {t['unit']}"


def targets_table(result: dict) -> Table:
    table = Table(title=f"issue 19 targets (baseline {result['baseline']['readings_per_s']:,.0f} readings/s, same run)")
    for col in ("figure", "measured", "vs baseline", "target", "met?", "note"):
        justify: JustifyMethod = "right" if col in ("measured", "vs baseline") else "left"
        table.add_column(col, justify=justify)
    for t in result["targets"]:
        met = "" if t["met"] is None else "[green]met[/]" if t["met"] else "[red]not met[/]"
        table.add_row(t["figure"], _value(t), "" if t["ratio"] is None else f"{t['ratio']:.1%}", t["target"], met,
                      t["note"])
    return table


def stages_table(result: dict) -> Table:
    base = result["baseline"]["readings_per_s"]
    table = Table(title=f"ecmon bench: {result['load']['readings']:,} readings, {result['machine']['nproc']} cores, "
                        f"{result['machine']['cpu_model']}")
    for col, justify in (("stage", "left"), ("figure", "right"), ("vs baseline", "right"), ("note", "left")):
        table.add_column(col, justify=cast(JustifyMethod, justify))

    def row(stage: str, per_s: float, how: str) -> None:
        table.add_row(stage, f"{per_s:,.0f} readings/s", f"{per_s / base:.1%}", how)

    row("baseline consumer", base, "plain consumer + fastavro decode")
    row("gateway", result["gateway"]["readings_per_s"], "until Kafka acked all")
    w = result["worker"]
    row("worker", w["readings_per_s"], f"{w['seconds']:.1f} s incl. start-up, {w['workers']} process(es)")
    row("worker (steady)", w["steady_readings_per_s"], "after its first commit")
    if len(w.get("shares", [])) > 1:
        table.add_row("  readings per worker", " / ".join(f"{s['readings'] or 0:,.0f}" for s in w["shares"]), "",
                      f"batches per partition: {' '.join(str(b) for b in w['batches_per_partition'].values())}")
    if "bare_faust" in result:
        b = result["bare_faust"]
        row("bare-job Faust (steady)", b["steady_readings_per_s"], f"{b['seconds']:.1f} s incl. start-up")
    s = result["sink"]
    row("sink", s["readings_per_s"], f"{s['rows_per_s']:,.0f} rows/s")
    if "drain" in result:
        d = result["drain"]
        row("drain", d["steady_readings_per_s"], f"{d['seconds']:.1f} s incl. restart; "
            f"{d['readings_per_s']:,.0f}/s counted from the restart")
    e = result["e2e"]
    row("end to end", e["readings_per_s"], f"{e['seconds']:.1f} s, 2nd fleet")
    lat = result["latency"]

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f} s"

    table.add_section()
    table.add_row("latency p50 / p99", f"{fmt(lat['p50_s'])} / {fmt(lat['p99_s'])}", "",
                  f"{lat['achieved_per_s']:,.0f}/s, {lat['visible']:,}/{lat['batches']:,} seen")
    sig = result.get("signature")
    if sig:
        table.add_row("signature check / batch", f"{sig['check_us_per_batch']:,.0f} µs", "",
                      f"Ed25519 verify {sig['verify_us_per_batch']:,.0f} µs of it; {sig['readings']}-reading batch")
    mem, st = result["memory"], result["state"]
    table.add_row("peak RSS worker / sink", f"{' + '.join(_mib(b) for b in mem['worker_peak_rss_bytes'])} / "
                  f"{_mib(mem['sink_peak_rss_bytes'])}", "", "VmHWM")
    parts = " + ".join(f"{name} {t['value_bytes'] / t['meters']:,.0f}" for name, t in st["tables"].items()
                       if t["meters"])
    table.add_row("worker state / meter", f"{st['value_bytes_per_meter']:,.0f} B", "",
                  f"newest changelog values: {parts}; {st['python_bytes_per_meter']:,.0f} B as Python (JSON values)")
    return table
