"""What every `backed` command takes the same way: the data home (the group's --home, else $BACKED_HOME, else
./.backed), days written YYYY-MM-DD and hashes written 0x and 64 hex digits."""
from __future__ import annotations

import re
from datetime import date

import click

from foundation.chain_text import BYTES32_TEXT
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


class Hash(click.ParamType):
    """A transaction hash or a loanTermsHash: 0x and 64 hex digits."""

    name = "0x…"

    def convert(self, value, param, ctx) -> str:
        if isinstance(value, str) and re.fullmatch(BYTES32_TEXT, value) is not None:
            return value
        self.fail(f"{value!r} is not a hash (0x and 64 hex digits)", param, ctx)


HASH = Hash()
