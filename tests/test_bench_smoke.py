"""`python -m bench` end to end at smoke-run sizes, on its cheapest benchmark: the table, and the JSON report."""
import json
import os
import subprocess
import sys
from pathlib import Path

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
