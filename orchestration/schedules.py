"""The daily run starts after the UTC day closes and the chain has had time to confirm its last block."""
import dagster as dg

from orchestration.jobs import daily_pipeline_job

daily_pipeline_schedule = dg.build_schedule_from_partitioned_job(
    daily_pipeline_job, hour_of_day=2, minute_of_hour=0,
    description="Every day at 02:00 UTC: the previous day end to end.",
)
