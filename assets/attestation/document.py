"""What an attestation says, as data: sections of tables, charts and notes, which the HTML template and the PDF
renderer both lay out, so the two files always say the same thing."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

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
    html: str = ""

    @property
    def title(self) -> str:
        return f"{TITLE} {self.day.isoformat()}"

    @property
    def override_text(self) -> str | None:
        if not self.override_reason:
            return None
        return (f"Generated with an OVERRIDE while {len(self.blockers)} blocker exception(s) were open. "
                f"Reason given: \u201c{self.override_reason}\u201d")
