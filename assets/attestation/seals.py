"""Sealed months: once every ledger day of a month is attested, `backed seal YYYY-MM` fixes the attestation of each
day as it stands (attestations/seals/YYYY-MM.json: each day's manifest digest, ledger hash and journal digest).

The journal stays append-only after a seal: a restatement that reaches a sealed day is still posted, but the
day's sealed attestation is never replaced (re-attesting it is refused, naming the seal); the change is a post-seal
adjustment, which the next monthly report lists (orchestration/monthly_report.py), and `backed verify` of the sealed
attestation still holds: it rebuilds the day from the inputs its manifest names, not from today's journal.
"""
from __future__ import annotations

import json
from datetime import UTC, date, datetime

from assets.attestation.manifest import read_manifest
from foundation.home import DataHome
from foundation.lake import write_bytes_atomically


class SealRefused(Exception):
    """The month cannot be sealed (a day not attested, an integrity break), or a sealed day would change."""


def read_seal(home: DataHome, month: str) -> dict | None:
    path = home.seal(month)
    return json.loads(path.read_text()) if path.exists() else None


def sealed_day(home: DataHome, day: date) -> dict | None:
    """The seal's record of `day` ({"digest", "ledger_hash", "day_digest", "line_count"}), if its month is sealed."""
    seal = read_seal(home, day.isoformat()[:7])
    return (seal or {}).get("days", {}).get(day.isoformat())


def seal_month(home: DataHome, month: str, ledger_days: list[dict]) -> tuple[dict, bool]:
    """Seal `month` given its ledger days (rows of journal_chain_recomputed: partition_date, chain_hash, day_digest,
    line_count, stored_day_digest): every day must be attested by its current manifest and its journal must hash to
    what that manifest says. Returns (the seal, whether it was written now); a month is sealed once."""
    existing = read_seal(home, month)
    if existing is not None:
        return existing, False
    if not ledger_days:
        raise SealRefused(f"{month} has no ledger day in {home.root}: build and attest it first")
    days, problems = {}, []
    for row in ledger_days:
        day = row["partition_date"].isoformat()
        path = home.attestation_manifest(day)
        if not path.exists():
            problems.append(f"{day} is not attested (`backed attest {day}`)")
            continue
        manifest, _, digest = read_manifest(path)
        if row["day_digest"] != row["stored_day_digest"]:
            problems.append(f"{day}: the journal's lines no longer hash to what the ledger's build stored (an "
                            "integrity break)")
        elif manifest["ledger"]["hash_chain_head"] != row["chain_hash"]:
            problems.append(f"{day}: restated since it was attested; attest it again (`backed attest {day}`)")
        days[day] = {"digest": digest, "ledger_hash": row["chain_hash"], "day_digest": row["day_digest"],
                     "line_count": row["line_count"]}
    if problems:
        raise SealRefused(f"{month} cannot be sealed: " + "; ".join(problems[:5])
                          + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""))
    seal = {"month": month, "days": days, "sealed_at": datetime.now(UTC).replace(microsecond=0).isoformat()}
    write_bytes_atomically(home.seal(month), (json.dumps(seal, indent=2, sort_keys=True) + "\n").encode())
    return seal, True
