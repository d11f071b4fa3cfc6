"""What a person sees of a `backed` command: the command's own lines on the terminal, one per phase; what dbt,
Dagster and the libraries print (and their warnings) goes to the data home's command log (`logs/backed.log`), on the
terminal too with `--verbose`. An unexpected error is one line naming the log; its traceback is in the log, and on
the terminal with `--debug`."""
from __future__ import annotations

import contextlib
import logging
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

import click


@dataclass
class Console:
    log_path: Path
    verbose: bool = False
    debug: bool = False
    terminal: TextIO = field(default_factory=lambda: sys.stderr)
    _in_phase: bool = field(default=False, init=False)

    def say(self, message: str) -> None:
        """A line for the person at the terminal, whatever the command's output is sent to."""
        click.echo(message, file=self.terminal)

    @contextlib.contextmanager
    def quiet(self, what: str) -> Iterator[None]:
        """While `what` runs, what it prints and warns goes to the log (and the terminal too, with --verbose)."""
        if self.verbose:
            yield
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(f"\n=== {datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} {what}\n")
            log.flush()
            capture = logging.getLogger("py.warnings")
            handler = logging.StreamHandler(log)
            logging.captureWarnings(True)
            capture.addHandler(handler)
            capture.propagate = False
            try:
                with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                    yield
            finally:
                capture.removeHandler(handler)
                logging.captureWarnings(False)

    @property
    def draws_bars(self) -> bool:
        """Progress bars on a terminal; not in a log, CI, or with --verbose (the libraries' output shows instead)."""
        return self.terminal.isatty() and not self.verbose

    @contextlib.contextmanager
    def phase(self, description: str, total: int | None = None) -> Iterator[Callable[..., None]]:
        """A phase of a long command. On a terminal: a progress bar while it runs (a spinner while its size is not
        known), then one line saying it is done and how long it took. Elsewhere (a log, CI): its line when it starts.
        Yields `update(done, total=None)`."""
        if not self.draws_bars or self._in_phase:
            # (a phase within a phase, as a reorganisation's ingestion during the simulation, is a line)
            self.say(description)
            yield lambda done, total=None: None
            return
        from rich.console import Console as RichConsole
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        started = time.monotonic()
        self._in_phase = True
        with contextlib.ExitStack() as ending:
            ending.callback(setattr, self, "_in_phase", False)
            progress = ending.enter_context(Progress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), console=RichConsole(file=self.terminal), transient=True,
                # what the phase's work prints stays where `quiet` sends it, not above the bar
                redirect_stdout=False, redirect_stderr=False))
            task = progress.add_task(description, total=total)

            def update(done: int, total: int | None = None) -> None:
                progress.update(task, completed=done, **({"total": total} if total else {}))

            yield update
        self.say(f"{description}: done in {time.monotonic() - started:.0f} s")

    def fail(self, error: BaseException) -> None:
        """One line for an error no command foresaw; its traceback in the log."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(f"\n=== {datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} error\n")
            traceback.print_exception(error, file=log)
        lines = str(error).strip().splitlines() or [type(error).__name__]
        self.say(f"error: {lines[0]}")
        for line in lines[1:6]:  # a failed run's steps, each with its own error
            self.say(f"  {line}")
        self.say(f"details: {self.log_path} (run with --debug to see the traceback here)")


def console_of(ctx: click.Context) -> Console:
    """The command's console, made by the `backed` group from its --verbose and --debug."""
    return (ctx.find_root().obj or {})["console"]
