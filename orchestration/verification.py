"""`backed verify ATTESTATION`: check an attestation end to end, each step held (✓) or broken (✗).

Given the HTML, the PDF or the manifest of a daily attestation, in order:
1. the manifest: the one the document names (by its digest), in canonical form;
2. the document says what the manifest says: every table cell of the HTML's sections (the PDF is compared byte for
   byte in step 8);
3. the signatures: each Ed25519 signature over the manifest's bytes, and at least one;
4. the digest on chain: the registry holds it, for the same period and signers;
5. every archived input: the file the inbox archived under each input's sha256 still has it, and each lake
   partition of the day still hashes to what the manifest recorded;
6. the journal: its hash chain recomputed from the warehouse's lines equals the manifest's ledger hash;
7. the rebuild: a scratch data home gets the archived input files of every day through the day and the chain's lake
   partitions (the node's answers as ingested), ingests and builds the ledger through the day with the manifest's
   policy and attests it;
8. the figures and the bytes: the rebuilt manifest equals the attested one, and the rebuilt HTML and PDF, with the
   same sign-off, equal the files verified.
Exit status 0 only when every step holds.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

from assets.attestation.asset import digest_in_html
from assets.attestation.manifest import MONTHLY_MANIFEST_KIND, ManifestError, digest_of, read_manifest
from assets.attestation.records import manifest_for_digest
from assets.attestation.signing import read_signatures
from assets.inbox.register import ROUTED, archive_path, sha256_of
from foundation.home import DataHome
from foundation.lake import Lake

_PDF_DIGEST = re.compile(rb"backed-manifest-sha256:([0-9a-f]{64})")
_PDF_PERIOD = re.compile(rb"backed-period:(\d{4}-\d{2}(?:-\d{2})?)")
_HTML_PERIOD = re.compile(rb'<meta name="backed-period" content="([0-9-]+)">')


@dataclass
class Step:
    name: str
    held: bool
    detail: str


@dataclass
class Verification:
    steps: list[Step] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return bool(self.steps) and all(step.held for step in self.steps)


class _Cells(HTMLParser):
    """The text of every table cell of each section of an attestation's HTML, by section id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: dict[str, list[str]] = {}
        self._section: str | None = None
        self._cell: list[str] | None = None
        self._header = False

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "section":
            self._section = dict(attrs).get("id")
            self.sections.setdefault(self._section, [])
        elif tag in ("td", "th") and self._section is not None:
            # a table's "none" line (one cell across every column) is layout, not a figure
            self._cell, self._header = [], tag == "th" or "colspan" in dict(attrs)

    def handle_endtag(self, tag) -> None:
        if tag in ("td", "th") and self._cell is not None:
            if not self._header:
                self.sections[self._section].append("".join(self._cell))
            self._cell = None
        elif tag == "section":
            self._section = None

    def handle_data(self, data) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _document_claim(path: Path) -> tuple[str, str | None, str | None]:
    """(kind, digest, period) a file claims: an HTML's meta tags, a PDF's keywords, or a manifest's own digest."""
    raw = path.read_bytes()
    if raw.lstrip().startswith(b"<!DOCTYPE html") or path.suffix == ".html":
        period = _HTML_PERIOD.search(raw)
        return "html", digest_in_html(raw), period and period.group(1).decode()
    if raw.startswith(b"%PDF"):
        found, period = _PDF_DIGEST.search(raw), _PDF_PERIOD.search(raw)
        return "pdf", found and found.group(1).decode(), period and period.group(1).decode()
    document, _, digest = read_manifest(path)
    return "manifest", digest, document.get("period")


def _manifest_cells(manifest: dict) -> dict[str, list[str]]:
    return {section["key"]: [cell for table in section["tables"] for row in table["rows"] for cell in row]
            for section in manifest["sections"]}


def verify(home: DataHome, path: Path, rebuild: bool = True,
           progress: Callable[[str], None] = lambda line: None) -> Verification:
    result = Verification()
    add = result.steps.append
    # 1. the manifest
    try:
        kind, digest, period = _document_claim(path)
    except (ManifestError, OSError) as error:
        add(Step("manifest", False, str(error)))
        return result
    if not digest or not period:
        add(Step("manifest", False, f"{path} names no manifest digest: not an attestation of backed"))
        return result
    manifest_path = path if kind == "manifest" else manifest_for_digest(home, period, digest)
    if manifest_path is None:
        add(Step("manifest", False, f"no manifest with digest {digest} for {period} in {home.root}"))
        return result
    try:
        manifest, raw, found = read_manifest(manifest_path)
    except ManifestError as error:
        add(Step("manifest", False, str(error)))
        return result
    if found != digest:
        add(Step("manifest", False, f"{manifest_path} hashes to {found}, the document names {digest}"))
        return result
    add(Step("manifest", True, f"{manifest_path} (sha256 {digest})"))
    record = manifest_path.parent

    # 2. the document against the manifest
    if kind == "html":
        parser = _Cells()
        parser.feed(path.read_text(encoding="utf-8"))
        expected = _manifest_cells(manifest)
        differing = [key for key, cells in expected.items() if parser.sections.get(key) != cells]
        if differing:
            first = differing[0]
            shown = parser.sections.get(first, [])
            diff = next((f"{a!r} where the manifest has {b!r}" for a, b in zip(shown, expected[first]) if a != b),
                        "rows added or removed")
            add(Step("document", False, f"the HTML's section {first!r} differs from the manifest: {diff}"))
        else:
            add(Step("document", True, f"every table of the HTML's {len(expected)} sections is the manifest's"))
    elif manifest["kind"] == MONTHLY_MANIFEST_KIND:
        add(Step("document", True, f"a {kind}: it names this manifest (the tables are compared in its HTML)"))
    else:
        add(Step("document", True, f"a {kind}: compared byte for byte with the rebuild below"))

    # 3. signatures
    signatures = [s for s in read_signatures(record / "signatures.json") if s.digest == digest]
    bad = [s for s in signatures if not s.holds_for(raw)]
    if bad:
        add(Step("signatures", False, "; ".join(f"{s.role} {s.name} ({s.fingerprint}): the signature does not "
                                                 f"verify over the manifest" for s in bad)))
    elif not signatures:
        add(Step("signatures", False, "nobody signed this manifest (`backed attest sign`)"))
    else:
        add(Step("signatures", True, ", ".join(f"{s.role} {s.name} ({s.fingerprint})" for s in signatures)))

    # 4. on chain
    add(_on_chain(home, record, digest, period, signatures))
    if manifest["kind"] == MONTHLY_MANIFEST_KIND:
        add(_daily_attestations(home, manifest))
        return result

    # 5. archived inputs and lake partitions
    add(_inputs_archived(home, manifest))

    # 6. the journal
    add(_journal(home, manifest))

    # 7-8. rebuild
    if rebuild:
        result.steps += _rebuild(home, manifest, raw, record, path, kind, progress)
    return result


def _daily_attestations(home: DataHome, manifest: dict) -> Step:
    """A monthly report's days: each daily attestation it lists is kept, canonical, with the digest listed (each is
    verified end to end by `backed verify` of its own report)."""
    missing = [a["day"] for a in manifest.get("daily_attestations", [])
               if manifest_for_digest(home, a["day"], a["digest"]) is None]
    if missing:
        return Step("daily attestations", False, f"no manifest with the digest the report lists for "
                                                 f"{', '.join(missing[:5])}")
    return Step("daily attestations", True, f"the {len(manifest.get('daily_attestations', []))} daily attestations "
                                            "the report lists are kept with those digests")


def _on_chain(home: DataHome, record: Path, digest: str, period: str, signatures: list) -> Step:
    from assets.attestation.registry import RegistryError, find_publication
    from assets.chain.rpc import RpcUnavailable

    publication_path = record / "publication.json"
    if not publication_path.exists():
        return Step("on chain", False, "not published (`backed attest publish`)")
    publication = json.loads(publication_path.read_text())
    rpc_url = _rpc_url(home, publication)
    try:
        found = find_publication(rpc_url, publication["registry"], digest) if rpc_url else None
    except (RegistryError, RpcUnavailable) as error:
        return Step("on chain", False, f"the registry {publication['registry']} could not be read: "
                                       f"{type(error).__name__}")
    if found is None:
        return Step("on chain", False, f"the registry {publication['registry']} does not hold {digest}")
    keys = sorted(s.public_key for s in signatures)
    if found.period != period or sorted(found.signer_keys) != keys:
        return Step("on chain", False, f"the registry holds {digest} for {found.period} with "
                                       f"{len(found.signer_keys)} signer(s), not {period} with {len(keys)}")
    return Step("on chain", True, f"registry {found.registry}, block {found.block_number}, transaction "
                                  f"{found.transaction_hash}")


def _rpc_url(home: DataHome, publication: dict) -> str | None:
    import os

    if publication.get("chain_profile", "sandbox") == "sandbox":
        if not home.sandbox_deployment.exists():
            return None
        return json.loads(home.sandbox_deployment.read_text())["rpc_url"]
    return os.environ.get("BACKED_RPC_URL")


def _archived(home: DataHome, line: dict) -> Path:
    """Where the inbox archived an input file the manifest names."""
    return archive_path(Lake(home), ROUTED, line["file_name"], line["sha256"], line["source"],
                        date.fromisoformat(line["partition_date"]))


def _inputs_archived(home: DataHome, manifest: dict) -> Step:
    """Every input file of every day through the attested one, and every chain partition it read, archived under
    its sha256 and still hashing to it."""
    from assets.attestation.records import archived_chain_partition

    problems = []
    files = manifest["input_files_through_day"]
    for line in files:
        found = _archived(home, line)
        if not found.exists():
            problems.append(f"{line['partition_date']} {line['file_name']}: no archived file with sha256 "
                            f"{line['sha256'][:16]}…")
        elif sha256_of(found) != line["sha256"]:
            problems.append(f"{found.relative_to(home.root)}: the archived file no longer hashes to "
                            f"{line['sha256'][:16]}…")
    for partition in manifest["chain_partitions"]:
        path = archived_chain_partition(home, partition["table"], partition["partition_date"], partition["sha256"])
        if not path.exists() or sha256_of(path) != partition["sha256"]:
            problems.append(f"chain {partition['table']} {partition['partition_date']}: the archived partition is "
                            f"missing or no longer hashes to {partition['sha256'][:16]}…")
    if problems:
        return Step("inputs", False, "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)"
                                                                 if len(problems) > 5 else ""))
    return Step("inputs", True, f"{len(files)} archived input files and {len(manifest['chain_partitions'])} chain "
                                f"partitions, every day through {manifest['period']}, hash to what was attested")


def _journal(home: DataHome, manifest: dict) -> Step:
    """The warehouse's journal against the attestation: its hash chain at the day equals the manifest's, or, when a
    restatement reached the day since, every entry attested is still there unchanged and no day's lines changed
    behind the build's back. A sealed day restated since holds (a post-seal adjustment); an unsealed one is
    superseded."""
    import duckdb
    import polars as pl

    from assets.attestation.journal_chain import chain_through, first_break
    from assets.attestation.seals import sealed_day

    day = date.fromisoformat(manifest["period"])
    attested = manifest["ledger"]["hash_chain_head"]
    try:
        with duckdb.connect(str(home.warehouse), read_only=True) as con:
            chain = chain_through(con, day)
            record_files = sorted(str(p) for p in home.attestation_records.glob(f"*/{home.attested_entries(day).name}"))
            recorded = pl.read_parquet(record_files) if record_files else None
            current = None
            if recorded is not None and not recorded.is_empty():
                recorded = recorded.filter(pl.col("partition_date") <= day)
                current = con.sql("select partition_date, entry_id, entry_digest from main.journal_entry_digests "
                                  "where partition_date <= $day", params={"day": day}).to_arrow_table()
                current = pl.from_arrow(current)
    except duckdb.Error as error:
        return Step("journal", False, f"the warehouse could not be read: {error}")
    if not chain or chain[-1]["partition_date"] != day:
        return Step("journal", False, f"the warehouse has no ledger day {day}")
    broken = first_break(chain)
    if broken is not None:
        row, what = broken
        return Step("journal", False, f"the journal's lines of {row['partition_date']} no longer hash to what the "
                                      "ledger's build stored: a line was changed in the warehouse" if what == "lines"
                    else f"the stored hash chain does not link at {row['partition_date']}: a hash was changed in "
                         "the warehouse")
    at_day = chain[-1]
    if current is not None:
        changed = recorded.join(current, on=["partition_date", "entry_id"], how="left", suffix="_now") \
            .filter(pl.col("entry_digest_now").is_null() | (pl.col("entry_digest_now") != pl.col("entry_digest")))
        if not changed.is_empty():
            first = changed.row(0, named=True)
            what = "deleted" if first["entry_digest_now"] is None else "edited"
            return Step("journal", False, f"journal entry {first['entry_id']} of {first['partition_date']} was "
                                          f"{what} since its day was attested ({changed.height} entries in all)")
    if at_day["chain_hash"] == attested:
        return Step("journal", True, f"the journal's hash chain at {day} is {attested}")
    if sealed_day(home, day) is not None:
        return Step("journal", True, f"{day} is sealed and every entry attested is unchanged; entries posted since "
                                     "are post-seal adjustments (the next monthly report lists them)")
    return Step("journal", False, f"{day} was restated since this attestation (the journal's hash chain at {day} is "
                                  f"{at_day['chain_hash']}): it is superseded; `backed attest {day}` issues the "
                                  "current one")


def _rebuild(home: DataHome, manifest: dict, raw: bytes, record: Path, path: Path, kind: str,
             progress: Callable[[str], None]) -> list[Step]:
    day = date.fromisoformat(manifest["period"])
    scratch = Path(tempfile.mkdtemp(prefix=f"backed-verify-{day}-"))
    try:
        try:
            rebuilt = _rebuild_in(home, scratch, manifest, record, progress)
        except Exception as error:  # the rebuild's own failure is a step that did not hold, not a crash
            return [Step("rebuild", False, f"{type(error).__name__}: {error}")]
        steps = [Step("rebuild", True, f"{manifest['period']} rebuilt from the archived inputs in a scratch home")]
        again, _, rebuilt_digest = read_manifest(rebuilt.attestation_manifest(manifest["period"]))
        if rebuilt_digest != digest_of(raw):
            differing = sorted(k for k in set(manifest) | set(again) if manifest.get(k) != again.get(k))
            detail = ""
            if "lake_partitions" in differing:
                before = {p["path"]: p["sha256"] for p in manifest["lake_partitions"]}
                after = {p["path"]: p["sha256"] for p in again["lake_partitions"]}
                detail = " (lake partitions " + ", ".join(sorted(k for k in set(before) | set(after)
                                                                 if before.get(k) != after.get(k))) + ")"
            steps.append(Step("figures", False, f"the rebuilt manifest differs in: {', '.join(differing)}{detail}"))
        else:
            steps.append(Step("figures", True, "the rebuilt manifest is the attested one, figure for figure"))
        if kind in ("html", "pdf"):
            html_path, pdf_path = rebuilt.attestation_paths(day)
            again_bytes = (html_path if kind == "html" else pdf_path).read_bytes()
            same = again_bytes == path.read_bytes()
            steps.append(Step("bytes", same, f"the rebuilt {kind.upper()} is byte for byte the one verified" if same
                              else f"the rebuilt {kind.upper()} differs from the one verified (sha256 "
                                   f"{hashlib.sha256(again_bytes).hexdigest()[:16]}… against "
                                   f"{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}…)"))
        return steps
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _rebuild_in(home: DataHome, scratch: Path, manifest: dict, record: Path,
                progress: Callable[[str], None]) -> DataHome:
    """Build the attested day again in `scratch` from the archived inputs: every file the lake says each day through
    it took in, dropped into a fresh inbox, and the chain's lake partitions as the node answered them."""
    from orchestration.definitions import build_definitions
    from orchestration.instance import instance_for
    from assets.attestation.records import archived_chain_partition
    from orchestration.pipeline import QUIET_RUN_CONFIG, range_tags

    day = date.fromisoformat(manifest["period"])
    period = manifest["period"]
    again = DataHome(scratch / "home")
    again.root.mkdir(parents=True)
    for partition in manifest["chain_partitions"]:
        archived = archived_chain_partition(home, partition["table"], partition["partition_date"],
                                            partition["sha256"])
        target = again.lake / partition["table"] / f"date={partition['partition_date']}" / "part-0.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(archived, target)
    for line in manifest["input_files_through_day"]:
        found = _archived(home, line)
        if not found.exists():
            raise FileNotFoundError(f"no archived file {line['file_name']} ({line['sha256'][:16]}…)")
        target = again.inbox / line["source"] / line["file_name"]
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            shutil.copy2(found, target)
    days = sorted({date.fromisoformat(p["partition_date"]) for p in manifest["chain_partitions"]}
                  | {date.fromisoformat(i["partition_date"]) for i in manifest["input_files_through_day"]})
    first = days[0] if days else day
    if home.sandbox_deployment.exists():
        again.sandbox.mkdir(parents=True)
        shutil.copy2(home.sandbox_deployment, again.sandbox_deployment)
    _write_policy(again, manifest["policy"]["reconciliation"])
    defs = build_definitions(again.root)
    instance = instance_for(again)
    progress(f"rebuilding {first} .. {day} in {again.root}")
    seeds = defs.resolve_job_def("reference_data").execute_in_process(instance=instance, run_config=QUIET_RUN_CONFIG,
                                                                      raise_on_error=False)
    if not seeds.success:
        raise RuntimeError("loading the dbt seeds failed")
    defs.resolve_job_def("inbox_ingestion").execute_in_process(
        instance=instance, tags=range_tags(first, day), run_config=QUIET_RUN_CONFIG, raise_on_error=False)
    for name in ("signatures.json", "publication.json"):
        if (record / name).exists():
            again.attestation_record(period).mkdir(parents=True, exist_ok=True)
            shutil.copy2(record / name, again.attestation_record(period) / name)
    override = (manifest.get("override") or {}).get("reason")
    run = defs.resolve_job_def("attestation").execute_in_process(
        instance=instance, partition_key=period, raise_on_error=False,
        run_config={**QUIET_RUN_CONFIG, "ops": {"reserve_attestation": {"config": {
            "override_reason": override, "preparer": manifest.get("preparer", "")}}}})
    if not run.success:
        from orchestration.pipeline import failure_reasons

        reasons = failure_reasons(run)
        raise RuntimeError(f"the rebuilt day could not be attested: {reasons[0] if reasons else 'the run failed'}")
    return again


def _write_policy(home: DataHome, settings: dict) -> None:
    """The policy the attestation was issued under, as the scratch home's reconciliation.toml."""
    lines = [f'{name} = "{value}"' for name, value in sorted(settings.items())]
    home.reconciliation_policy.write_text("\n".join(lines) + "\n")


def print_steps(verification: Verification, echo: Callable[[str], None]) -> None:
    for step in verification.steps:
        echo(f"{'✓' if step.held else '✗'} {step.name}: {step.detail}")
    echo("verified: every step holds" if verification.held else
         f"NOT verified: {sum(not s.held for s in verification.steps)} step(s) failed")

