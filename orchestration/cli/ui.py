"""`backed ui`: the Dagster UI and daemon (`dagster dev`) on the data home's instance."""
from __future__ import annotations

import ipaddress
import os

import click

from orchestration.cli.console import console_of
from orchestration.cli.parameters import data_home


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address the UI listens on. It has no login of its own: keep it on this machine, behind an "
                   "authenticating proxy (docs/guides.md).")
@click.option("--port", default=3000, show_default=True, type=click.IntRange(1, 65535))
@click.pass_context
def ui(ctx: click.Context, host: str, port: int) -> None:
    """Serve the Dagster UI, with the daemon (schedules, sensors, backfills), on this data home's instance."""
    from orchestration.backfills import WORKSPACE_FILE, dagster_command
    from orchestration.instance import dagster_home

    home = data_home(ctx)
    console = console_of(ctx)
    if not _loopback(host):
        console.say(f"warning: the Dagster UI has no login: anyone who reaches {host}:{port} can launch runs and "
                    "backfills. Put it behind an authenticating proxy (docs/guides.md) and listen on 127.0.0.1.")
    environment = {**os.environ, "DAGSTER_HOME": str(dagster_home(home)), "BACKED_HOME": str(home.root)}
    console.say(f"Dagster UI on http://{host}:{port}/ for {home.root} (Ctrl-C stops it)")
    dagster = dagster_command("dagster")
    os.execve(dagster, [dagster, "dev", "-w", str(WORKSPACE_FILE), "-h", host, "-p", str(port)], environment)
