"""`ecmon worker` and `ecmon sink`: the long-running processes of the platform."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ecmon_cli.common import cli_settings


def worker(loglevel: Annotated[str, typer.Option(help="Log level.")] = "INFO") -> None:
    """Run one Faust stream worker (start more to share the partitions)."""
    from ecmon_worker.topology import run_worker

    sys.argv = [sys.argv[0]]  # Faust's worker reads sys.argv; it must not see ours
    run_worker(cli_settings(), loglevel=loglevel)


def sink() -> None:
    """Run one ClickHouse sink (consumes the output topics, writes ClickHouse)."""
    import logging

    from ecmon.observability import serve_metrics
    from ecmon_sink.writer import ClickHouseSink

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = cli_settings()
    serve_metrics(settings, "sink")
    ClickHouseSink(settings).run()
