"""`python -m bench` end to end at smoke-run sizes: on its cheapest benchmark, the table and the JSON report
(`make test`); the ledger's and the year's, which build the dbt project on lakes of their own (`make reliability`)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_quick_telemetry_bench_writes_its_report(tmp_path):
    home = tmp_path / "home"
    environment = {**os.environ, "BACKED_HOME": str(home), "BENCH_SCRATCH": str(tmp_path)}
    completed = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "telemetry"], cwd=REPO,
                               env=environment, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "prometheus_client" in completed.stdout  # the peer is named beside each figure in the table

    reports = home / "reports"
    latest = reports / "bench-latest.json"
    (stamped,) = reports.glob("bench-2*.json")
    assert stamped.read_bytes() == latest.read_bytes()
    report = json.loads(latest.read_text())
    assert report["quick"] is True
    assert report["machine"]["cpu_count"] >= 1 and report["machine"]["python"] and report["machine"]["git_sha"]
    (result,) = report["benchmarks"]
    assert result["benchmark"] == "telemetry" and result["error"] is None and result["skipped"] == []
    throughput = result["rows"][0]
    assert throughput["unit"] == "samples/s" and throughput["value"] > 0 and throughput["baseline_value"] > 0
    assert throughput["ratio"] > 0


def test_compare_prints_each_figures_change_against_an_earlier_report(tmp_path):
    def report(started: str, sha: str, value: float, ratio: float, extra: str | None = None) -> dict:
        rows = [{"name": "chain decode + write", "unit": "logs/s", "value": value, "baseline_value": value / ratio,
                 "ratio": ratio}]
        if extra:
            rows.append({"name": extra, "unit": "s", "value": 1.0, "ratio": None})
        return {"started_at": started, "machine": {"git_sha": sha},
                "benchmarks": [{"benchmark": "chain_ingest", "rows": rows, "skipped": [], "error": None}]}

    before, now = tmp_path / "before.json", tmp_path / "now.json"
    before.write_text(json.dumps(report("2026-12-03T00:00:00+00:00", "a" * 40, 38703.0, 0.25, "gone figure")))
    now.write_text(json.dumps(report("2026-12-06T00:00:00+00:00", "b" * 40, 77406.0, 0.5, "new figure")))
    completed = subprocess.run([sys.executable, "-m", "bench", "--compare", str(before), "--against", str(now)],
                               cwd=REPO, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    line = next(line for line in completed.stdout.splitlines() if line.startswith("chain_ingest"))
    assert line.split()[-3:] == ["2", "0.25", "0.5"]  # now / before, then the peer ratio before and now
    assert "38,703 logs/s" in line and "77,406 logs/s" in line
    assert "only now: chain_ingest new figure" in completed.stdout
    assert "only before: chain_ingest gone figure" in completed.stdout
    refused = subprocess.run([sys.executable, "-m", "bench", "--against", str(now)], cwd=REPO, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 2 and "--against needs --compare" in refused.stderr


@pytest.mark.long
def test_quick_ledger_and_year_benches_build_their_synthetic_lakes(tmp_path):
    """The ledger's and the year's benchmarks write a lake of their own (bench/ledger.py LAKE_QUERIES) that must
    pass every key test of the dbt project, as a real chain's does: a lake that breaks one stops the build and
    leaves the table without its figures."""
    home = tmp_path / "home"
    environment = {**os.environ, "BACKED_HOME": str(home), "BENCH_SCRATCH": str(tmp_path)}
    completed = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "ledger", "--only", "year"],
                               cwd=REPO, env=environment, capture_output=True, text=True, timeout=1200)
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads((home / "reports" / "bench-latest.json").read_text())
    results = {result["benchmark"]: result for result in report["benchmarks"]}
    assert set(results) == {"ledger", "year"}
    for name, result in results.items():
        assert result["error"] is None, f"{name}: {result['error']}"
        assert result["rows"] and all(row["value"] > 0 for row in result["rows"]), result["rows"]
