"""The inbox sensor: a file dropped in `inbox/` starts the ingestion of its day.

The file's day comes from its name (`…-YYYY-MM-DD.ext`); the run key is the file's sha256, so the same file dropped
twice starts one run.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import dagster as dg

from orchestration.jobs import inbox_job
from orchestration.resources import BackedHome

DAY_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})\.[A-Za-z0-9]+$")
INBOX_SOURCES = ("loan_tapes", "telemetry", "custodian")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dg.sensor(job=inbox_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.STOPPED,
           description="Starts the ingestion of a day when a new file for it lands in the inbox.")
def inbox_sensor(context: dg.SensorEvaluationContext, backed_home: BackedHome):
    seen: dict[str, float] = json.loads(context.cursor) if context.cursor else {}
    inbox = backed_home.root / "inbox"
    for source in INBOX_SOURCES:
        folder = inbox / source
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            match = DAY_IN_NAME.search(path.name)
            if not path.is_file() or match is None:
                continue
            key = f"{source}/{path.name}"
            mtime = path.stat().st_mtime
            if seen.get(key) == mtime:
                continue
            seen[key] = mtime
            yield dg.RunRequest(run_key=_sha256(path), partition_key=match.group(1),
                                tags={"backed/inbox_file": key})
    context.update_cursor(json.dumps(seen, sort_keys=True))
