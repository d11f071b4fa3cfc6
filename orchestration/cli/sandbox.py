"""`backed sandbox up` / `down`: the demo's local chain kept serving, so that the guides' commands (a backfill of
the daily pipeline, chain ingestion) run against it after `make demo` has ended."""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
from datetime import date
from pathlib import Path

import click

from orchestration.cli.console import console_of
from orchestration.cli.parameters import data_home


@click.group("sandbox")
def sandbox_group() -> None:
    """The demo's local chain: `up` brings it back on a fresh anvil, `down` stops it.

    \b
    backed sandbox up      # after `make demo`: the chain of the demo's days, at the URL its deployment names
    backed backfill --from 2026-01-02 --to 2026-01-03
    backed sandbox down
    """


@sandbox_group.command("up")
@click.pass_context
def up(ctx: click.Context) -> None:
    """Start anvil and replay the demo's simulation on it (same seed, days and injections: the same contracts at
    the same addresses, the same blocks), point the data home at it, and leave it serving."""
    from sandbox.anvil import AnvilNode, detached_node
    from sandbox.chain_client import SimulatorMismatch
    from sandbox.simulator import genesis_timestamp, replay

    home = data_home(ctx)
    console = console_of(ctx)
    if not home.sandbox_deployment.exists():
        console.say(f"no sandbox in {home.root}: run `backed demo` first")
        sys.exit(1)
    running = detached_node(home.sandbox_node)
    if running is not None:
        console.say(f"the sandbox chain is already up at {running['rpc_url']} (pid {running['pid']})")
        return
    deployment = json.loads(home.sandbox_deployment.read_text())
    start = date.fromisoformat(deployment["start_date"])
    console.say(f"replaying {deployment['days']} days from {start} (seed {deployment['seed']}) on a fresh anvil")
    node = AnvilNode(genesis_timestamp(start), log_path=home.sandbox_node_log)
    node.start()
    scratch = tempfile.mkdtemp(prefix="sandbox-up-", dir=home.root)
    try:
        try:
            with console.quiet("backed sandbox up"):
                replay(deployment, Path(scratch), node.rpc_url)
        except SimulatorMismatch:
            raise click.ClickException("the replayed chain differs from the demo's (another version of the simulator "
                                       "made the demo?): run `backed demo` again") from None
        deployment["rpc_url"] = node.rpc_url
        home.sandbox_deployment.write_text(json.dumps(deployment, indent=2, sort_keys=True) + "\n")
        pid = node.detach(home.sandbox_node)
    except BaseException:
        node.stop()
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    console.say(f"sandbox chain up at {node.rpc_url} (pid {pid}); `backed sandbox down` stops it")


@sandbox_group.command("down")
@click.pass_context
def down(ctx: click.Context) -> None:
    """Stop the sandbox chain left serving."""
    from sandbox.anvil import stop_detached

    home = data_home(ctx)
    stopped = stop_detached(home.sandbox_node)
    console_of(ctx).say(f"sandbox chain at {stopped['rpc_url']} stopped" if stopped else "no sandbox chain is up")
