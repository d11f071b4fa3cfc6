"""Benchmarks that print ratios against peers and limits measured in the same run: `python -m bench` (`make bench`).

Each module has `run(**sizes)`, returning rows {name, value, unit, baseline_name, baseline_value, ratio} (a row
whose peer could not run here has `skipped`, the reason, instead of figures), and `QUICK_RUN`, the sizes of a smoke
run.
"""
import os

# The benches drop files they have just written and closed into the inbox and take them in at once: the inbox's
# quiet period (assets/inbox/arrivals.py) would leave them waiting. The check for a process still writing holds.
os.environ.setdefault("BACKED_INBOX_QUIET_SECONDS", "0")


def row(name: str, value, unit: str, baseline_name: str | None = None, baseline_value=None) -> dict:
    """One figure of the report; ratio = value / baseline_value (above 1 a throughput beats its peer; for a cost,
    how many times the baseline's), None without a baseline."""
    return dict(name=name, value=value, unit=unit, baseline_name=baseline_name, baseline_value=baseline_value,
                ratio=value / baseline_value if baseline_value else None)
