"""Named discrepancies the sandbox can inject so that every reconciliation check has a known answer.

A spec is `<kind>`, `<kind>@<day index, 1-based>` or `<kind>@<YYYY-MM-DD>`. Without a day, the day is drawn
from the seed and the kind alone, so adding or removing another injection never moves it.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
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


# More kinds (missing-statement, gpu-dark, reorg, ...) are added here and given a handler in the simulator.
INJECTION_KINDS: dict[str, InjectionKind] = {
    kind.name: kind
    for kind in (
        InjectionKind("unbacked-mint", "a compromised minter mints USDai with no deposit behind it"),
    )
}

# What an unbacked mint creates, in USDai.
UNBACKED_MINT_USDAI = Decimal(250_000)


def parse_injections(specs: Sequence[str], start: date, days: int, seed: int) -> list[Injection]:
    """The injections named by `specs`, each on a day of the window [start, start + days)."""
    injections = [_parse_one(spec.strip(), start, days, seed) for spec in specs if spec.strip()]
    seen: set[tuple[str, date]] = set()
    for injection in injections:
        key = (injection.kind, injection.date)
        if key in seen:
            raise ValueError(f"injection {injection.kind} is given twice for {injection.date}")
        seen.add(key)
    return sorted(injections, key=lambda i: (i.date, i.kind))


def _parse_one(spec: str, start: date, days: int, seed: int) -> Injection:
    name, _, when = spec.partition("@")
    kind = INJECTION_KINDS.get(name)
    if kind is None:
        raise ValueError(f"unknown injection kind {name!r} (known: {', '.join(sorted(INJECTION_KINDS))})")
    last = start + timedelta(days=days - 1)
    if not when:
        rng = random.Random(f"{seed}:{kind.name}")
        return Injection(kind.name, start + timedelta(days=rng.randrange(days)))
    if when.isdigit():
        index = int(when)
        if not 1 <= index <= days:
            raise ValueError(f"injection {spec!r}: day {index} is outside days 1..{days}")
        return Injection(kind.name, start + timedelta(days=index - 1))
    try:
        day = date.fromisoformat(when)
    except ValueError:
        raise ValueError(f"injection {spec!r}: {when!r} is neither a day index nor a YYYY-MM-DD date") from None
    if not start <= day <= last:
        raise ValueError(f"injection {spec!r}: {day} is outside {start}..{last}")
    return Injection(kind.name, day)
