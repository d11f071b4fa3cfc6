"""Named discrepancies the sandbox can inject so that every reconciliation check has a known answer.

A spec is `<kind>`, `<kind>@<day index, 1-based>` or `<kind>@<YYYY-MM-DD>`. Without a day, the day is drawn
from the seed and the kind alone among the days the kind can happen on, so adding or removing another injection
never moves it. A kind can only happen on some days (a repaid loan for `status-mismatch`, a held T-bill for
`tbill-shortfall`, ...): a day given that cannot take it is refused with the days that can.

What each kind does, and what the checks must then say, is in docs/reconciliation.md ("Known answers").
"""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal


@dataclass(frozen=True)
class InjectionKind:
    name: str
    description: str


@dataclass(frozen=True)
class Injection:
    kind: str
    date: date


INJECTION_KINDS: dict[str, InjectionKind] = {
    kind.name: kind
    for kind in (
        InjectionKind("unbacked-mint", "a compromised minter mints USDai with no deposit behind it"),
        InjectionKind("missing-statement", "the custodian's statements of the day never arrive"),
        InjectionKind("tbill-shortfall", "the custodian's holdings report less par of a T-bill than was bought"),
        InjectionKind("loan-missing-from-tape", "a lender leaves a performing loan off its tape for the day"),
        InjectionKind("orphan-tape-loan", "a lender's tape carries a loan the vault never funded on chain"),
        InjectionKind("loan-principal-mismatch", "a lender's tape overstates a loan's outstanding principal"),
        InjectionKind("status-mismatch", "a lender's tape still calls current a loan repaid on chain"),
        InjectionKind("gpu-dark", "a collateral GPU of a performing loan stops reporting for the whole day"),
        InjectionKind("duplicate-tape-row", "a lender's tape repeats one of its rows word for word"),
        InjectionKind("schema-drift", "a lender's tape gains a column its layout does not know"),
        InjectionKind("reorg", "after the day is ingested, the chain reorganises it (a deposit drops out)"),
        InjectionKind("unannounced-upgrade", "USDai's proxy is upgraded to code nobody announced, on the day attested"),
        InjectionKind("stale-prefunding", "the vault pre-funds a loan through the timelock that is neither "
                                          "originated nor cancelled past its expiration"),
        InjectionKind("migrated-principal-mismatch", "LoanRouterV2 migrates a loan with more principal than its V1 "
                                                     "balance (a router built without v1.0's principal check)"),
    )
}

# What an unbacked mint creates, in USDai.
UNBACKED_MINT_USDAI = Decimal(250_000)
# The par a tbill-shortfall's holding reports short (at most the bill's whole par).
TBILL_SHORTFALL_PAR = Decimal(20_000)
# What a loan-principal-mismatch's tape adds to the loan's outstanding principal.
TAPE_PRINCIPAL_OVERSTATEMENT = Decimal(5_000)
# The deposit a reorg drops out of the chain, in whole base-token dollars.
REORGED_DEPOSIT_USD = 10_000
# What a stale-prefunding commits to a loan that never comes, in USDai.
STALE_PREFUNDING_USDAI = Decimal(10_000)
# The column a schema-drift tape gains.
DRIFTED_COLUMN = "servicer_note"

EligibleDays = Callable[[str], Sequence[date]]


def parse_injections(specs: Sequence[str], start: date, days: int, seed: int,
                     eligible_days: EligibleDays | None = None) -> list[Injection]:
    """The injections named by `specs`, each on a day of the window [start, start + days) that its kind can
    happen on (`eligible_days(kind)`; every day of the window when not given)."""
    injections = [_parse_one(spec.strip(), start, days, seed, eligible_days) for spec in specs if spec.strip()]
    seen: set[tuple[str, date]] = set()
    for injection in injections:
        key = (injection.kind, injection.date)
        if key in seen:
            raise ValueError(f"injection {injection.kind} is given twice for {injection.date}")
        seen.add(key)
    return sorted(injections, key=lambda i: (i.date, i.kind))


def _parse_one(spec: str, start: date, days: int, seed: int, eligible_days: EligibleDays | None) -> Injection:
    name, _, when = spec.partition("@")
    kind = INJECTION_KINDS.get(name)
    if kind is None:
        raise ValueError(f"unknown injection kind {name!r} (known: {', '.join(sorted(INJECTION_KINDS))})")
    last = start + timedelta(days=days - 1)
    window = [start + timedelta(days=offset) for offset in range(days)]
    eligible = sorted(set(eligible_days(kind.name)) & set(window)) if eligible_days is not None else window
    if not when:
        if not eligible:
            raise ValueError(f"injection {spec!r}: no day of {start}..{last} can take it")
        rng = random.Random(f"{seed}:{kind.name}")
        return Injection(kind.name, eligible[rng.randrange(len(eligible))])
    if when.isdigit():
        index = int(when)
        if not 1 <= index <= days:
            raise ValueError(f"injection {spec!r}: day {index} is outside days 1..{days}")
        day = start + timedelta(days=index - 1)
    else:
        try:
            day = date.fromisoformat(when)
        except ValueError:
            raise ValueError(f"injection {spec!r}: {when!r} is neither a day index nor a YYYY-MM-DD date") from None
        if not start <= day <= last:
            raise ValueError(f"injection {spec!r}: {day} is outside {start}..{last}")
    if day not in eligible:
        can = ", ".join(d.isoformat() for d in eligible) or "none"
        raise ValueError(f"injection {spec!r}: {kind.name} cannot happen on {day} (days that can take it: {can})")
    return Injection(kind.name, day)
