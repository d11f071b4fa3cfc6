"""Benchmarks that print ratios against peers and limits measured in the same run: `python -m bench` (`make bench`).

Each module has `run(**sizes)`, returning rows {name, value, unit, baseline_name, baseline_value, ratio} (a row
whose peer could not run here has `skipped`, the reason, instead of figures), and `QUICK_RUN`, the sizes of a smoke
run.
"""
