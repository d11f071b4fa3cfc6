"""A warehouse built by an earlier version of the dbt project is rebuilt, not broken, by the next run.

A copy of the clean 3-day demo (session fixture `clean_demo`), its chain brought back (tests/demo_copies.py), made to
look as an earlier release left it: a staging table without a column the models now write, and the fingerprint of
another project. Its last day is materialised again through the Definitions' `daily_pipeline`. An incremental build
would stop at that table (on_schema_change: fail); the run sees the fingerprint and rebuilds every table from the
whole lake instead: the column is back, every day of the trial balance is there, the journal (never refreshed) is
unchanged because the rules did not change, and the current fingerprint is recorded.
"""
import duckdb
import pytest
from conftest import DAYS, START
from demo_copies import JOURNAL_ORDER, copy_of_demo, daily_pipeline_on, table_digest

from foundation.home import DataHome

DAY = START.replace(day=DAYS)


def columns(home, table: str) -> list[str]:
    with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as warehouse:
        return [row[0] for row in warehouse.execute(
            "select column_name from information_schema.columns where table_schema = 'main' and table_name = ? "
            "order by ordinal_position", [table]).fetchall()]


@pytest.fixture(scope="module")
def upgraded(clean_demo, tmp_path_factory):
    from orchestration.pipeline import QUIET_RUN_CONFIG, step_crashes

    demo, tmp_path, home = copy_of_demo(clean_demo, tmp_path_factory, "upgrade")
    paths = DataHome(home)
    before = {"journal": table_digest(home, "main.journal_lines", JOURNAL_ORDER),
              "trial_balance": table_digest(home, "main.trial_balance", "partition_date, account_code"),
              "columns": columns(home, "stg_loan_router_events")}
    assert "surplus" in before["columns"]
    with duckdb.connect(str(paths.warehouse)) as warehouse:
        warehouse.execute("alter table main.stg_loan_router_events drop column surplus")
    paths.warehouse_project.write_text("an earlier release of the project\n")
    with daily_pipeline_on(demo, home, tmp_path / "chain") as (daily, instance):
        run = daily.execute_in_process(instance=instance, partition_key=DAY.isoformat(),
                                       run_config=QUIET_RUN_CONFIG, raise_on_error=False)
        assert run.success, step_crashes(run)
        warnings = [entry.user_message for entry in instance.all_logs(run.run_id)
                    if "built by another version" in (entry.user_message or "")]
    after = {"journal": table_digest(home, "main.journal_lines", JOURNAL_ORDER),
             "trial_balance": table_digest(home, "main.trial_balance", "partition_date, account_code"),
             "columns": columns(home, "stg_loan_router_events")}
    return paths, before, after, warnings


@pytest.mark.long
def test_a_warehouse_of_an_earlier_project_is_rebuilt_from_the_whole_lake(upgraded):
    from assets.ledger import built_by_another_project, project_fingerprint

    paths, before, after, warnings = upgraded
    assert warnings, "the run did not say it rebuilt the warehouse"
    assert after["columns"] == before["columns"]
    # every day of the demo, not only the day the run was for
    assert after["trial_balance"] == before["trial_balance"]
    assert after["journal"] == before["journal"]
    assert paths.warehouse_project.read_text().strip() == project_fingerprint()
    assert not built_by_another_project(paths, project_fingerprint())


def test_a_new_home_with_only_its_seeds_is_not_taken_for_an_old_warehouse(tmp_path):
    from assets.ledger import built_by_another_project

    paths = DataHome(tmp_path / "home")
    paths.root.mkdir()
    assert not built_by_another_project(paths, "current")
    with duckdb.connect(str(paths.warehouse)) as warehouse:
        warehouse.execute("create table main.chart_of_accounts (account_code varchar)")
    assert not built_by_another_project(paths, "current")
    with duckdb.connect(str(paths.warehouse)) as warehouse:
        warehouse.execute("create table main.journal_lines (entry_id varchar)")
    assert built_by_another_project(paths, "current")
