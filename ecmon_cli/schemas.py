"""`ecmon schemas`: checks and releases of the Avro wire contract."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ecmon_cli.common import console, fail

schemas_app = typer.Typer(help="The Avro wire contract in avro/: evolution and release checks.", no_args_is_help=True)


AvroDirOpt = Annotated[Path | None, typer.Option(
    help="Schema root with v1/, v2/, ... (default: the checkout's avro/).")]


@schemas_app.command("check")
def schemas_check(avro_dir: AvroDirOpt = None) -> None:
    """Fail when a schema is not backward and forward compatible with its previous version, or a released file
    changed."""
    from ecmon import schema_check

    report = schema_check.check(avro_dir or schema_check.AVRO_DIR)
    table = Table(title=f"Avro schemas ({report.root})")
    for col in ("schema", "version", "fingerprint", "status"):
        table.add_column(col)
    styles = {"released": "green", "unreleased": "yellow"}
    for e in report.entries:
        style = styles.get(e.status, "bold red")
        table.add_row(e.short_name, f"v{e.version}", e.fingerprint or "-", f"[{style}]{e.status}[/]")
    console.print(table)
    if not report.ok:
        for problem in report.problems:
            console.print(f"  [red]-[/] {problem}", highlight=False)
        fail(f"{len(report.problems)} problem(s) in the wire contract")
    console.print("every schema is backward and forward compatible with its previous version; released files unchanged")


@schemas_app.command("release")
def schemas_release(avro_dir: AvroDirOpt = None) -> None:
    """Record the sha256 of the newest version's files in released.json: from now on they never change."""
    from ecmon import schema_check

    root = avro_dir or schema_check.AVRO_DIR
    try:
        released = schema_check.release(root)
    except schema_check.ReleaseRefused as exc:
        fail(str(exc))
    table = Table(title=f"released ({root / schema_check.MANIFEST})")
    for col in ("file", "sha256", ""):
        table.add_column(col)
    for r in released:
        table.add_row(r.relpath, r.sha256, "[green]recorded[/]" if r.new else "already released")
    console.print(table)
