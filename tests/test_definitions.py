"""The code location loads, and its asset graph is the one the design describes."""
import subprocess
import sys
import time
import socket
from pathlib import Path

import dagster as dg
import pytest

from foundation.partitions import daily_partitions
from orchestration.definitions import build_definitions

REPO = Path(__file__).resolve().parent.parent

INGESTION_KEYS = {
    "chain_events", "chain_logs_unknown", "chain_state", "chain_days", "chain_address_book", "chain_blocks",
    "loan_tapes", "loan_collateral", "gpu_telemetry_daily", "custodian_statements",
}
LEDGER_KEYS = {"journal_lines", "trial_balance", "reserve_balances", "reserve_coverage", "usdai_supply_reconciliation"}
CHECKS = {
    ("usdai_supply_reconciliation", "r1_supply_matches_events"),
    ("reserve_coverage", "r2_supply_backed_on_chain"),
    ("reserve_balances", "r3_custody_matches_ledger"),
    ("reserve_coverage", "r4_liquid_reserves_cover_supply"),
    ("trial_balance", "r5_loans_match_tapes"),
    ("reserve_coverage", "r6_susdai_assets_match_ledger"),
    ("trial_balance", "r7_collateral_gpus_online"),
    ("journal_lines", "r8_ledger_balances"),
    ("journal_lines", "r11_journal_matches_attestations"),
    ("trial_balance", "r9_sources_delivered"),
    ("usdai_supply_reconciliation", "h1_supply_growth_within_limits"),
    ("trial_balance", "h2_source_volumes_steady"),
    ("trial_balance", "h3_cutoffs_fresh"),
    ("trial_balance", "h4_input_files_match_layouts"),
    ("trial_balance", "h5_no_rows_quarantined"),
    ("usdai_supply_reconciliation", "h6_chain_reorgs_restated"),
    ("reserve_coverage", "r10_assets_cover_liabilities"),
    ("reserve_coverage", "h7_susdai_yield_explained"),
    ("contract_changes", "h8_contracts_unchanged"),
    ("trial_balance", "h9_prefundings_settled"),
}


def test_asset_graph_keys_deps_and_checks(tmp_path):
    defs = build_definitions(tmp_path, "sandbox")
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert INGESTION_KEYS <= keys
    assert LEDGER_KEYS <= keys
    assert {"chart_of_accounts", "reserve_attestation"} <= keys

    def upstream(key: str) -> set[str]:
        return {k.to_user_string() for k in graph.get(dg.AssetKey(key)).parent_keys}

    # A day's telemetry takes serials from the latest inventory up to the day: the day before must be ingested
    # first, in a parallel backfill too (its lake differed from a serial one's when this was missing).
    telemetry = dg.AssetKey("gpu_telemetry_daily")
    assert telemetry in graph.get(telemetry).parent_keys
    assert graph.get_partition_mapping(telemetry, telemetry).get_upstream_mapped_partitions_result_for_partitions(
        daily_partitions.empty_subset().with_partition_keys(["2026-01-11"]),
        daily_partitions, daily_partitions).partitions_subset.get_partition_keys() == ["2026-01-10"]

    def ancestors(key: str) -> set[str]:
        seen, todo = set(), [key]
        while todo:
            for parent in upstream(todo.pop()):
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return seen

    # The journal is built from every source; the attestation from the marts.
    marts_ancestors = set().union(*(ancestors(k) for k in LEDGER_KEYS))
    assert INGESTION_KEYS - {"chain_logs_unknown", "chain_blocks", "loan_collateral", "gpu_telemetry_daily"} <= marts_ancestors
    assert {"chain_events", "loan_tapes", "custodian_statements"} <= ancestors("journal_lines")
    assert "chart_of_accounts" in ancestors("trial_balance")
    assert {"reserve_coverage", "trial_balance", "journal_lines", "usdai_supply_reconciliation"} <= upstream(
        "reserve_attestation")
    # Every partitioned asset shares the daily partitions; the seed is unpartitioned.
    for key in INGESTION_KEYS | LEDGER_KEYS | {"reserve_attestation"}:
        assert graph.get(dg.AssetKey(key)).partitions_def is not None, key
    assert graph.get(dg.AssetKey("chart_of_accounts")).partitions_def is None

    check_keys = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert CHECKS <= check_keys
    # Each reconciliation check is named after the dbt model it reads, an asset of the graph.
    assert {name for _, name in CHECKS} <= keys
    # dbt tests come through as asset checks too (unique keys, balanced entries).
    assert any(asset == "journal_lines" and name != "r8_ledger_balances" for asset, name in check_keys)

    job_names = {j.name for j in defs.resolve_all_job_defs()}
    assert {"daily_pipeline", "ingest_and_reconcile", "attestation", "reference_data", "inbox_ingestion"} <= job_names
    # the schedule's and the sensor's runs too run their steps in the run's process, not a process per step
    for job in defs.resolve_all_job_defs():
        assert job.executor_def is dg.in_process_executor, job.name
    assert defs.resolve_schedule_def("daily_pipeline_schedule") is not None
    assert defs.resolve_sensor_def("inbox_sensor") is not None
    # Readers' snapshot: copies the marts people query, checked against the warehouse, published after the runs
    # of every job that changes them
    assert {"journal_lines", "trial_balance", "balance_sheet", "income_statement", "loan_positions",
            "reserve_coverage", "journal_day_hashes"} <= upstream("ledger_snapshot")
    assert graph.get(dg.AssetKey("ledger_snapshot")).partitions_def is None
    assert ("ledger_snapshot", "snapshot_matches_warehouse") in check_keys
    snapshot_sensor = defs.resolve_sensor_def("snapshot_sensor")
    assert snapshot_sensor.job_name == "publish_snapshot"
    from orchestration.sensors import NOT_FOLLOWED_BY_A_SNAPSHOT

    assert NOT_FOLLOWED_BY_A_SNAPSHOT == {"publish_snapshot", "reference_data"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_addresses(port: int) -> set[str]:
    """The local addresses a TCP socket of this machine listens on at `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, local_port = fields[1].rsplit(":", 1)
            if int(local_port, 16) == port and fields[3] == "0A":  # LISTEN
                found.add(address)
    return found


@pytest.mark.long
def test_dagster_dev_loads_the_code_location_and_listens_on_this_machine_only(tmp_path):
    """`make dagster-dev` starts, its code location loads with no error (asked over GraphQL), and the UI, which has
    no login of its own, listens on 127.0.0.1 only."""
    import requests

    port = _free_port()
    env = {**__import__("os").environ, "BACKED_HOME": str(tmp_path / "home"), "DAGSTER_PORT": str(port)}
    proc = subprocess.Popen(["make", "--no-print-directory", "dagster-dev"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    query = """{ workspaceOrError { ... on Workspace { locationEntries { name
        locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
    try:
        deadline = time.time() + 120
        entries = None
        while time.time() < deadline:
            try:
                r = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=5)
                entries = r.json()["data"]["workspaceOrError"]["locationEntries"]
                if entries and entries[0]["locationOrLoadError"] is not None:
                    break
            except (requests.RequestException, KeyError, TypeError, ValueError):
                pass
            time.sleep(1)
        assert entries, "dagster dev did not answer"
        assert entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation", entries
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and no other address
    finally:
        import os
        import signal

        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_the_dbt_resource_reports_the_version_of_the_dbt_it_runs(tmp_path):
    """WarehouseDbt reads dbt's version from the installed package instead of running `dbt --version`: the two must
    agree, or dagster-dbt would treat the executable as another engine (dbt Fusion from 2.0)."""
    from packaging import version

    dbt = build_definitions(tmp_path / "home").resources["dbt"]
    printed = subprocess.run([dbt.dbt_executable, "--version"], capture_output=True, text=True, check=True).stdout
    assert f"installed: {dbt._cli_version}" in printed
    assert dbt._cli_version.major < 2 and isinstance(dbt._cli_version, version.Version)


def test_every_asset_and_check_says_what_it_is(tmp_path):
    """The UI tells the story the docs do: every asset has a description of its own (a dbt model without one in its
    yml, its SQL's header comment; never dagster-dbt's bare `dbt model X`), every reconciliation check opens with
    its rule's id, every dbt test says what it checks."""
    graph = build_definitions(tmp_path).resolve_asset_graph()
    bare = [key.to_user_string() for key in graph.get_all_asset_keys()
            if len(graph.get(key).description or "") < 20 or graph.get(key).description.startswith("dbt model")]
    assert bare == []
    assert "tbill_accretion" in graph.get(dg.AssetKey("postings_tbills")).description
    descriptions = {(check.asset_key.to_user_string(), check.name): graph.get_check_spec(check).description or ""
                    for check in graph.asset_check_keys}
    assert [key for key, text in descriptions.items() if len(text) < 20] == []
    for asset, name in CHECKS:
        assert descriptions[(asset, name)].startswith(f"{name.split('_')[0].upper()}: ")
    assert descriptions[("journal_lines", "relationships_journal_lines_account_code__account_code__ref_chart_of_accounts_")] \
        == "dbt test: every journal_lines.account_code is in chart_of_accounts.account_code"


def test_a_homes_event_log_keeps_its_engines_and_reads_back_every_runs_events(tmp_path, monkeypatch):
    """The instance of a data home writes its event log through SqliteEventLogKeepingEngines, into Dagster's default
    files (history/runs). More runs than it keeps engines for each read back whole, from this instance and from a new
    one (another process's view), and a wipe deletes the run files with no connection left open on them."""
    from orchestration.event_log_storage import ENGINES_KEPT, SqliteEventLogKeepingEngines
    from orchestration.instance import instance_for

    monkeypatch.setenv("DAGSTER_HOME", "")
    monkeypatch.setenv("BACKED_HOME", "")
    home = tmp_path / "home"
    instance = instance_for(home)
    storage = instance.event_log_storage
    assert isinstance(storage, SqliteEventLogKeepingEngines)

    @dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="cents")])
    def cents():
        yield dg.MaterializeResult(metadata={"cents": 12345})
        yield dg.AssetCheckResult(check_name="positive", passed=True)

    runs = [dg.materialize([cents], instance=instance) for _ in range(ENGINES_KEPT + 4)]
    assert all(run.success for run in runs)
    assert len(storage._engines) <= ENGINES_KEPT
    for reader in (instance, dg.DagsterInstance.get()):
        for run in runs:
            types = [record.event_log_entry.dagster_event_type for record in
                     reader.get_records_for_run(run.run_id).records if record.event_log_entry.is_dagster_event]
            assert types.count(dg.DagsterEventType.ASSET_MATERIALIZATION) == 1, types
            assert types.count(dg.DagsterEventType.ASSET_CHECK_EVALUATION) == 1, types
            assert types[-1] == dg.DagsterEventType.RUN_SUCCESS
        materializations = reader.fetch_materializations(dg.AssetKey("cents"), limit=100).records
        assert len(materializations) == len(runs)
    run_files = sorted((home / "dagster" / "history" / "runs").glob("*.db"))
    assert len(run_files) == len(runs) + 1  # one per run and the index
    storage.wipe()
    assert [path.name for path in (home / "dagster" / "history" / "runs").glob("*.db")] == ["index.db"]
    assert set(storage._engines) <= {"index"}  # no connection kept on a deleted file
    assert instance.get_records_for_run(runs[0].run_id).records == []
