"""Every benchmark of bench/ in one run: one table of each figure beside its peer or limit measured in the same run,
and the results as JSON in $BACKED_HOME/reports/bench-<UTC timestamp>.json and reports/bench-latest.json.

    python -m bench                      # every benchmark at full size (what `make bench` runs)
    python -m bench --only chain_ingest  # one of them (repeatable)
    python -m bench --quick              # each benchmark's QUICK_RUN sizes: a smoke run, not figures to quote
    python -m bench --compare OLD.json   # run, then print each figure's change against an earlier report
    python -m bench --compare OLD.json --against NEW.json   # compare two reports, run nothing
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import platform
import subprocess
import sys
import textwrap
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Cheapest first: a failure in a long one comes after the short ones have reported; the year, the longest, last.
BENCHMARKS = ("telemetry", "chain_ingest", "ledger", "year")
# Columns of the printed table wider than this wrap (the telemetry figures name their whole workload).
TEXT_WIDTH = 56


def machine() -> dict:
    """What the figures depend on: the CPUs, the memory, the Python, and the code (commit, and whether edited)."""
    cpu_model = None
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu_model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                          if line.startswith("model name")), None)
    memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else None
    status = _git("status", "--porcelain")
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": cpu_model or platform.processor() or None,
        "memory_gib": round(memory_bytes / 2**30, 1) if memory_bytes else None,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "git_sha": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
    }


def _git(*args: str) -> str | None:
    try:
        completed = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def run_benchmark(name: str, quick: bool) -> dict:
    """One module's rows, its skipped rows (peer unavailable here) and, when it failed, the traceback."""
    print(f"bench: {name} ({'quick' if quick else 'full'} sizes)...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    sizes: dict = {}
    try:
        module = importlib.import_module(f"bench.{name}")
        sizes = module.QUICK_RUN if quick else {}
        rows, error = module.run(**sizes), None
    except Exception:  # one benchmark failing leaves the others to run and report
        rows, error = [], traceback.format_exc()
        print(f"bench: {name} failed:\n{error}", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - started
    print(f"bench: {name} took {seconds:.0f} s", file=sys.stderr, flush=True)
    return {"benchmark": name, "sizes": sizes, "seconds": round(seconds, 1),
            "rows": [row for row in rows if not row.get("skipped")],
            "skipped": [row for row in rows if row.get("skipped")], "error": error}


def _number(value) -> str:
    if value is None:
        return ""
    if isinstance(value, int) or (isinstance(value, float) and abs(value) >= 100):
        return f"{value:,.0f}"
    return f"{value:.4g}"


def table(results: list[dict]) -> str:
    """The figures of every benchmark as one text table; skipped rows and failures listed under it."""
    header = ("benchmark", "figure", "value", "peer / limit (same run)", "peer value", "ratio")
    lines: list[tuple[str, ...]] = []
    for result in results:
        for row in result["rows"]:
            unit = row.get("unit") or ""
            has_peer = row.get("baseline_value") is not None
            figure = textwrap.wrap(str(row["name"]), TEXT_WIDTH) or [""]
            peer = textwrap.wrap(str(row.get("baseline_name") or ""), TEXT_WIDTH) or [""]
            first = (result["benchmark"], figure[0], f"{_number(row['value'])} {unit}".strip(), peer[0],
                     f"{_number(row['baseline_value'])} {unit}".strip() if has_peer else "",
                     f"{row['ratio']:.3g}" if row.get("ratio") is not None else "")
            lines.append(first)
            for extra in range(1, max(len(figure), len(peer))):
                lines.append(("", figure[extra] if extra < len(figure) else "", "",
                              peer[extra] if extra < len(peer) else "", "", ""))
    widths = [max(len(cells[column]) for cells in (header, *lines)) for column in range(len(header))]
    right_aligned = {2, 4, 5}

    def render(cells: tuple[str, ...]) -> str:
        return "  ".join(cell.rjust(width) if column in right_aligned else cell.ljust(width)
                         for column, (cell, width) in enumerate(zip(cells, widths))).rstrip()

    out = [render(header), render(tuple("-" * width for width in widths)), *map(render, lines)]
    for result in results:
        for row in result["skipped"]:
            out.append(f"skipped: {result['benchmark']} {row['name']} beside {row.get('baseline_name')}: "
                       f"{row['skipped'].splitlines()[0]}")
        if result["error"]:
            out.append(f"FAILED: {result['benchmark']}: {result['error'].strip().splitlines()[-1]}")
    return "\n".join(out)


def comparison(before: dict, now: dict) -> str:
    """Each figure of `now` beside the same figure (benchmark and name) of the report `before`: both values, their
    quotient (now / before: above 1 is more of what the figure counts), and its ratio to the peer or limit in each
    run, which is what compares across machines. Figures only one report has are listed under the table."""
    def figures(report: dict) -> dict[tuple[str, str], dict]:
        return {(result["benchmark"], str(row["name"])): row for result in report["benchmarks"]
                for row in result["rows"]}

    old, new = figures(before), figures(now)
    header = ("benchmark", "figure", "before", "now", "now / before", "peer ratio before", "peer ratio now")
    lines = []
    for key, row in new.items():
        if key not in old:
            continue
        was = old[key]
        unit = row.get("unit") or ""
        change = (row["value"] / was["value"]) if was.get("value") else None
        lines.append((key[0], textwrap.shorten(key[1], TEXT_WIDTH), f"{_number(was['value'])} {unit}".strip(),
                      f"{_number(row['value'])} {unit}".strip(), f"{change:.3g}" if change is not None else "",
                      f"{was['ratio']:.3g}" if was.get("ratio") is not None else "",
                      f"{row['ratio']:.3g}" if row.get("ratio") is not None else ""))
    widths = [max(len(cells[column]) for cells in (header, *lines)) for column in range(len(header))]

    def render(cells: tuple[str, ...]) -> str:
        return "  ".join(cell.rjust(width) if column >= 2 else cell.ljust(width)
                         for column, (cell, width) in enumerate(zip(cells, widths))).rstrip()

    out = [f"against {before.get('started_at')} ({(before.get('machine') or {}).get('git_sha', '')[:12]}), "
           f"now {now.get('started_at')} ({(now.get('machine') or {}).get('git_sha', '')[:12]})",
           render(header), render(tuple("-" * width for width in widths)), *map(render, lines)]
    out += [f"only now: {b} {n}" for b, n in new if (b, n) not in old]
    out += [f"only before: {b} {n}" for b, n in old if (b, n) not in new]
    return "\n".join(out)


def write_report(report: dict, reports_dir: Path, started: datetime) -> Path:
    """reports/bench-<UTC timestamp>.json, and the same bytes as reports/bench-latest.json."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, ensure_ascii=False, default=_json_value) + "\n"
    path = reports_dir / f"bench-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    for target in (path, reports_dir / "bench-latest.json"):
        partial = target.with_suffix(".json.partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)  # a reader never sees half a report
    return path


def _json_value(value):
    # the sizes of a run may hold dataclasses (bench.ledger.Volume) and paths
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    return str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--only", action="append", choices=BENCHMARKS, metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="smoke-run sizes (each module's QUICK_RUN)")
    parser.add_argument("--compare", type=Path, metavar="REPORT.json",
                        help="print each figure's change against this earlier report")
    parser.add_argument("--against", type=Path, metavar="REPORT.json",
                        help="with --compare: compare with this report instead of running")
    args = parser.parse_args(argv)
    before = None
    if args.compare is not None:
        try:
            before = json.loads(args.compare.read_text())
        except (OSError, ValueError) as error:
            parser.error(f"--compare {args.compare}: not a bench report ({error})")
    if args.against is not None:
        if before is None:
            parser.error("--against needs --compare")
        try:
            print(comparison(before, json.loads(args.against.read_text())))
        except (OSError, ValueError, KeyError) as error:
            parser.error(f"--against {args.against}: not a bench report ({error})")
        return 0

    from foundation.home import DataHome, default_home  # the one place BACKED_HOME is resolved

    started = datetime.now(timezone.utc)
    clock = time.perf_counter()
    code_and_machine = machine()  # before the run: the commit measured, should another land meanwhile
    selected = [name for name in BENCHMARKS if not args.only or name in args.only]
    results = [run_benchmark(name, args.quick) for name in selected]
    report = {
        "started_at": started.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - clock, 1),
        "quick": args.quick,
        "command": [Path(sys.executable).name, "-m", "bench", *(argv if argv is not None else sys.argv[1:])],
        "machine": code_and_machine,
        "benchmarks": results,
    }
    path = write_report(report, DataHome(default_home()).reports, started)
    print(table(results))
    if before is not None:
        print("\n" + comparison(before, report))
    print(f"\nresults: {path} (and {path.parent / 'bench-latest.json'})")
    return 1 if any(result["error"] for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
