"""`ecmon`: the one command line in front of the whole platform (every command group in its own module)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ecmon_cli import (
    database,
    evaluation,
    gateway,
    operations,
    processes,
    registry,
    reports,
    schemas,
    stack,
    validate,
)
from ecmon_cli.common import console, set_state_dir

app = typer.Typer(help="ecmon: national industrial energy-conservation monitoring platform.", no_args_is_help=True)
app.add_typer(stack.stack_app, name="stack")
app.add_typer(database.db_app, name="db")
app.add_typer(schemas.schemas_app, name="schemas")
app.add_typer(gateway.gateway_app, name="gateway")
app.command()(processes.worker)
app.command()(processes.sink)
app.add_typer(registry.targets_app, name="targets")
app.add_typer(registry.keys_app, name="keys")
app.add_typer(reports.report_app, name="report")
app.add_typer(evaluation.eval_app, name="eval")
app.command()(operations.demo)
app.command()(operations.bench)
app.command()(operations.chaos)
app.command()(validate.validate)


@app.callback()
def main_options(
    state_dir: Annotated[Path | None, typer.Option(
        help="State directory (default .ecmon/, env ECMON_STATE_DIR).")] = None,
) -> None:
    set_state_dir(state_dir)


def main() -> None:
    from ecmon.kafka_clients import KafkaCredentialsMissing

    try:
        app()
    except KafkaCredentialsMissing as exc:  # one line with the fix, not a traceback
        console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
