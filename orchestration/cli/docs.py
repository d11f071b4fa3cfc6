"""`backed docs`: dbt's docs of the warehouse, generated into the data home and served (registered by cli.py)."""
from __future__ import annotations

import functools
import json
import signal
import shutil
import subprocess
import sys
import tempfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click

from orchestration.cli.parameters import data_home

# What dbt's docs site is made of; the rest of a dbt target folder (compiled SQL, logs) is not kept.
SITE_FILES = ("index.html", "manifest.json", "catalog.json")


def generate_dbt_docs(project_dir: Path, warehouse: Path, lake: Path, site: Path) -> Path:
    """Run `dbt docs generate` against the warehouse and lake and put the site in `site`. Without a warehouse yet the
    catalog (column types) is empty: the models, their docs and their lineage are all there."""
    dbt = Path(sys.executable).with_name("dbt")
    dbt_vars = {"warehouse_path": str(warehouse), "lake_path": str(lake)}
    with tempfile.TemporaryDirectory(prefix="dbt-docs-") as target:
        command = [str(dbt), "docs", "generate", "--quiet", "--project-dir", str(project_dir),
                   "--profiles-dir", str(project_dir), "--target-path", target, "--vars", json.dumps(dbt_vars)]
        if not warehouse.exists():
            command.append("--empty-catalog")
            warehouse.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise click.ClickException(f"dbt docs generate failed:\n{(done.stdout + done.stderr)[-3000:]}")
        site.mkdir(parents=True, exist_ok=True)
        for name in SITE_FILES:
            shutil.copyfile(Path(target) / name, site / name)
    return site


@click.command("docs")
@click.option("--port", default=8580, show_default=True, type=click.IntRange(1, 65535),
              help="Serve the site on http://localhost:PORT/.")
@click.option("--no-serve", is_flag=True, help="Generate the site only.")
@click.pass_context
def docs(ctx: click.Context, port: int, no_serve: bool) -> None:
    """dbt's docs: every model, its columns and tests, and the lineage lake -> staging -> marts -> reconciliation
    and attestation. Written to reports/dbt_docs under the data home."""
    from assets.ledger import DBT_PROJECT_DIR

    home = data_home(ctx)
    site = generate_dbt_docs(DBT_PROJECT_DIR, home.warehouse, home.lake, home.dbt_docs)
    click.echo(f"dbt docs written to {site}")
    if no_serve:
        return
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site))
    # Stopped as by Ctrl-C when terminated (a service manager's stop, a test's teardown): the libraries loaded above
    # may have taken SIGTERM's default away.
    signal.signal(signal.SIGTERM, _interrupt)
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        click.echo(f"dbt docs: http://localhost:{port}/ (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
