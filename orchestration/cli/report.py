"""`backed report monthly MONTH`: the monthly reserve report, HTML and PDF, with its manifest."""
from __future__ import annotations

import sys

import click

from orchestration.cli.console import console_of
from orchestration.cli.parameters import data_home


class Month(click.ParamType):
    """A calendar month, YYYY-MM."""

    name = "YYYY-MM"

    def convert(self, value, param, ctx) -> str:
        from orchestration.monthly_report import month_bounds

        try:
            month_bounds(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a month (YYYY-MM, e.g. 2026-01)", param, ctx)
        return value


MONTH = Month()


@click.group("report")
def report_group() -> None:
    """Reports over a period: `backed report monthly 2026-01` writes the month's reserve report.

    \b
    backed report monthly 2026-01
    backed attest sign 2026-01 --key ceo.key --role "chief executive officer"
    """


@report_group.command("monthly")
@click.argument("month", type=MONTH)
@click.pass_context
def monthly(ctx: click.Context, month: str) -> None:
    """Write the reserve report of MONTH (YYYY-MM), HTML and PDF: the month-end position and the range of the daily
    coverage, USDai issued and redeemed, the reserves by class, every exception, restatement, post-seal adjustment
    and contract change of the month, its daily attestations and the officers' certification.

    Re-running it on the same warehouse writes the same bytes. Refuses (exit status 1) a month without a ledger day.
    """
    from orchestration.monthly_report import MonthlyReportRefused, issue_monthly_report

    home = data_home(ctx)
    console = console_of(ctx)
    try:
        with (console.phase(f"reporting {month} (reading the ledger, writing HTML and PDF)"),
              console.quiet(f"backed report monthly {month}")):
            report = issue_monthly_report(home, month)
    except MonthlyReportRefused as refused:
        console.say(f"monthly report for {month} refused: {refused}")
        sys.exit(1)
    for path in home.monthly_report_paths(month):
        click.echo(str(path))
    click.echo(f"manifest sha256 {report.digest}")
