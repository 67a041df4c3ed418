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
    timezone: Annotated[str, typer.Option(
        help="Zone of naive timestamps in the data and labels. Default: the detector's calendar, China Standard "
             "Time, so local plant readings keep their hours and weekdays and a NAB file's days stay its own.")]
    = "Asia/Shanghai",
    loco: Annotated[bool, typer.Option(
        help="Also score leave-one-corpus-out: each corpus with the score parameters chosen on the others "
             "(4 parameter sets; about 4 min on 2 cores).")] = True,
    fleet: Annotated[bool, typer.Option(help="Also inject every reading fault into simulated fleets.")] = True,
    fleet_seed: Annotated[int | None, typer.Option(
        help="One fleet of this seed instead of the four documented ones.")] = None,
    fleet_enterprises: Annotated[int | None, typer.Option(
        min=2, help="Enterprises in each simulated fleet (default: the documented fleet's).")] = None,
) -> None:
    """The meter-level detector's NAB scores (standard, low FP, low FN; leave-one-corpus-out), and on simulated
    fleets the analyst's precision and recall per fault type and false findings per meter-week."""
    from rich.progress import Progress

    from ecmon_evaluation import anomaly_eval as ev

    labels = labels or data / "combined_windows.json"
    if not labels.is_file():
        raise typer.BadParameter(f"{labels} does not exist", param_hint="--labels")
    if not data.is_dir():
        raise typer.BadParameter(f"{data} is not a folder", param_hint="--data")
    try:
        corpus = ev.load_corpus(data, labels, timezone)
    except ev.NoSeries as e:
        raise typer.BadParameter(str(e), param_hint="--data/--labels") from None
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--timezone") from None
    results = results or cli_settings().state_dir / "nab-results"
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("NAB series", total=len(corpus))
        report = ev.evaluate_nab(data, labels, results, on_series=lambda key: progress.advance(task), corpus=corpus)
    for table in ev.nab_tables(report):
        console.print(table)
    console.print(f"results files ({len(corpus)} series): {results / ev.DETECTOR_NAME}")
    if loco:
        with Progress(console=console, transient=True) as progress:
            grid = ev.score_grid()
            task = progress.add_task("leave one corpus out: parameter sets", total=len(grid))
            loco_report = ev.leave_one_corpus_out(corpus, grid, on_params=lambda p: progress.advance(task))
        console.print(ev.loco_table(loco_report))
    if fleet:
        seeds = ev.FLEET_SEEDS if fleet_seed is None else (fleet_seed,)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("simulated fleets", total=len(seeds))
            reports = ev.simulate_fleets(seeds, fleet_enterprises or ev.FLEET_ENTERPRISES,
                                         on_seed=lambda r: progress.advance(task))
        console.print(ev.fleet_table(ev.combine_fleets(reports)))
        if len(reports) > 1:
            console.print(ev.seeds_table(reports))
