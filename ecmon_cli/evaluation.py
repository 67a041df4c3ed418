"""`ecmon eval`: the detectors against labelled data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ecmon_cli.common import cli_settings, console

eval_app = typer.Typer(help="Evaluations of the detectors against labelled data.", no_args_is_help=True)
_NAB_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "nab"


@eval_app.command("anomalies")
def eval_anomalies(
    data: Annotated[Path, typer.Option(help="Folder laid out like NAB's data/: <corpus>/<series>.csv.")] = _NAB_DIR,
    labels: Annotated[Path | None, typer.Option(
        help="NAB-style windows file (default: DATA/combined_windows.json).")] = None,
    results: Annotated[Path | None, typer.Option(
        help="Where the NAB results files go (default: <state dir>/nab-results).")] = None,
    fleet: Annotated[bool, typer.Option(help="Also inject every reading fault into a simulated fleet.")] = True,
    fleet_seed: Annotated[int | None, typer.Option(
        help="Seed of the simulated fleet, its plants and its faults (default: the documented fleet's).")] = None,
    fleet_enterprises: Annotated[int | None, typer.Option(
        min=2, help="Enterprises in the simulated fleet (default: the documented fleet's).")] = None,
) -> None:
    """The meter-level detector's NAB score (standard profile), window precision/recall/F1/delay, and fleet
    recall/precision."""
    import json

    from rich.progress import Progress

    from ecmon_evaluation import anomaly_eval as ev

    labels = labels or data / "combined_windows.json"
    if not labels.exists():
        raise typer.BadParameter(f"{labels} does not exist", param_hint="--labels")
    results = results or cli_settings().state_dir / "nab-results"
    keys = [k for k in json.loads(labels.read_text()) if (data / k).exists()]
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("NAB series", total=len(keys))
        report = ev.evaluate_nab(data, labels, results, on_series=lambda key: progress.advance(task))
    for table in ev.nab_tables(report):
        console.print(table)
    console.print(f"results files: {results / ev.DETECTOR_NAME}")
    if fleet:
        with Progress(console=console, transient=True) as progress:
            enterprises = fleet_enterprises or ev.FLEET_ENTERPRISES
            task = progress.add_task("simulated fleet", total=enterprises)
            fleet_report = ev.simulate_fleet(enterprises, seed=ev.FLEET_SEED if fleet_seed is None else fleet_seed,
                                             on_enterprise=lambda: progress.advance(task))
        console.print(ev.fleet_table(fleet_report))
