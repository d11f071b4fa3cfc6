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
    environment = {k: v for k, v in os.environ.items() if k not in ("BACKED_RPC_URL", "ARBITRUM_RPC_URL",
                                                                        "BACKED_PROFILE")}
    environment.update(BACKED_HOME=str(home), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")

    def run(block: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=workdir, env=environment,
                              capture_output=True, text=True, timeout=600)

    run.home, run.workdir = home, workdir
    return run


def test_the_guides_are_the_three_the_readme_names():
    blocks = guide_blocks()
    assert list(blocks) == ["Finance", "Compliance", "Engineering"]
    assert "docs/guides.md" in (REPO / "README.md").read_text()
    assert [len(b) for b in blocks.values()] == [1, 1, 2]


def test_finance_guide_produces_and_reads_an_attestation(run_guide):
    out = run_guide(guide_blocks()["Finance"][0])
    assert out.returncode == 0, out.stderr[-3000:]
    assert re.search(r"^Liquid coverage [0-9.,]+%$", out.stdout, re.M)
    assert (run_guide.home / "reports" / "attestation-2026-01-03.pdf").stat().st_size > 0
    assert "A. Controller" in (run_guide.home / "reports" / "attestation-2026-01-03.html").read_text()


def test_compliance_guide_pulls_a_trail_and_exports_it(run_guide):
    out = run_guide(guide_blocks()["Compliance"][0])
    assert out.returncode == 0, out.stderr[-3000:]
    assert "account 1020 stablecoins held on chain at the close of 2026-01-03" in out.stdout
    assert "file custodian-a-semt002-2026-01-03.xml" in out.stdout
    # what the holdings statement posted: the T-bill marks its prices made
    assert re.search(r"tbill_accretion\s+custodian-a-semt002-2026-01-03\.xml row \d+", out.stdout), out.stdout
    export = run_guide.workdir / "interest-receivable-2026-01-03.csv"
    assert export.read_text().startswith("partition_date,") and "wrote" in out.stdout


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
