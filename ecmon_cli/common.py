"""What every command shares: the console, the settings of this invocation, one-line failures."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from ecmon.settings import Settings, load_settings

console = Console()
_state_dir: Path | None = None


def set_state_dir(state_dir: Path | None) -> None:
    """The global --state-dir option, given before the command."""
    global _state_dir
    _state_dir = state_dir.resolve() if state_dir is not None else None


def cli_settings(**overrides: object) -> Settings:
    """The settings of this invocation: --state-dir, then the command's options, then ECMON_* variables.
    A command calls this once and passes the object down; child processes get it from
    ``Settings.process_env``."""
    if _state_dir is not None:
        overrides = {**overrides, "state_dir": _state_dir}
    return load_settings(**overrides)


def fail(message: str, code: int = 1) -> NoReturn:
    """One line naming the problem and its fix, exit status ``code`` (1; 2 for a bad argument); never a traceback."""
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)
