"""Processes killed mid-work: a snapshot publication and an attestation killed with SIGKILL at many points, then run
again to the end. Whatever moment the kill came, readers saw a whole snapshot and a whole report (the one before or
the one after, never a part), and the run after the kills wrote the same bytes as an uninterrupted one.

On copies of the clean 3-day demo. The attestation's kills are `make reliability`'s (`long`): a minute of runs.
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest
from conftest import DAYS, START

from foundation.home import DataHome

LAST = START.replace(day=DAYS)
BACKED = str(Path(sys.executable).parent / "backed")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# Publishes the snapshot once told to on stdin (after its imports, so a kill lands in the publication itself).
PUBLISHER = textwrap.dedent("""
    import sys
    from assets.snapshot import publish_snapshot
    from foundation.home import DataHome
    print("ready", flush=True)
    sys.stdin.readline()
    publish_snapshot(DataHome(sys.argv[1]), snapshot_id=sys.argv[2])
    print("done", flush=True)
""")


def whole_snapshot(home: DataHome) -> tuple[str, str]:
    """(the DuckDB file's snapshot id, the Parquet folder's), each checked whole: the DuckDB file opens and holds
    every table; every Parquet file is the one its folder's manifest names."""
    with duckdb.connect(str(home.snapshot_database), read_only=True) as con:
        database_id = con.execute("select snapshot_id from snapshot_info").fetchone()[0]
        tables = {row[0] for row in con.execute("show tables").fetchall()}
    manifest = json.loads((home.snapshot_parquet / "manifest.json").read_text())
    for name, table in manifest["tables"].items():
        assert name in tables
        assert sha256(home.snapshot_parquet / f"{name}.parquet") == table["parquet_sha256"], name
    return database_id, manifest["snapshot_id"]


@pytest.mark.fault("kill -9 during the snapshot's publication, at many points")
def test_a_publication_killed_at_any_point_leaves_a_whole_snapshot_and_the_next_one_is_the_same_bytes(
        clean_demo, tmp_path, reliability):
    from assets.snapshot import publish_snapshot

    home = DataHome(tmp_path / "home")
    shutil.copytree(clean_demo[0], home.root)
    # what an uninterrupted publication writes (the Parquet files are the same bytes for the same warehouse)
    publish_snapshot(home, snapshot_id="f" * 32)
    uninterrupted = json.loads(home.snapshot_manifest.read_text())["tables"]
    before = whole_snapshot(home)
    killed = 0
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    for n, delay in enumerate((0.0, 0.005, 0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.25, 0.4)):
        publisher = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(home.root), f"{n:032x}"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment)
        assert publisher.stdout.readline().strip() == "ready"
        publisher.stdin.write("go\n")
        publisher.stdin.flush()
        time.sleep(delay)
        publisher.kill()
        publisher.wait()
        killed += publisher.returncode == -signal.SIGKILL
        database_id, parquet_id = whole_snapshot(home)  # whichever publication each form is, it is whole
        assert {database_id, parquet_id} <= {before[0], *(f"{m:032x}" for m in range(n + 1))}
    assert killed >= 5, "most kills landed before the publication ended"
    publish_snapshot(home, snapshot_id="e" * 32)
    assert whole_snapshot(home) == ("e" * 32, "e" * 32)
    after = json.loads(home.snapshot_manifest.read_text())["tables"]
    assert {name: t["parquet_sha256"] for name, t in after.items()} == \
        {name: t["parquet_sha256"] for name, t in uninterrupted.items()}
    assert not list(home.snapshot.glob(".publishing-*")) and not list(home.snapshot.glob(".parquet-*"))
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        expected = con.execute("select entry_id, line_no from main.journal_lines").fetchall()
    with duckdb.connect(str(home.snapshot_database), read_only=True) as con:
        published = con.execute("select entry_id, line_no from journal_lines").fetchall()
    assert reliability.compare_rows(expected, published) == (0, 0)


@pytest.mark.long
@pytest.mark.fault("kill -9 during an attestation, at many points")
def test_an_attestation_killed_at_any_point_leaves_whole_reports_and_the_next_run_writes_the_same_bytes(
        clean_demo, tmp_path, reliability):
    home = DataHome(tmp_path / "home")
    shutil.copytree(clean_demo[0], home.root)
    html, pdf = home.attestation_paths(LAST)
    written = [html, pdf, home.attestation_manifest(LAST.isoformat())]

    def attest(**popen) -> subprocess.Popen:
        return subprocess.Popen([BACKED, "--home", str(home.root), "attest", LAST.isoformat()],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, **popen)

    first = attest()
    assert first.wait(timeout=300) == 0, first.stderr.read()
    uninterrupted = {path.name: sha256(path) for path in written}
    journal = _journal_keys(home)
    killed = 0
    for delay in (2.0, 3.5, 4.5, 5.5, 6.5, 8.0):
        run = attest()
        time.sleep(delay)
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            killed += 1
        run.wait()
        # every report file is whole: the one before or the same one again, never a part
        assert {path.name: sha256(path) for path in written} == uninterrupted
        assert not [p for p in html.parent.iterdir() if p.name.endswith(".tmp") and not p.name.startswith(".")]
    assert killed >= 3
    last = attest()
    assert last.wait(timeout=300) == 0, last.stderr.read()
    assert {path.name: sha256(path) for path in written} == uninterrupted
    left = [p for p in (html.parent, home.attestation_record(LAST.isoformat())) for p in p.iterdir()
            if p.name.endswith(".tmp")]
    assert left == []  # what the killed writers left, cleared by the run that wrote the same files
    assert reliability.compare_rows(journal, _journal_keys(home)) == (0, 0)


def _journal_keys(home: DataHome) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute("select entry_id, line_no from main.journal_lines").fetchall()


@pytest.mark.long
@pytest.mark.fault("the chain's node restarted during chain ingestion")
def test_a_node_restarted_mid_ingestion_leaves_the_same_chain_days(tmp_path, reliability):
    """The node behind a stable address (a proxy, as a provider's URL is) is stopped mid-ingestion and a new one
    serving the same chain takes its place a few seconds later: the ingest waits it out through its retries, or fails
    and is run again; either way the days come out the same bytes as an ingest that saw no restart."""
    import json
    import threading

    from assets.chain.ingest import ChainRun, ingest_chain_days
    from assets.chain.profiles import load_profile
    from assets.chain.rpc import JsonRpcClient, RpcUnavailable
    from foundation.lake import Lake
    from sandbox.anvil import AnvilNode
    from sandbox.simulator import genesis_timestamp, replay, simulate
    from tests.rpc_fault_proxy import FaultPlan, RpcFaultProxy
    from tests.test_chain_production import CHAIN_DAY_TABLES, lake_rows, partition_bytes

    start = date(2026, 1, 1)
    days = [start, date(2026, 1, 2)]
    home = tmp_path / "home"
    first = AnvilNode(genesis_timestamp(start))
    first.start()
    try:
        simulate(home, first.rpc_url, days=3, seed=11, start=start)
        profile = load_profile("sandbox", home)
        clean = Lake(tmp_path / "clean")
        with JsonRpcClient(first.rpc_url) as rpc:
            ingest_chain_days(days, profile, rpc, clean)
        deployment = json.loads((home / "sandbox" / "deployment.json").read_text())
        restarted = Lake(tmp_path / "restarted")
        with RpcFaultProxy(first.rpc_url, FaultPlan(rotation=("slow",), slow_s=0.03)) as proxy:
            outcome: dict = {}

            def ingest() -> None:
                try:
                    with JsonRpcClient(proxy.url, timeout=5, attempts=12, backoff_s=0.2, max_backoff_s=2.0,
                                       max_concurrency=3) as rpc:
                        outcome["client"] = rpc
                        ingest_chain_days(days, profile, rpc, restarted)
                    outcome["done"] = True
                except RpcUnavailable as error:
                    outcome["failed"] = str(error)

            worker = threading.Thread(target=ingest)
            worker.start()
            time.sleep(0.5)
            assert worker.is_alive(), "the ingest ended before the node was stopped"
            first.stop()  # the node goes away mid-ingestion
            second = AnvilNode(genesis_timestamp(start))
            second.start()
            try:
                replay(deployment, tmp_path / "replay", second.rpc_url)  # the same chain, block for block
                proxy.upstream_url = second.rpc_url
                worker.join(timeout=120)
                assert not worker.is_alive()
                if "failed" in outcome:  # the restart outlasted the retries: the ingest is run again
                    with JsonRpcClient(proxy.url) as rpc:
                        ingest_chain_days(days, profile, rpc, restarted)
            finally:
                second.stop()
    finally:
        first.stop()
    failures = {kind: n for kind, n in outcome["client"].outcomes.items() if kind != "ok"}
    assert failures, "the ingest met the node's absence"  # connections refused or dropped, then retried
    assert reliability.compare_rows(lake_rows(clean, days), lake_rows(restarted, days)) == (0, 0)
    assert partition_bytes(restarted, days, CHAIN_DAY_TABLES) == partition_bytes(clean, days, CHAIN_DAY_TABLES)


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (initdb as the `postgres` user, as root cannot), on a port of its own:
    restarting it disturbs nothing else on the machine."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        self.data = folder / "data"

    def _as_postgres(self, *command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["runuser", "-u", "postgres", "--", *command], capture_output=True, text=True)

    def _pg_ctl(self, *action: str) -> subprocess.CompletedProcess:
        return self._as_postgres("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.folder / "postgres.log"),
                                 "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1", *action)

    def __enter__(self) -> "PrivatePostgres":
        if shutil.which("initdb") is None or shutil.which("runuser") is None:
            pytest.skip("no initdb/runuser here to run a PostgreSQL of the test's own")
        self.folder.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.folder, "postgres")
        made = self._as_postgres("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")
        if made.returncode != 0:
            pytest.skip(f"initdb failed here: {made.stderr.strip()[:200]}")
        assert self.start().returncode == 0
        return self

    def start(self) -> subprocess.CompletedProcess:
        return self._pg_ctl("start")

    def stop(self) -> subprocess.CompletedProcess:
        return self._pg_ctl("-m", "fast", "stop")

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def wait_for(self, count_query: str, timeout_s: float, alive: subprocess.Popen) -> bool:
        """Until `count_query` counts a row (False when `alive` ends first or the time is up)."""
        import psycopg2

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and alive.poll() is None:
            try:
                with psycopg2.connect(self.url, connect_timeout=2) as con, con.cursor() as cur:
                    cur.execute(count_query)
                    if cur.fetchone()[0]:
                        return True
            except psycopg2.Error:  # the instance's tables not made yet
                pass
            time.sleep(0.2)
        return False

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


@pytest.mark.long
@pytest.mark.fault("PostgreSQL (the Dagster instance of a backfill) restarted during the backfill")
def test_a_backfill_whose_postgres_restarts_is_resumed_to_the_same_ledger(clean_demo, tmp_path, reliability):
    """The ledger of the demo's three days backfilled on a Dagster instance in PostgreSQL, which is stopped for a few
    seconds while the backfill runs (a restart, a failover). Whatever failed is resumed (`backed backfill
    --resume`) until the backfill completes; the ledger is then the same as the demo's."""
    import re
    import socket

    from demo_copies import JOURNAL_ORDER, table_digest

    demo = clean_demo[0]
    home = tmp_path / "home"
    shutil.copytree(demo, home)
    shutil.rmtree(home / "dagster")  # a fresh instance, in PostgreSQL
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    select = "group:staging or group:ledger_postings or group:ledger or group:reconciliation"
    import tempfile

    # where the postgres user can reach (pytest's folders are root's alone)
    cluster = Path(tempfile.mkdtemp(prefix="backed-postgres-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    with PrivatePostgres(cluster, port) as postgres:
        env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "BACKED_HOME")}
        env.update(BACKED_DAGSTER_PG_URL=postgres.url, BACKED_BACKFILL_STALL_SECONDS="120")
        backfill = subprocess.Popen([BACKED, "--home", str(home), "backfill", "--from", START.isoformat(),
                                     "--to", LAST.isoformat(), "--select", select],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        # the outage comes once a run is executing its steps (writing their events to PostgreSQL)
        assert postgres.wait_for("select count(*) from event_logs where dagster_event_type = 'STEP_START'",
                                 timeout_s=300, alive=backfill), backfill.communicate()
        time.sleep(1)
        assert postgres.stop().returncode == 0
        time.sleep(8)
        assert postgres.start().returncode == 0
        out, err = backfill.communicate(timeout=600)
        backfill_id = out.strip().splitlines()[-1] if out.strip() else \
            re.search(r"backfill (\w{8}): the Dagster UI", err).group(1)

        resumed = 0
        while "COMPLETED_SUCCESS" not in _backfill_status(home, backfill_id, env) and resumed < 3:
            resumed += 1
            again = subprocess.run([BACKED, "--home", str(home), "backfill", "--resume", backfill_id],
                                   capture_output=True, text=True, env=env, timeout=600)
            found = re.search(r"as (\w+) \(re-execution", again.stdout + again.stderr)
            backfill_id = found.group(1) if found else backfill_id
        assert "COMPLETED_SUCCESS" in _backfill_status(home, backfill_id, env), (out, err)
        # the outage was met: a process retried its connection, or a run failed and was resumed
        said = err + "".join(path.read_text(errors="replace") for path in (home / "dagster").rglob("*.log"))
        assert resumed or re.search(r"Retrying failed database connection|Connection refused|could not connect",
                                    said), said[-3000:]
    shutil.rmtree(cluster, ignore_errors=True)
    for relation, order in (("main.journal_lines", JOURNAL_ORDER),
                            ("main.trial_balance", "partition_date, account_code"),
                            ("main.reserve_coverage", "partition_date")):
        assert table_digest(home, relation, order) == table_digest(demo, relation, order), relation
    import duckdb

    keys = lambda h: duckdb.connect(str(DataHome(h).warehouse), read_only=True).execute(  # noqa: E731
        "select entry_id, line_no from main.journal_lines").fetchall()
    assert reliability.compare_rows(keys(demo), keys(home)) == (0, 0)


def _backfill_status(home: Path, backfill_id: str, env: dict) -> str:
    listed = subprocess.run([BACKED, "--home", str(home), "backfill", "--list"], capture_output=True, text=True,
                            env=env, timeout=120)
    return next((line for line in listed.stdout.splitlines() if line.startswith(backfill_id)), "")
