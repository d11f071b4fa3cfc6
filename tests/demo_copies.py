"""Copies of a finished demo home (the session fixture `clean_demo`) for tests that run its pipeline again: the
chain brought back, and what the home holds (lake files, warehouse tables) in a comparable form.

`run_demo` stops its anvil node when it returns, so a copy of its home (the session fixture `clean_demo`) has a
lake, a warehouse and an inbox but no node to read the chain from. The simulator is deterministic: the same start,
days, seed and injections on a fresh anvil with the same genesis timestamp mine the same blocks (same hashes), in
well under a second for a few days. `revived_chain` does that into a scratch folder and points a home's
`sandbox/deployment.json` at the new node; everything else in the home is left as the demo wrote it. A revived
chain that differed would show at once: the chain assets check every recorded block hash against the node and
record a reorganisation (`lake/chain_reorgs`) on any difference.
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from foundation.home import DataHome


def copy_of_demo(clean_demo, tmp_path_factory, name: str) -> tuple[Path, Path, Path]:
    """(the demo's home, a new scratch folder, a copy of the demo's home in it) for a test that runs it again."""
    import shutil

    demo, _ = clean_demo
    tmp_path = tmp_path_factory.mktemp(name)
    home = tmp_path / "home"
    shutil.copytree(demo, home)
    return demo, tmp_path, home


@contextlib.contextmanager
def revived_chain(demo_home: Path, scratch: Path) -> Iterator[str]:
    """A fresh anvil carrying the demo's chain again; yields its RPC URL (see `point_at`)."""
    from sandbox.anvil import AnvilNode
    from sandbox.simulator import genesis_timestamp, replay

    deployment = json.loads((demo_home / "sandbox" / "deployment.json").read_text())
    with AnvilNode(genesis_timestamp(date.fromisoformat(deployment["start_date"]))) as node:
        replay(deployment, scratch, node.rpc_url)  # a SimulatorMismatch (an AssertionError) fails the test
        yield node.rpc_url


def point_at(home: Path, rpc_url: str) -> None:
    """Make `home`'s sandbox profile read the chain from `rpc_url` (the only field of deployment.json changed)."""
    path = home / "sandbox" / "deployment.json"
    deployment = json.loads(path.read_text())
    deployment["rpc_url"] = rpc_url
    path.write_text(json.dumps(deployment, indent=2, sort_keys=True) + "\n")


@contextlib.contextmanager
def daily_pipeline_on(demo_home: Path, home: Path, scratch: Path) -> Iterator[tuple]:
    """(the Definitions' `daily_pipeline` job, the Dagster instance) of `home`, a copy of the demo, with its chain
    revived in `scratch` and DAGSTER_HOME and BACKED_HOME pointing at the copy until the block ends."""
    import pytest

    from orchestration.definitions import build_definitions
    from orchestration.instance import instance_for

    with pytest.MonkeyPatch.context() as env, revived_chain(demo_home, scratch) as rpc_url:
        env.setenv("DAGSTER_HOME", str(home / "dagster"))
        env.setenv("BACKED_HOME", str(home))
        point_at(home, rpc_url)
        yield build_definitions(home, "sandbox").resolve_job_def("daily_pipeline"), instance_for(home)


# ------------------------------------------------------------------------------------- what a home holds

def is_temporary(path: Path) -> bool:
    """A file being written (Lake writes `.<name>.<random>.tmp` and renames it): never data."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def lake_files(home: Path, day: date | None = None) -> dict[str, str]:
    """sha256 of every data file of the lake and the quarantine (of `day`'s partitions only, when given), by path.

    The partition locks (`.lock`, empty) and files still being written (`is_temporary`) are not data."""
    import hashlib

    found = {}
    for folder in ("lake", "quarantine"):
        for path in sorted((home / folder).rglob("*")):
            if not path.is_file() or path.name == ".lock" or is_temporary(path):
                continue
            if day is not None and f"date={day.isoformat()}" not in path.parts:
                continue
            found[str(path.relative_to(home))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def table_digest(home: Path, table: str, order_by: str) -> tuple[int, str]:
    """Row count and sha256 of every row of a warehouse table in `order_by` order (read-only: no lock kept)."""
    import hashlib

    import duckdb

    with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
        rows = con.execute(f"select * from {table} order by {order_by}").fetchall()
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()


JOURNAL_ORDER = "entry_id, line_no"
