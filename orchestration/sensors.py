"""The sensors: the inbox's, and the snapshot's after each run.

The inbox sensor: files dropped in `inbox/` start the ingestion of the days they are about.

Each tick takes the dropped files in (`assets.inbox.intake.take_in_inbox`: recognised by content, deduplicated by sha256,
routed to the day their content names, archived), then asks for one run per day that received files since the
last tick, whoever took them in (this sensor, an ingest run, `backed ingest`). The run key is made of the files'
hashes, so the same files never start a second run. Hashing is bounded per tick; a larger backlog is taken in over
the following ticks.
"""
from __future__ import annotations

import hashlib
from datetime import datetime

import dagster as dg

from orchestration.jobs import inbox_job, snapshot_job
from foundation.home_resource import BackedHome
from foundation.lake import Lake

# Bytes hashed and archived per tick: a day of a large fleet's telemetry is ~11 GB, hashed at roughly 1 GB/s.
INTAKE_BYTES_PER_TICK = 4 * 1024**3


@dg.sensor(job=inbox_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.STOPPED,
           description="Takes in files dropped in the inbox (by content, once per sha256) and starts the ingestion "
                       "of the days they are about.")
def inbox_sensor(context: dg.SensorEvaluationContext, backed_home: BackedHome):
    from assets.inbox.register import REJECTED, ROUTED, read_receipts
    from assets.inbox.intake import WAITING, take_in_inbox

    lake = Lake(backed_home.paths)
    for result in take_in_inbox(lake, max_bytes=INTAKE_BYTES_PER_TICK):
        if result.status == WAITING:
            context.log.info(f"{result.file_name}: {result.recognition.detail}")
        if result.status == REJECTED:
            context.log.warning(f"{result.file_name}: rejected ({result.recognition.problem}) "
                                f"{result.recognition.detail}; archived at {result.archive_path}")
    watermark = datetime.fromisoformat(context.cursor) if context.cursor else None
    receipts = read_receipts(lake, received_after=watermark)
    if receipts.is_empty():
        yield dg.SkipReason("no new files in the inbox")
        return
    routed = receipts.filter(receipts["status"] == ROUTED)
    for (day,), files in sorted(routed.partition_by("partition_date", as_dict=True).items()):
        hashes = sorted(files["sha256"].to_list())
        yield dg.RunRequest(
            run_key=f"{day.isoformat()}:{hashlib.sha256(','.join(hashes).encode()).hexdigest()[:32]}",
            partition_key=day.isoformat(),
            tags={"backed/inbox_files": ",".join(sorted(files["file_name"].to_list()))[:1000]},
        )
    context.update_cursor(receipts["received_at"].max().isoformat())


# Every job of this code location but these changes the marts: a backfill's runs are of Dagster's implicit asset job,
# not of the jobs in orchestration/jobs.py.
NOT_FOLLOWED_BY_A_SNAPSHOT = {snapshot_job.name, "reference_data"}


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, request_job=snapshot_job,
                      default_status=dg.DefaultSensorStatus.RUNNING,
                      description="Publishes the snapshot readers query (snapshot/) after each successful run that "
                                  "can change the marts (the jobs' and the backfills'): a failed run leaves readers "
                                  "the last good one.")
def snapshot_sensor(context: dg.RunStatusSensorContext):
    if context.dagster_run.job_name in NOT_FOLLOWED_BY_A_SNAPSHOT:
        return dg.SkipReason(f"a {context.dagster_run.job_name} run does not change the marts")
    return dg.RunRequest(run_key=f"snapshot-after-{context.dagster_run.run_id}")
