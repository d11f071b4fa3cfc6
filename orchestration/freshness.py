"""Freshness: every daily asset is expected to be materialised between the schedule's start (02:00 UTC, after the
day closed and its last block is confirmed) and 06:00 UTC; the UI marks an asset late after that."""
from collections.abc import Sequence
from datetime import timedelta

import dagster as dg

from foundation.partitions import daily_partitions

DAILY_FRESHNESS = dg.FreshnessPolicy.cron(deadline_cron="0 6 * * *", lower_bound_delta=timedelta(hours=4),
                                          timezone="UTC")


def with_daily_freshness(assets: Sequence) -> list:
    """The daily-partitioned assets with the daily freshness policy; the others (the seeds) as they are."""
    return list(dg.map_asset_specs(
        lambda spec: spec.replace_attributes(freshness_policy=DAILY_FRESHNESS)
        if spec.partitions_def == daily_partitions else spec, assets))
