"""The attestation's charts: coverage over time, reserve composition, loan book by status, collateral health.

Each chart is drawn once with matplotlib and written twice: SVG for the HTML (text kept as text, ids salted with
a constant, no date) and PNG for the PDF (no software tag). Same data, same bytes. Amounts become floats here and
only here, to place marks on a plot; every number printed in the report comes from the exact values.
"""
from __future__ import annotations

import io
import re
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from decimal import Decimal

import matplotlib
from matplotlib.dates import DateFormatter, DayLocator
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter
from PIL import Image

from assets.attestation.document import Chart as ReportChart
from expectations.policy import ReconciliationPolicy

# Fixed rendering settings: a deterministic file never depends on the machine's matplotlibrc.
RENDERING = {
    "svg.hashsalt": "backed-attestation",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "path.simplify": False,
}
PNG_DPI = 150
INK = "#1d2433"
CASH, TBILLS, COINS = "#2f6db3", "#6aa84f", "#e69138"
GOOD, WARN, BAD = "#3c8d5a", "#e0a100", "#c0392b"
STATUS_COLOURS = {"current": GOOD, "delinquent": WARN, "default": BAD, "defaulted": BAD, "liquidated": "#7f7f7f",
                  "repaid": "#9aa5b1", "not on tape": "#b0b0b0"}


def _float(value: Decimal | None) -> float:
    return float(value) if value is not None else float("nan")


def _usd_axis(value: float, _position) -> str:
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:,.1f}M"
    if magnitude >= 1e3:
        return f"{value / 1e3:,.0f}k"
    return f"{value:,.0f}"


def _render(figure: Figure) -> tuple[str, bytes]:
    with matplotlib.rc_context(RENDERING):
        svg_buffer, png_buffer = io.StringIO(), io.BytesIO()
        figure.savefig(svg_buffer, format="svg", metadata={"Date": None, "Creator": None})
        figure.savefig(png_buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
    # The PDF wants an opaque image: an alpha channel would become a second image (a soft mask) in the file.
    opaque = io.BytesIO()
    Image.open(io.BytesIO(png_buffer.getvalue())).convert("RGB").save(opaque, format="PNG")
    svg = svg_buffer.getvalue()
    # Inline in HTML: drop the XML prolog and DOCTYPE, keep the <svg> element.
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    return svg, opaque.getvalue()


def _figure(height: float = 2.8) -> Figure:
    with matplotlib.rc_context(RENDERING):
        figure = Figure(figsize=(7.2, height), layout="constrained")
        return figure


def coverage_over_time(history: Sequence[dict], policy: ReconciliationPolicy) -> Figure:
    figure = _figure()
    with matplotlib.rc_context(RENDERING):
        axes = figure.add_subplot()
        days = [datetime.combine(h["partition_date"], time()) for h in history]
        axes.plot(days, [_float(h["liquid_coverage"]) for h in history], color=CASH, marker="o", markersize=3,
                  label="liquid coverage")
        axes.plot(days, [_float(h["total_coverage"]) for h in history], color=TBILLS, marker="s", markersize=3,
                  label="total coverage")
        axes.axhline(_float(Decimal(policy.coverage_floor)), color=BAD, linestyle="--", linewidth=1,
                     label=f"floor {Decimal(policy.coverage_floor) * 100:.0f}%")
        axes.axhline(_float(Decimal(policy.coverage_buffer)), color=WARN, linestyle=":", linewidth=1,
                     label=f"buffer {Decimal(policy.coverage_buffer) * 100:.0f}%")
        axes.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
        axes.set_ylim(bottom=0)
        axes.set_title("Coverage over time", color=INK)
        figure.legend(loc="outside lower center", fontsize=8, frameon=False, ncols=4)
        # Whole days only: one point per day's close, at most eight labels, half a day of room either side.
        if days:
            axes.set_xlim(days[0] - timedelta(hours=12), days[-1] + timedelta(hours=12))
        axes.xaxis.set_major_locator(DayLocator(interval=max(1, -(-len(days) // 8))))
        axes.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))
        figure.autofmt_xdate()
    return figure


def reserve_composition(coverage: dict) -> Figure:
    figure = _figure(height=2.2)
    with matplotlib.rc_context(RENDERING):
        axes = figure.add_subplot()
        parts = [("custodian cash", coverage["custodian_cash"], CASH), ("T-bills", coverage["tbills"], TBILLS),
                 ("stablecoins on chain", coverage["onchain_stablecoins"], COINS)]
        total = sum((p[1] or Decimal(0) for p in parts), Decimal(0))
        left = 0.0
        for label, value, colour in parts:
            width = _float(value or Decimal(0))
            share = f" {(value or 0) / total * 100:.1f}%" if total else ""
            axes.barh([0], [width], left=left, color=colour, label=f"{label}{share}")
            left += width
        axes.axvline(_float(coverage["usdai_outstanding"]), color=INK, linestyle="--", linewidth=1,
                     label="USDai outstanding")
        axes.xaxis.set_major_formatter(FuncFormatter(_usd_axis))
        axes.set_yticks([])
        axes.set_xlabel("USD")
        axes.set_title("Reserve composition", color=INK)
        figure.legend(loc="outside lower center", fontsize=8, frameon=False, ncols=4)
    return figure


def loan_book_by_status(loans: Sequence[dict]) -> Figure:
    figure = _figure(height=2.4)
    by_status: dict[str, Decimal] = {}
    counts: dict[str, int] = {}
    for loan in loans:
        by_status[loan["status"]] = by_status.get(loan["status"], Decimal(0)) + loan["carrying_amount"]
        counts[loan["status"]] = counts.get(loan["status"], 0) + 1
    statuses = sorted(by_status)
    with matplotlib.rc_context(RENDERING):
        axes = figure.add_subplot()
        if statuses:
            bars = axes.barh(statuses, [_float(by_status[s]) for s in statuses],
                             color=[STATUS_COLOURS.get(s, CASH) for s in statuses])
            axes.bar_label(bars, labels=[f"{counts[s]} loan{'s' if counts[s] != 1 else ''}" for s in statuses],
                           padding=3, fontsize=8)
        else:
            axes.text(0.5, 0.5, "no loans outstanding", ha="center", va="center", transform=axes.transAxes)
        axes.xaxis.set_major_formatter(FuncFormatter(_usd_axis))
        axes.set_xlabel("carrying amount, USD")
        axes.set_title("Loan book by status", color=INK)
    return figure


# A bar per loan up to this many loans; a larger book shows its weakest loans (the table lists them all).
MAX_LOAN_BARS = 25


def collateral_health(loans: Sequence[dict]) -> Figure:
    rated = [loan for loan in loans if loan["collateral_health"] is not None]
    title = "Collateral health by loan"
    if len(rated) > MAX_LOAN_BARS:
        # the weakest first, ties in the table's order (lender, loan): the same bars for the same book
        order = sorted(range(len(rated)), key=lambda i: (rated[i]["collateral_health"], i))
        title = f"Collateral health: the {MAX_LOAN_BARS} weakest of {len(rated):,} loans"
        rated = [rated[i] for i in order[:MAX_LOAN_BARS]]
    figure = _figure(height=max(1.8, 0.28 * len(rated) + 1.0))
    with matplotlib.rc_context(RENDERING):
        axes = figure.add_subplot()
        if rated:
            labels = [loan["loan_id"] or loan["loan_terms_hash"][:10] for loan in rated]
            shares = [_float(loan["collateral_health"]) for loan in rated]
            colours = [GOOD if share >= 1 else (WARN if share >= 0.5 else BAD) for share in shares]
            bars = axes.barh(labels, shares, color=colours)
            axes.bar_label(bars, labels=[f"{loan['collateral_gpus'] - (loan['dark_gpus'] or 0) - (loan['erroring_gpus'] or 0)}"
                                         f"/{loan['collateral_gpus']} GPUs" for loan in rated], padding=3, fontsize=8)
            axes.invert_yaxis()
        else:
            axes.text(0.5, 0.5, "no collateral schedules", ha="center", va="center", transform=axes.transAxes)
        axes.set_xlim(0, 1.25)
        axes.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
        axes.set_xlabel("share of collateral GPUs online and within limits")
        axes.set_title(title, color=INK)
    return figure


def attestation_charts(coverage: dict, history: Sequence[dict], loans: Sequence[dict],
                       policy: ReconciliationPolicy) -> dict:

    figures = {
        "coverage_over_time": ("Liquid and total coverage at each day's close, against the floor and the buffer.",
                               coverage_over_time(history, policy)),
        "reserve_composition": ("Liquid reserves by class against the USDai outstanding.",
                                reserve_composition(coverage)),
        "loan_book_by_status": ("Carrying amount of the loan book by the lenders' status.",
                                loan_book_by_status(loans)),
        "collateral_health": ("Per loan, the share of its collateral GPUs online and within limits.",
                              collateral_health(loans)),
    }
    charts = {}
    for key, (caption, figure) in figures.items():
        svg, png = _render(figure)
        charts[key] = ReportChart(key=key, title=caption, svg=svg, png=png)
    return charts
