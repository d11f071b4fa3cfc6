"""What an attestation says, as data: sections of tables, charts and notes, which the HTML template and the PDF
renderer both lay out, so the two files always say the same thing."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from foundation.money import usd

TITLE = "Reserve attestation"
ISSUER = "USDai"


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    # Indexes of the columns holding amounts or ratios: right-aligned.
    numeric: frozenset[int] = frozenset()
    # Indexes of the columns holding hashes or addresses: set in monospace, broken anywhere.
    code: frozenset[int] = frozenset()
    empty: str = "none"
    # The last row is a total: set in bold.
    total_row: bool = False


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    svg: str
    png: bytes


@dataclass
class Attestation:
    day: date
    verdict: str
    verdict_ok: bool
    sections: list[Section]
    charts: dict[str, Chart]
    blockers: list[dict]
    override_reason: str | None
    preparer: str
    ledger_hash: str
    code_version: str
    # The manifest every figure and input is committed to, its canonical bytes and their sha256 (the digest the
    # signatures cover and the registry publishes), and the management assertion the signers make.
    manifest: dict = field(default_factory=dict)
    manifest_bytes: bytes = b""
    digest: str = ""
    assertion: str = ""
    signatures: list = field(default_factory=list)
    html: str = ""
    # A report over a month (its figures measured at `day`, the month's last ledger day) names the month: "2026-01".
    period_label: str | None = None

    @property
    def title(self) -> str:
        if self.period_label:
            return f"Monthly reserve report {self.period_label}"
        return f"{TITLE} {self.day.isoformat()}"

    @property
    def period(self) -> str:
        return self.period_label or self.day.isoformat()

    @property
    def overridden_blockers(self) -> list[str]:
        """One line per blocker the override overrode, its amounts formatted as money where they are amounts."""
        return [f"{b['check_id']} {b['entity_key']} ({b['exception_id']}): expected {_amount(b['expected'])}, "
                f"actual {_amount(b['actual'])}, difference {_amount(b['difference'])}" for b in self.blockers]

    @property
    def override_text(self) -> str | None:
        if not self.override_reason:
            return None
        return (f"Generated with an OVERRIDE while {len(self.blockers)} blocker exception(s) were open. "
                f"Reason given: \u201c{self.override_reason}\u201d")


def _amount(text: str | None) -> str:
    """An exception's expected, actual or difference: a USD amount as money (791,232.00), anything else as it is
    (a status, "missing from tape")."""
    if text is None or text == "":
        return "n/a"
    try:
        return usd(Decimal(text))
    except (InvalidOperation, ValueError):
        return text
