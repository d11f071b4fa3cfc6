"""The guides (docs/guides.md, linked from the README), run as written: each ```sh block in bash, on a copy of the
clean demo's home, with the venv's commands on the PATH (what `source .venv/bin/activate` gives a reader)."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def guide_blocks() -> dict[str, list[str]]:
    """Guide title -> its shell blocks, in order."""
    guides = (REPO / "docs" / "guides.md").read_text()
    blocks = {}
    for section in re.split(r"\n## ", guides)[1:]:
        title, body = section.split("\n", 1)
        blocks[title.split(":")[0].strip()] = re.findall(r"```sh\n(.*?)```", body, re.S)
    return blocks


@pytest.fixture
def run_guide(clean_demo, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(clean_demo[0], home)
    workdir = tmp_path / "work"
    workdir.mkdir()
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("BACKED_RPC_URL", "BACKED_RPC_URLS", "ARBITRUM_RPC_URL", "BACKED_PROFILE")}
    # HOME too: a guide keeps its signing key under ~/.config, outside the data home
    environment.update(BACKED_HOME=str(home), HOME=str(tmp_path / "user"), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")

    def run(block: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=workdir, env=environment,
                              capture_output=True, text=True, timeout=600)

    run.home, run.workdir = home, workdir
    return run


def test_the_guides_are_the_three_the_readme_names():
    blocks = guide_blocks()
    assert list(blocks) == ["Finance", "Compliance", "Engineering"]
    assert "docs/guides.md" in (REPO / "README.md").read_text()
    assert [len(b) for b in blocks.values()] == [3, 1, 2]


def test_finance_guide_produces_and_reads_an_attestation(run_guide):
    out = run_guide(guide_blocks()["Finance"][0])
    assert out.returncode == 0, out.stderr[-3000:]
    assert re.search(r"^Liquid coverage [0-9.,]+%$", out.stdout, re.M)
    assert (run_guide.home / "reports" / "attestation-2026-01-03.pdf").stat().st_size > 0
    assert "A. Controller" in (run_guide.home / "reports" / "attestation-2026-01-03.html").read_text()


def test_finance_guide_signs_publishes_and_verifies_the_attestation(run_guide):
    out = run_guide(guide_blocks()["Finance"][1])
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "verified: every step holds" in out.stdout
    assert re.search(r"^✓ signatures: .*preparer A\. Controller", out.stdout, re.M)
    key = run_guide.workdir.parent / "user" / ".config" / "backed" / "keys" / "controller.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert "A. Controller" in (run_guide.home / "reports" / "attestation-2026-01-03.html").read_text()


def test_finance_guide_reads_the_ledger_from_the_snapshot(run_guide):
    out = run_guide(guide_blocks()["Finance"][2])
    assert out.returncode == 0, out.stderr[-3000:]
    coverage = out.stdout.split("\n(3 rows)")[0].splitlines()
    assert coverage[0].split() == ["partition_date", "liquid_coverage", "total_coverage"]
    assert [line.split()[0] for line in coverage[2:]] == ["2026-01-03", "2026-01-02", "2026-01-01"]
    export = (run_guide.workdir / "trial-balance-2026-01-03.csv").read_text().splitlines()
    assert export[0].startswith("partition_date,account_code,") and len(export) > 10
    assert all(line.startswith("2026-01-03,") for line in export[1:])
    assert "snapshot_id" in out.stdout and "chain_hash" in out.stdout


def test_compliance_guide_pulls_a_trail_and_exports_it(run_guide):
    out = run_guide(guide_blocks()["Compliance"][0])
    assert out.returncode == 0, out.stderr[-3000:]
    assert "account 1020 stablecoins held on chain at the close of 2026-01-03" in out.stdout
    assert "file custodian-a-semt002-2026-01-03.xml" in out.stdout
    # what the holdings statement posted: the T-bill marks its prices made
    assert re.search(r"tbill_accretion\s+custodian-a-semt002-2026-01-03\.xml row \d+", out.stdout), out.stdout
    export = run_guide.workdir / "interest-receivable-2026-01-03.csv"
    assert export.read_text().startswith("partition_date,") and "wrote" in out.stdout


@pytest.mark.long
def test_engineering_guide_backfills_a_range_and_names_what_arbitrum_needs(run_guide):
    backfill_block, arbitrum_block = guide_blocks()["Engineering"]
    out = run_guide(backfill_block)
    assert out.returncode == 0, out.stderr[-3000:]
    progress = re.findall(r"(\d+)/(\d+) asset partitions materialised", out.stderr)
    assert progress and progress[-1][0] == progress[-1][1] and int(progress[-1][1]) >= 2
    assert "COMPLETED_SUCCESS" in out.stdout

    arbitrum = run_guide(arbitrum_block)
    assert arbitrum.returncode == 1
    assert "the arbitrum profile needs an Arbitrum One JSON-RPC URL in BACKED_RPC_URL" in arbitrum.stderr


# The mistakes a new user makes following the README and the guides: (command, exit status, what it says). The
# demo's own (a bad --inject or --start) are tests/test_cli_messages.py's, caught before anything starts.
MISTAKES = [
    ("backed attest 2025-12-01", 1,
     "attestation for 2025-12-01 refused: the ledger runs from 2026-01-01 to 2026-01-03; build 2025-12-01 first"),
    ("backed trail --tx 0xnothex", 2, "'0xnothex' is not a hash (0x and 64 hex digits)"),
    ("backed trail --loan hello", 2, "'hello' is not a hash (0x and 64 hex digits)"),
    ("backed trail --account 1020 --date 2027-01-01", 1,
     "the ledger runs from 2026-01-01 to 2026-01-03: 2027-01-01 has no balance to explain"),
    ("backed trail --account 1020 --date 2026-01-03 --out x.xlsx", 2, "x.xlsx: export as .csv or .parquet"),
    ("backed trail --account 9999 --date 2026-01-03", 1, "no account 9999 in the chart of accounts"),
    (f"backed trail --tx 0x{'ab' * 32}", 1, f"no transaction 0x{'ab' * 32} in the chain data the warehouse holds"),
    (f"backed trail --loan 0x{'cd' * 32}", 1, f"no loan 0x{'cd' * 32}: no journal line and no tape row names it"),
    ("backed exceptions list --age 3-4", 2, "'3-4' is not one of '0-1', '2-7', '8-30', '30+'"),
    ("backed backfill --from 2026-01-03 --to 2026-01-01", 2, "2026-01-01 is before --from 2026-01-03"),
    ("backed backfill --from 2026-01-03 --to 2026-01-03 --select 'group:no_such_group'", 2, "selects no asset"),
    # the demo's chain stopped with the demo: the daily pipeline would read it
    ("backed backfill --from 2026-01-03 --to 2026-01-03", 1,
     "does not answer (it stops with the demo): `backed sandbox up` brings it back"),
    ("backed attest sign 2026-01-03 --key no-such.key", 1,
     "no key file at no-such.key; `backed keys new PATH --name NAME --role ROLE` makes one"),
    ("backed keys new k.key --name A --role auditor", 1, "role 'auditor' is not one of: preparer, reviewer"),
    ("backed seal 2026-1", 2, "'2026-1' is not a month (YYYY-MM)"),
    ("printf 'supply_abs_tolerence = \"0.01\"\\n' > \"$BACKED_HOME/reconciliation.toml\" && "
     "backed backfill --from 2026-01-03 --to 2026-01-03 --select group:ledger", 1,
     "unknown settings supply_abs_tolerence (did you mean supply_abs_tolerance?)"),
]


def test_the_mistakes_of_a_new_user_get_one_line_each_and_the_right_exit_status(run_guide):
    """Each mistake is told in one line (after at most the line saying what the command set out to do), naming
    what is wrong and what to do, with exit status 2 for a usage mistake and 1 for a refused operation, no
    traceback, and nothing on stdout (where a command's answers go); nothing is launched (the Dagster instance lists
    no backfill)."""
    told = {}
    for command, status, says in MISTAKES:
        out = run_guide(command)
        lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
        told[command] = (out.returncode, says in lines[-1] if lines else False, len(lines) <= 2,
                         "Traceback" not in out.stderr and out.stdout == "")
        (run_guide.home / "reconciliation.toml").unlink(missing_ok=True)
    assert told == {command: (status, True, True, True) for command, status, _ in MISTAKES}
    listed = run_guide("backed backfill --list")
    assert listed.returncode == 0 and listed.stdout.strip() == ""
