"""`backed demo`: a fresh sandbox chain, N simulated days, the whole pipeline through Dagster, the coverage table."""
from __future__ import annotations

import click

from foundation.money import ratio, usd
from orchestration.cli.console import console_of
from orchestration.cli.parameters import DAY, data_home
from sandbox.injections import INJECTION_KINDS, parse_injections


@click.command()
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 400))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--start", default="2026-01-01", show_default=True, type=DAY, help="First simulated UTC day.")
@click.option("--inject", multiple=True, metavar="KIND[@DAY]",
              help="A named discrepancy on a day (index or date; drawn from the seed when omitted), repeatable: "
                   + ", ".join(INJECTION_KINDS) + " (docs/reconciliation.md, Known answers).")
@click.option("--keep-chain", is_flag=True,
              help="Leave the local chain serving at the end, for the guides' commands (`backed sandbox down` stops "
                   "it; `backed sandbox up` brings a demo's chain back later).")
@click.pass_context
def demo(ctx: click.Context, days: int, seed: int, start, inject: tuple[str, ...], keep_chain: bool) -> None:
    """Start a sandbox chain, simulate DAYS of protocol life, run the whole pipeline, print the coverage table.

    dbt's and Dagster's output goes to logs/backed.log under the data home (shown with `backed --verbose demo`).
    """
    try:
        # before anything starts: a kind or a day that cannot be is a usage error, not a failed run
        parse_injections(inject, start, days, seed)
    except ValueError as problem:
        raise click.BadParameter(str(problem), param_hint="--inject") from None
    console = console_of(ctx)
    with console.quiet(f"backed demo --days {days} --seed {seed} --start {start}"):
        from orchestration.attestations import demo_sign_off
        from orchestration.pipeline import run_demo

        result = run_demo(data_home(ctx).root, days=days, seed=seed, start=start, inject=inject, echo=console.say,
                          keep_chain=keep_chain, phase=console.phase, sign_off=demo_sign_off(verify_it=True))
    click.echo(format_table(result.rows))
    last = result.days[-1]
    if last in result.attestations:
        click.echo(f"\nattestation: {result.attestations[last]}")
        if result.sign_off:
            click.echo("the keys under keys/ are DEMO keys, made by the demo: a real signer's key lives outside the "
                       "data home (`backed keys new`)")
            for line in result.sign_off:
                click.echo(line)
    else:
        click.echo(f"\nattestation for {last} refused: {result.refused.get(last, 'not produced')}")
    home = data_home(ctx)
    if home.snapshot_manifest.exists():
        click.echo(f"the ledger for SQL clients and BI tools (read-only): {home.snapshot} (`backed sql \"select ...\"`)")
    if result.refused:
        click.echo(f"days without an attestation (open blockers): {', '.join(str(d) for d in sorted(result.refused))}")
    click.echo(f"details of the run (dbt, Dagster): {console.log_path}", err=True)


def format_table(rows: list[dict]) -> str:
    """Each ratio beside its parts: USDai outstanding = supply + bridged - held by the protocol; liquid coverage =
    liquid reserves / outstanding; total coverage = total assets net of the allowance / total liabilities."""
    header = ("date", "USDai supply", "bridged", "held by protocol", "outstanding", "liquid reserves",
              "liquid cov.", "total assets net", "liabilities", "total cov.", "open exceptions")
    body = [(str(r["day"]), usd(r["usdai_total_supply"]), usd(r["usdai_bridged_supply"]),
             usd(r["usdai_held_by_protocol"]), usd(r["usdai_outstanding"]), usd(r["liquid_reserves"]),
             ratio(r["liquid_coverage"]), usd(r["total_assets_net"]), usd(r["total_liabilities"]),
             ratio(r["total_coverage"]),
             f"{r['open_exceptions']}" + (f" ({r['open_blockers']} blocker)" if r["open_blockers"] else ""))
            for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(b) for b in body)])
