"""Every test `make test` leaves out runs in another target. A test marked `long` is skipped by `make test`; its file
must be in the Makefile's RELIABILITY_TESTS (`make reliability`) or in `make scale-test`'s command, or the test
would run nowhere."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEST_FILE = re.compile(r"tests/test_\w+\.py")
# a test marked long, or a module all of whose tests are
LONG_MARK = re.compile(r"^(@pytest\.mark\.long\b|pytestmark = pytest\.mark\.long\b)", re.M)


def makefile_lines() -> list[str]:
    """The Makefile's logical lines: a line ending in a backslash joined to the next."""
    return (REPO / "Makefile").read_text().replace("\\\n", " ").splitlines()


def files_of_variable(name: str) -> set[str]:
    line = next(line for line in makefile_lines() if line.startswith(f"{name} :="))
    return set(TEST_FILE.findall(line))


def files_of_recipe(target: str) -> set[str]:
    lines = makefile_lines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line)
    return set(TEST_FILE.findall(" ".join(recipe)))


def long_test_files() -> set[str]:
    return {f"tests/{path.name}" for path in (REPO / "tests").glob("test_*.py")
            if LONG_MARK.search(path.read_text())}


def files_the_other_targets_run() -> set[str]:
    return files_of_variable("RELIABILITY_TESTS") | files_of_recipe("scale-test")


def test_every_long_test_runs_in_make_reliability_or_make_scale_test():
    assert long_test_files() - files_the_other_targets_run() == set()


def test_the_other_targets_name_files_that_exist():
    named = files_the_other_targets_run()
    assert {name for name in named if not (REPO / name).is_file()} == set()
    assert "tests/test_spark_scale.py" in named and "tests/test_ledger_dbt.py" in named
