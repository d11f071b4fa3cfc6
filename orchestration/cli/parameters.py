"""What every `backed` command takes the same way: the data home (the group's --home, else $BACKED_HOME, else
./.backed) and days written YYYY-MM-DD."""
from __future__ import annotations

from datetime import date

import click

from foundation.home import DataHome, default_home


def data_home(ctx: click.Context) -> DataHome:
    """The data home the command works on."""
    home = (ctx.find_root().obj or {}).get("home")
    return DataHome.of(home if home is not None else default_home())


class Day(click.ParamType):
    """A UTC day, YYYY-MM-DD."""

    name = "YYYY-MM-DD"

    def convert(self, value, param, ctx) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a date (YYYY-MM-DD)", param, ctx)


DAY = Day()
