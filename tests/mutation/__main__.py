"""`make mutation`: the mutation gate. Each mutant of tests/mutation/catalogue.toml is a realistic bug (a posting rule's
sides flipped, a check's condition dropped, a tolerance widened, money through a float, a reorganised day skipped, a
parser rule removed, an idempotency key changed), planted in a scratch copy of the project; the tests the catalogue
names for it must then fail. It prints "mutants killed N of M", lists the survivors, and exits non-zero unless every
mutant was killed.

    python -m tests.mutation [--only ID ...] [--jobs N] [--list] [--no-baseline]

How it runs:
- The scratch copies (one per job) hold the project's files as git lists them, with the compiled contracts and dbt's
  manifest; the tests run from a copy with it first on PYTHONPATH, with this interpreter (the project's venv), so
  the copy's code is what is imported, in pytest and in every process it starts (the CLI, Dagster's runs, dbt).
- First the baseline: every test the catalogue names, on the unmutated copy. A gate whose tests fail unmutated
  proves nothing, so a red baseline stops it. The baseline's clean demo (tests/conftest.py `clean_demo`) is kept
  for the mutants that only change what the checks compute from it (`demo = "prebuilt"`: the check models, which
  are views, are rebuilt from the mutated project on each copy of it); the others run their own.
- A mutant is killed when its tests fail (pytest's exit status 1) or hang past the timeout. Any other outcome (a
  usage error, a test not found) is an error of the catalogue, reported and not counted as killed.
- Each mutant is applied as an exact text replacement that must match exactly once: a catalogue that no longer
  matches the code is refused before anything runs, never skipped.
- The Python side's pure logic is mutated by mutmut as well (pyproject.toml `[tool.mutmut]`: which modules, which
  tests): every mutant it makes counts in the tally, one line each for those that survive.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from queue import Queue

REPO = Path(__file__).resolve().parents[2]
CATALOGUE = Path(__file__).resolve().parent / "catalogue.toml"
KINDS = ("posting_rule", "check", "tolerance", "float", "reorg", "parser", "idempotency", "attestation", "mutmut")
MINIMUM_MUTANTS = 40
TIMEOUT_S = int(os.environ.get("BACKED_MUTATION_TIMEOUT_S", "1200"))
# Built outside the project's folders: what the tests write must not land in the copy git lists.
BUILT = ("sandbox/build", "dbt_project/target/manifest.json")


@dataclass(frozen=True)
class Mutant:
    id: str
    kind: str
    why: str
    file: str
    find: str
    replace: str
    tests: tuple[str, ...]
    demo: str = "fresh"

    def apply(self, root: Path) -> str:
        path = root / self.file
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(self.find, self.replace, 1), encoding="utf-8")
        return text


@dataclass
class Outcome:
    mutant: Mutant
    verdict: str  # killed, survived, error
    seconds: float
    detail: str


def load_catalogue(path: Path = CATALOGUE) -> list[Mutant]:
    with path.open("rb") as f:
        entries = tomllib.load(f)["mutant"]
    mutants = [Mutant(**{**entry, "tests": tuple(entry["tests"])}) for entry in entries]
    problems = []
    seen: set[str] = set()
    for mutant in mutants:
        if mutant.id in seen:
            problems.append(f"{mutant.id}: the id is used twice")
        seen.add(mutant.id)
        if mutant.kind not in KINDS:
            problems.append(f"{mutant.id}: kind {mutant.kind!r} is not one of {', '.join(KINDS)}")
        if mutant.demo not in ("fresh", "prebuilt"):
            problems.append(f"{mutant.id}: demo must be 'fresh' or 'prebuilt'")
        if not mutant.tests:
            problems.append(f"{mutant.id}: names no test that should catch it")
        if mutant.find == mutant.replace:
            problems.append(f"{mutant.id}: find and replace are the same text")
        source = REPO / mutant.file
        if not source.exists():
            problems.append(f"{mutant.id}: {mutant.file} does not exist")
            continue
        matches = source.read_text(encoding="utf-8").count(mutant.find)
        if matches != 1:
            problems.append(f"{mutant.id}: the text to mutate occurs {matches} times in {mutant.file} (must be once)")
    if problems:
        raise SystemExit("the mutation catalogue does not match the code:\n  " + "\n  ".join(problems))
    return mutants


def make_copy(destination: Path) -> Path:
    """The project's files as git lists them (tracked, and new files not ignored), with what setup built."""
    listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=REPO, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    for name in BUILT:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, destination / name, dirs_exist_ok=True)
        elif source.exists():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    (destination / "node_modules").symlink_to(REPO / "node_modules")
    return destination


def pytest_command(tests: list[str], basetemp: Path, workers: int = 1) -> list[str]:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", str(basetemp),
               "-o", "tmp_path_retention_policy=none"]
    if workers > 1:
        command += ["-n", str(workers), "--dist", "loadfile"]
    else:
        command += ["-x"]
    return command + tests


def environment(copy: Path, demo_dir: Path, rebuild_check_views: bool) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(copy), "BACKED_HOME": str(copy / ".backed"),
           "BACKED_TEST_CLEAN_DEMO_DIR": str(demo_dir)}
    env.pop("BACKED_RELIABILITY_DIR", None)
    if rebuild_check_views:
        env["BACKED_TEST_REBUILD_CHECK_VIEWS"] = "1"
    return env


def run_tests(command: list[str], cwd: Path, env: dict[str, str], timeout: float | None = None) -> subprocess.CompletedProcess:
    """`command` in a process group of its own, killed whole (xdist workers, anvil, Dagster's runs) when it times out
    or the gate is interrupted, so that no test outlives the gate."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def failed_tests(output: str) -> list[str]:
    return re.findall(r"^(?:FAILED|ERROR) (\S+)", output, re.M)


def run_mutant(mutant: Mutant, copy: Path, demo_dir: Path) -> Outcome:
    original = mutant.apply(copy)
    started = time.monotonic()
    basetemp = copy.parent / f"{copy.name}-pytest"
    try:
        # Each mutant gets a new demo folder unless it may use the baseline's (its check views rebuilt).
        own_demo = demo_dir if mutant.demo == "prebuilt" else Path(tempfile.mkdtemp(dir=copy.parent, prefix="demo-"))
        result = run_tests(pytest_command(list(mutant.tests), basetemp), copy,
                           environment(copy, own_demo, rebuild_check_views=mutant.demo == "prebuilt"), TIMEOUT_S)
        output = result.stdout + result.stderr
        if result.returncode == 1:
            verdict, detail = "killed", ", ".join(failed_tests(output)) or "tests failed"
        elif result.returncode == 0:
            verdict, detail = "survived", "every test passed with the mutant in place"
        else:
            verdict, detail = "error", f"pytest exit status {result.returncode}: {output.strip()[-600:]}"
        if own_demo != demo_dir:
            shutil.rmtree(own_demo, ignore_errors=True)
    except subprocess.TimeoutExpired:
        verdict, detail = "killed", f"the tests hung past {TIMEOUT_S} s"
    finally:
        (copy / mutant.file).write_text(original, encoding="utf-8")
        shutil.rmtree(basetemp, ignore_errors=True)
    return Outcome(mutant, verdict, time.monotonic() - started, detail)


def run_mutmut(copy: Path) -> list[Outcome]:
    """mutmut's mutants of the modules pyproject.toml names, one outcome each (its own copy: it writes mutants/)."""
    mutmut = Path(sys.executable).parent / "mutmut"
    env = {**os.environ, "PYTHONPATH": str(copy)}
    started = time.monotonic()
    run = subprocess.run([str(mutmut), "run"], cwd=copy, capture_output=True, text=True, env=env, timeout=TIMEOUT_S)
    results = subprocess.run([str(mutmut), "results", "--all", "true"], cwd=copy, capture_output=True, text=True,
                             env=env)
    found = re.findall(r"^\s*(\S+): (\w+)$", results.stdout, re.M)
    if run.returncode != 0 or not found:
        detail = (run.stdout + run.stderr)[-600:]
        return [Outcome(Mutant("mutmut", "mutmut", "mutmut did not run", "pyproject.toml", "", "-", ("-",)),
                        "error", time.monotonic() - started, detail)]
    seconds = (time.monotonic() - started) / len(found)
    outcomes = []
    for name, status in found:
        module, _, function = name.rpartition(".x_")
        diff = subprocess.run([str(mutmut), "show", name], cwd=copy, capture_output=True, text=True, env=env).stdout \
            if status != "killed" else ""
        changed = " / ".join(line[1:].strip() for line in diff.splitlines()
                             if line[:1] in "+-" and not line.startswith(("+++", "---")))
        mutant = Mutant(f"mutmut:{name}", "mutmut", changed or f"{function} mutated by mutmut",
                        module.replace(".", "/") + ".py", "", "-", ("pyproject.toml [tool.mutmut]",))
        outcomes.append(Outcome(mutant, "killed" if status in ("killed", "timeout") else "survived", seconds, status))
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="run only these mutant ids")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("BACKED_MUTATION_JOBS", "2")))
    parser.add_argument("--list", action="store_true", help="list the catalogue and stop")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the unmutated run (only when it has just passed: a red baseline proves nothing)")
    args = parser.parse_args(argv)

    mutants = load_catalogue()
    if args.list:
        for mutant in mutants:
            print(f"{mutant.id:40} {mutant.kind:12} {mutant.why}")
        print(f"{len(mutants)} mutants")
        return 0
    if args.only is None and len(mutants) < MINIMUM_MUTANTS:
        raise SystemExit(f"the catalogue holds {len(mutants)} mutants; the gate needs at least {MINIMUM_MUTANTS}")
    if args.only:
        unknown = sorted(set(args.only) - {m.id for m in mutants})
        if unknown:
            raise SystemExit(f"no mutant with id {', '.join(unknown)} (python -m tests.mutation --list)")
        mutants = [m for m in mutants if m.id in args.only]

    scratch = Path(tempfile.mkdtemp(prefix="backed-mutation-"))
    report_dir = Path(os.environ.get("BACKED_HOME", REPO / ".backed")) / "reports" / "mutation"
    report_dir.mkdir(parents=True, exist_ok=True)
    log = (report_dir / "mutation.log").open("w", encoding="utf-8")
    try:
        jobs = max(1, min(args.jobs, len(mutants)))
        copies = [make_copy(scratch / f"copy-{n}") for n in range(jobs)]
        demo_dir = scratch / "baseline-demo"
        demo_dir.mkdir()
        if not args.no_baseline or any(m.demo == "prebuilt" for m in mutants):
            tests = sorted({test for mutant in mutants for test in mutant.tests})
            if args.no_baseline:
                tests = sorted({test for mutant in mutants if mutant.demo == "prebuilt" for test in mutant.tests})
            print(f"baseline: {len(tests)} test selections on the unmutated project ...", flush=True)
            started = time.monotonic()
            baseline = run_tests(pytest_command(tests, scratch / "baseline-pytest", workers=jobs), copies[0],
                                 environment(copies[0], demo_dir, rebuild_check_views=False))
            log.write(f"== baseline\n{baseline.stdout}\n{baseline.stderr}\n")
            if baseline.returncode != 0:
                print(f"the baseline fails: {', '.join(failed_tests(baseline.stdout)) or baseline.stdout[-1500:]}\n"
                      f"fix the tests before judging mutants (details: {log.name})")
                return 1
            print(f"baseline: passed in {time.monotonic() - started:.0f} s", flush=True)

        free: Queue[Path] = Queue()
        for copy in copies:
            free.put(copy)

        def judge(mutant: Mutant) -> Outcome:
            copy = free.get()
            try:
                return run_mutant(mutant, copy, demo_dir)
            finally:
                free.put(copy)

        outcomes = []
        if args.only is None:
            print("mutmut: the Python side's pure logic ...", flush=True)
            python_side = run_mutmut(make_copy(scratch / "copy-mutmut"))
            outcomes += python_side
            print(f"mutmut: killed {sum(o.verdict == 'killed' for o in python_side)} of {len(python_side)}", flush=True)
            for outcome in python_side:
                log.write(f"== {outcome.mutant.id}: {outcome.verdict}\n{outcome.mutant.why}\n")
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for number, outcome in enumerate(pool.map(judge, mutants), start=1):
                outcomes.append(outcome)
                print(f"[{number}/{len(mutants)}] {outcome.verdict:8} {outcome.mutant.id} ({outcome.seconds:.0f} s)"
                      + ("" if outcome.verdict == "killed" else f": {outcome.detail[:300]}"), flush=True)
                log.write(f"== {outcome.mutant.id}: {outcome.verdict} in {outcome.seconds:.0f} s\n{outcome.detail}\n")
    finally:
        log.close()
        shutil.rmtree(scratch, ignore_errors=True)

    killed = [o for o in outcomes if o.verdict == "killed"]
    print(f"\nmutants killed {len(killed)} of {len(outcomes)}")
    for outcome in outcomes:
        if outcome.verdict != "killed":
            print(f"  {outcome.verdict.upper()}: {outcome.mutant.id} ({outcome.mutant.kind}, {outcome.mutant.file}): "
                  f"{outcome.mutant.why}")
    summary = {"mutants": len(outcomes), "killed": len(killed),
               "outcomes": [{"id": o.mutant.id, "kind": o.mutant.kind, "verdict": o.verdict,
                             "seconds": round(o.seconds), "detail": o.detail} for o in outcomes]}
    (report_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"written to {report_dir / 'summary.json'}")
    return 0 if len(killed) == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
