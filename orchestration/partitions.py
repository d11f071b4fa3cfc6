"""Every source is partitioned by UTC day: the block's day, the tape's as-of date, the sample's day, the statement date."""
from datetime import date, timedelta

import dagster as dg

# Early enough for USDai's mainnet history and any sandbox start date.
PARTITIONS_START = "2025-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC", end_offset=0)


def window_days(context) -> list[date]:
    """The UTC days of a run's partition window (asset or check context), in order."""
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    return [start + timedelta(days=i) for i in range((end - start).days)]
