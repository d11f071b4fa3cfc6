"""An attestation's manifest: every figure of the report and everything it was issued on, as canonical JSON.

The manifest is what is signed (Ed25519, assets/attestation/signing.py), published (its sha256 in the attestation
registry contract) and verified (`backed verify`). Canonical: keys sorted, no insignificant whitespace, UTF-8,
every amount an exact decimal string (never a JSON number, which a reader could parse as a float), dates and times
in ISO 8601. The same attestation gives the same bytes, so its sha256 (the digest) names it.

What it holds (docs/attestation.md lists every field):
- the period, the verdict, the management assertion and every table of every section as the report prints it;
- the headline's exact figures (reserve_coverage);
- every input file of the day by its sha256, and the sha256 of every lake partition of the day;
- the chain's cut-off of every ledger day through the day (block numbers and hashes);
- the ledger: the journal's hash chain head recomputed from its lines, the day's digest and line count, and the
  inputs' hash chain (every input's sha256 and every cut-off block hash through the day);
- the code version and the policy (the checks' tolerances, the allowance and admin fee settings);
- the override and the blockers it overrode, when there was one.
"""
from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

MANIFEST_KIND = "backed.reserve-attestation"
MONTHLY_MANIFEST_KIND = "backed.monthly-report"
MANIFEST_VERSION = 1

DBT_PROJECT_FILE = Path(__file__).resolve().parents[2] / "dbt_project" / "dbt_project.yml"
# The dbt vars that decide what the ledger posts: part of the policy an attestation was issued under.
LEDGER_POLICY_VARS = ("admin_fee_rate", "allowance_days_past_due_rates", "allowance_default_rate",
                      "allowance_impaired_collateral_loss_rate", "allowance_dark_below_minutes_online",
                      "allowance_erroring_from_xid_error_samples", "interest_catch_up_lookback_days")


class ManifestError(ValueError):
    """A value that has no canonical form (a float), or a manifest file that is not one."""


def _canonical_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        raise ManifestError(f"a float has no exact canonical form: {value!r}")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _canonical_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical_value(v) for v in value]
    raise ManifestError(f"no canonical form for {type(value).__name__}: {value!r}")


def canonical_json(document: dict) -> bytes:
    """The canonical bytes of `document`: sorted keys, compact, UTF-8, exact decimals as strings."""
    return json.dumps(_canonical_value(document), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False).encode("utf-8")


def digest_of(manifest_bytes: bytes) -> str:
    """The manifest's digest: the sha256 of its canonical bytes, lower-case hex."""
    return hashlib.sha256(manifest_bytes).hexdigest()


def read_manifest(path: Path) -> tuple[dict, bytes, str]:
    """A manifest file: (its document, its bytes, its digest). Refuses bytes that are not the canonical form of
    what they hold, so the digest a signature covers is the digest of exactly what is read."""
    raw = path.read_bytes()
    try:
        document = json.loads(raw, parse_float=Decimal)
    except ValueError as exc:
        raise ManifestError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(document, dict) or document.get("kind") not in (MANIFEST_KIND, MONTHLY_MANIFEST_KIND):
        raise ManifestError(f"{path}: not an attestation manifest")
    if canonical_json(document) != raw:
        raise ManifestError(f"{path}: not in canonical form (keys sorted, compact, exact decimals as text): it was "
                            "edited after it was written")
    return document, raw, digest_of(raw)


def ledger_policy() -> dict[str, Any]:
    """The dbt vars that decide what the ledger posts, as dbt_project.yml states them."""
    with DBT_PROJECT_FILE.open(encoding="utf-8") as f:
        variables = yaml.safe_load(f)["vars"]
    return {name: _as_text(variables[name]) for name in LEDGER_POLICY_VARS}


def _as_text(value: Any) -> Any:
    """A dbt var as exact text: numbers as their decimal strings, lists element by element."""
    if isinstance(value, list):
        return [_as_text(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return value

