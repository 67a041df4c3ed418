"""One PNG per industry profile: a week of 15-minute readings of each of its meters (docs/gateways.md).

matplotlib with the Agg backend: no display needed, the same pixels on a server and in CI.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: never look for a display
import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from ecmon.months import CST
from ecmon_simulator.fleet import MeterReader, build_fleet
from ecmon_simulator.profiles import PROFILES

INTERVAL_MS = 900_000


def week_of_readings(industry_code: str, first_day: date, seed: int) -> tuple[list[datetime], dict[str, list[float]]]:
    """A week of one simulated enterprise of the industry: times (CST) and values per meter."""
    industries = list(PROFILES)
    fleet = build_fleet(len(industries), ("370000",), seed)
    ent = fleet[industries.index(industry_code)]
    reader = MeterReader(ent)
    start_ms = int(datetime(first_day.year, first_day.month, first_day.day, tzinfo=CST).timestamp() * 1000)
    times: list[datetime] = []
    values: dict[str, list[float]] = {f"{m.meter_id} {m.energy_type} ({m.unit})": [] for m in ent.meters}
    labels = list(values)
    for k in range(1, 7 * 96 + 1):
        ts = start_ms + k * INTERVAL_MS
        sent, _ = reader.read(ts)
        times.append(datetime.fromtimestamp(ts / 1000, CST))
        for label, reading in zip(labels, sent):
            values[label].append(reading["value_milli"] / 1000)
    return times, values


def plot_profiles(out_dir: Path, week_of: str = "2026-10-12", seed: int = 2026) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    first_day = date.fromisoformat(week_of)
    written = []
    for code, profile in PROFILES.items():
        times, values = week_of_readings(code, first_day, seed)
        fig, axes = plt.subplots(len(values), 1, figsize=(11, 2.3 * len(values) + 0.8), sharex=True, squeeze=False)
        for ax, (label, series) in zip(axes[:, 0], values.items()):
            ax.plot(times, series, linewidth=0.9, color="#1f5fa8")
            ax.fill_between(times, series, alpha=0.15, color="#1f5fa8")
            ax.set_ylabel("per 15 min", fontsize=8)
            ax.set_title(label, fontsize=9, loc="left")
            ax.set_ylim(bottom=0)
            ax.grid(True, alpha=0.3)
        ax = axes[-1, 0]
        ax.xaxis.set_major_locator(mdates.DayLocator(tz=CST))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %m-%d", tz=CST))
        fig.suptitle(f"{profile.label} (GB/T 4754 {code}): week of {week_of}, China Standard Time\n"
                     f"{profile.description}", fontsize=10)
        fig.tight_layout()
        path = out_dir / f"profile-{profile.label}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written
