"""Signing keys and RPC URLs never reach a log, a report, the snapshot or an export.

A copy of the clean demo (signed with its demo keys) reads its chain through an RPC URL that carries a password and
an API key, as providers' URLs do; the last day is run again through the pipeline, a controller's key is made
outside the data home and signs, the attestation is published on the chain and verified, and the ledger is exported
(the audit trail as CSV and Parquet, the snapshot through `backed sql`). Then every file the data home holds (but
the keys themselves and the deployment file where the URL is configured), every export and everything the commands
printed is searched, byte for byte, for the URL's secrets and for each private key in every form it could be
written in.
"""
import base64
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from click.testing import CliRunner
from conftest import DAYS, START
from demo_copies import copy_of_demo, daily_pipeline_on, point_at

DAY = START.replace(day=DAYS)
PASSWORD, API_KEY = "S3cretPassw0rd-do-not-log", "S3cretApiKey-do-not-log"


def with_secrets(rpc_url: str) -> str:
    """The node's URL as a provider hands one out: a user and password, and a key in the query."""
    parts = urlsplit(rpc_url)
    return urlunsplit((parts.scheme, f"backed:{PASSWORD}@{parts.netloc}", parts.path or "/", f"apikey={API_KEY}", ""))


def key_forms(key_file: Path) -> list[bytes]:
    """A private key as it could leak: the PEM body, the raw seed, its hex and its base64."""
    from cryptography.hazmat.primitives import serialization

    pem = key_file.read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    body = b"".join(line for line in pem.splitlines() if not line.startswith(b"-----"))
    return [body, seed, seed.hex().encode(), seed.hex().upper().encode(), base64.b64encode(seed)]


@pytest.fixture(scope="module")
def demo_with_secrets(clean_demo, tmp_path_factory):
    from orchestration.cli import main
    from orchestration.pipeline import run_pipeline

    demo, tmp_path, home = copy_of_demo(clean_demo, tmp_path_factory, "secrets")
    key = tmp_path / "user" / ".config" / "backed" / "keys" / "controller.key"
    exports = tmp_path / "exports"
    exports.mkdir()
    printed: list[str] = []
    runner = CliRunner()

    def backed(*args: str) -> None:
        out = runner.invoke(main, ["--home", str(home), *args])
        printed.extend([out.stdout, out.stderr])
        assert out.exit_code == 0, (args, out.output)

    with daily_pipeline_on(demo, home, tmp_path / "chain"), pytest.MonkeyPatch.context() as env:
        env.setenv("BACKED_PROFILE", "sandbox")  # whatever an earlier test of this process left there
        rpc_url = with_secrets(_configured_url(home))
        point_at(home, rpc_url)
        result = run_pipeline(home, [DAY], echo=printed.append)
        assert DAY in result.attestations
        backed("keys", "new", str(key), "--name", "A. Controller", "--role", "preparer")
        backed("attest", "sign", DAY.isoformat(), "--key", str(key))
        backed("--verbose", "attest", "publish", DAY.isoformat())
        backed("verify", "--no-rebuild", str(home / "reports" / f"attestation-{DAY.isoformat()}.html"))
        backed("trail", "--account", "1020", "--date", DAY.isoformat(), "--out", str(exports / "trail.csv"))
        backed("trail", "--account", "1020", "--date", DAY.isoformat(), "--out", str(exports / "trail.parquet"))
        backed("sql", "--format", "csv", "select * from journal_lines")
    secrets = [PASSWORD.encode(), API_KEY.encode()]
    for key_file in [key, *sorted((home / "keys").glob("*.key"))]:
        secrets += key_forms(key_file)
    return {"home": home, "exports": exports, "printed": printed, "secrets": secrets, "keys": home / "keys"}


def _configured_url(home: Path) -> str:
    import json

    return json.loads((home / "sandbox" / "deployment.json").read_text())["rpc_url"]


@pytest.mark.long
def test_no_secret_reaches_a_log_a_report_the_snapshot_or_an_export(demo_with_secrets):
    home = demo_with_secrets["home"]
    where_configured = {home / "sandbox" / "deployment.json"}
    searched = [path for path in sorted(home.rglob("*"))
                if path.is_file() and not path.is_relative_to(demo_with_secrets["keys"])
                and path not in where_configured]
    searched += sorted(path for path in demo_with_secrets["exports"].iterdir())
    names = {str(path.relative_to(home)) if path.is_relative_to(home) else path.name for path in searched}
    # the places a leak would be: the command log, Dagster's run storage, reports, records, the snapshot, exports
    assert {"logs/backed.log", "snapshot/ledger.duckdb", "snapshot/manifest.json", "trail.csv", "trail.parquet",
            f"reports/attestation-{DAY.isoformat()}.html", f"attestations/{DAY.isoformat()}/publication.json",
            f"attestations/{DAY.isoformat()}/signatures.json"} <= names
    assert any(name.startswith("dagster/") for name in names)
    leaks = [(str(path), secret[:12]) for path in searched for secret in demo_with_secrets["secrets"]
             if secret in path.read_bytes()]
    assert leaks == []
    printed = "\n".join(demo_with_secrets["printed"]).encode()
    assert b"published" in printed and b"rows" in printed or b"partition_date" in printed
    assert [secret[:12] for secret in demo_with_secrets["secrets"] if secret in printed] == []


def test_dbt_sends_no_usage_events_and_writes_no_tracking_cookie(tmp_path):
    """dbt sends anonymous usage events to dbt Labs unless the project says not to, with a cookie (`.user.yml`) it
    writes beside profiles.yml to tie them together: dbt_project.yml turns that off."""
    from assets.ledger import DBT_PROJECT_DIR, dbt_environment
    from foundation.home import DataHome

    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copy(DBT_PROJECT_DIR / "profiles.yml", profiles / "profiles.yml")
    target = tmp_path / "target"
    target.mkdir()
    shutil.copy(DBT_PROJECT_DIR / "target" / "partial_parse.msgpack", target)  # the parse `make setup` made
    parsed = subprocess.run([str(Path(sys.prefix) / "bin" / "dbt"), "parse", "--profiles-dir", str(profiles),
                             "--project-dir", str(DBT_PROJECT_DIR), "--target-path", str(target),
                             "--log-path", str(tmp_path / "logs")],
                            env={**os.environ, **dbt_environment(DataHome(tmp_path / "home"))},
                            capture_output=True, text=True, timeout=300)
    assert parsed.returncode == 0, parsed.stdout[-3000:]
    assert not (profiles / ".user.yml").exists()
