"""Taking files in: recognise a dropped file by its content, route it to the day its content is about, keep it in
the archive under its sha256, and record it in the `inbox_receipts` register.

The same bytes received twice are one file: the second copy is archived as a duplicate and never ingested again.
A file that cannot be routed (empty, unrecognised, unsafe, without a date, dated in the future) is archived as
rejected, with its reason in `quarantine/rejected_files/`; nothing is ever deleted. The Dagster sensor, the ingest
assets and `backed ingest` all take files in through `take_in_inbox` / `take_in_paths`.

Steps per file, each safe to repeat after a crash: the archived copy is written (a hard link for a file already in
the inbox, a copy otherwise), then its receipt, then the dropped file is unlinked. Intake is serialised by a lock
file in BACKED_HOME (one machine; see DESIGN.md on growing past it).
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl

from assets import custodian, loan_tapes, telemetry
from assets.inbox import (
    DUPLICATE,
    REJECTED,
    ROUTED,
    Recognition,
    append_receipts,
    archive_path,
    read_receipts,
    sha256_of,
)
from assets.iso20022 import message_of
from assets.lake import SCHEMAS, Lake
from assets.row_validation import MAX_DOCUMENT_BYTES, SOURCE_ROW, UnreadableFile

Clock = Callable[[], datetime]

_HEAD_BYTES = 64 * 1024
# A CSV whose header has at least this share of a layout's columns is taken for that layout (and told which
# columns it lacks) rather than for an unknown file.
_HEADER_MATCH_THRESHOLD = 0.5


@dataclass(frozen=True)
class IntakeResult:
    file_name: str
    sha256: str
    status: str  # routed, duplicate, rejected
    recognition: Recognition
    partition: date | None  # the day routed to (for a duplicate: the day of the file it repeats)
    archive_path: Path
    duplicate_of: str | None = None  # the name the same bytes were first received under

    @property
    def source(self) -> str | None:
        return self.recognition.source


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def recognise(path: Path, name: str | None = None) -> Recognition:
    """What a file is, from its first bytes (and, for documents, its rows): source, format, producer and day."""
    name = name or path.name
    size = path.stat().st_size
    if size == 0:
        return Recognition(problem="empty_file", detail="the file is empty")
    with path.open("rb") as stream:
        head = stream.read(_HEAD_BYTES)
    if head.startswith(b"PK\x03\x04"):
        return _as_document(path, size, lambda content: loan_tapes.recognise(content, loan_tapes.XLSX_FORMAT, name))
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Recognition(problem="unsupported_encoding", detail="UTF-16 text; files must be UTF-8")
    text = head.decode("utf-8", errors="replace").removeprefix("\ufeff")
    if text.lstrip().startswith("<"):
        return _as_document(path, size, lambda content: _recognise_statement_message(content, name))
    if telemetry.looks_like_json_lines(text):
        return telemetry.recognise(path, telemetry.JSONL_FORMAT, name)
    header = _csv_header(text)
    if header:
        tape_score = loan_tapes.header_score(header)
        statement_score = custodian.header_score(header)
        if max(tape_score, statement_score) >= _HEADER_MATCH_THRESHOLD:
            if statement_score > tape_score:
                return _as_document(path, size, lambda content: custodian.recognise(content, custodian.CSV_FORMAT, name))
            return _as_document(path, size, lambda content: loan_tapes.recognise(content, loan_tapes.CSV_FORMAT, name))
    if telemetry.looks_like_prometheus(text):
        return telemetry.recognise(path, telemetry.PROMETHEUS_FORMAT, name)
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    return Recognition(problem="unrecognised_content", detail=f"first line: {first_line[:120]!r}")


def take_in_inbox(lake: Lake, clock: Clock = utc_now, max_bytes: int | None = None) -> list[IntakeResult]:
    """Take in every file dropped under `inbox/` (outside the archive), oldest path first; with `max_bytes`, stop
    once that many bytes were taken in (the rest waits for the next call)."""
    with _intake_lock(lake):
        return _take_in(lake, _dropped_files(lake), clock, keep_originals=False, max_bytes=max_bytes)


def take_in_paths(lake: Lake, paths: Iterable[Path], clock: Clock = utc_now) -> list[IntakeResult]:
    """Take in the given files (directories: the files under them). A file inside the inbox is moved into the
    archive like any dropped file; a file elsewhere is copied and left where it is."""
    files = []
    for path in paths:
        path = Path(path).resolve()
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and not _is_ignored(p))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file: {path}")
    inbox = lake.inbox.resolve()
    with _intake_lock(lake):
        dropped = [p for p in files if p.is_relative_to(inbox) and not p.is_relative_to(lake.archive.resolve())]
        elsewhere = [p for p in files if p not in dropped]
        return [*_take_in(lake, dropped, clock, keep_originals=False),
                *_take_in(lake, elsewhere, clock, keep_originals=True)]


def _take_in(lake: Lake, paths: list[Path], clock: Clock, keep_originals: bool,
             max_bytes: int | None = None) -> list[IntakeResult]:
    if not paths:
        return []
    known = _routed_by_sha256(lake)
    results = []
    taken = 0
    for path in paths:
        if max_bytes is not None and taken >= max_bytes:
            break
        size = path.stat().st_size
        taken += size
        sha256 = sha256_of(path)
        received_at = clock()
        original = known.get(sha256)
        if original is not None:
            recognition = Recognition(original["source"], original["format"], original["producer_id"],
                                      original["as_of_date"], original["document_key"], problem="duplicate_of",
                                      detail=f"{original['file_name']} received {original['received_at']}")
            result = _archive(lake, path, sha256, DUPLICATE, recognition, original["partition_date"], received_at,
                              keep_originals, duplicate_of=original["file_name"])
        else:
            recognition = recognise(path)
            if recognition.problem is None and recognition.as_of_date > received_at.date():
                recognition = Recognition(recognition.source, recognition.format, recognition.producer_id,
                                          recognition.as_of_date, recognition.document_key, problem="future_date",
                                          detail=f"as of {recognition.as_of_date}, after the day it was received")
            if recognition.problem is None:
                result = _archive(lake, path, sha256, ROUTED, recognition, recognition.as_of_date, received_at,
                                  keep_originals)
                known[sha256] = {"file_name": path.name, "received_at": received_at,
                                 "partition_date": recognition.as_of_date, "source": recognition.source,
                                 "format": recognition.format, "producer_id": recognition.producer_id,
                                 "as_of_date": recognition.as_of_date, "document_key": recognition.document_key}
            else:
                result = _archive(lake, path, sha256, REJECTED, recognition, received_at.date(), received_at,
                                  keep_originals)
                lake.write_rejected_file(received_at.date(), path.name, sha256, pl.DataFrame({
                    "source_file": [path.name], SOURCE_ROW: [0], "field": [""],
                    "value": [recognition.detail], "reason": [recognition.problem],
                }).to_arrow())
        results.append(result)
    return results


def _archive(lake: Lake, path: Path, sha256: str, status: str, recognition: Recognition, partition: date,
             received_at: datetime, keep_original: bool, duplicate_of: str | None = None) -> IntakeResult:
    target = archive_path(lake, status, path.name, sha256, recognition.source, partition)
    target.parent.mkdir(parents=True, exist_ok=True)
    _place(path, target, keep_original)
    append_receipts(lake, pl.DataFrame([{
        "partition_date": partition,
        "received_at": received_at,
        "file_name": path.name,
        "sha256": sha256,
        "size_bytes": target.stat().st_size,
        "status": status,
        "source": recognition.source,
        "format": recognition.format,
        "producer_id": recognition.producer_id,
        "as_of_date": recognition.as_of_date,
        "document_key": recognition.document_key,
        "archive_path": str(target.relative_to(lake.home)),
        "problem": recognition.problem,
        "problem_detail": recognition.detail or None,
    }], schema=pl.from_arrow(SCHEMAS["inbox_receipts"].empty_table()).schema))
    if not keep_original:
        path.unlink()
    return IntakeResult(path.name, sha256, status, recognition, partition, target, duplicate_of)


def _place(path: Path, target: Path, keep_original: bool) -> None:
    """The archived copy, whole or not at all: a hard link (or copy) to a temporary name, then a rename."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(descriptor)
    os.unlink(temporary)
    try:
        if keep_original:
            shutil.copy2(path, temporary)
        else:
            try:
                os.link(path, temporary)
            except OSError:  # another filesystem, or one without hard links
                shutil.copy2(path, temporary)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _routed_by_sha256(lake: Lake) -> dict[str, dict]:
    receipts = read_receipts(lake).filter(pl.col("status") == ROUTED).sort("received_at")
    return {row["sha256"]: row for row in receipts.unique("sha256", keep="first").iter_rows(named=True)}


def _dropped_files(lake: Lake) -> list[Path]:
    if not lake.inbox.is_dir():
        return []
    archive = lake.archive.resolve()
    return sorted(
        path for path in lake.inbox.rglob("*")
        if path.is_file() and not path.resolve().is_relative_to(archive) and not _is_ignored(path)
    )


def _is_ignored(path: Path) -> bool:
    """Files still being written: a producer writes `.name.tmp` and renames it when whole."""
    return path.name.startswith(".") or path.name.endswith((".tmp", ".part", ".partial"))


@contextlib.contextmanager
def _intake_lock(lake: Lake) -> Iterator[None]:
    lake.home.mkdir(parents=True, exist_ok=True)
    with open(lake.home / ".intake.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _as_document(path: Path, size: int, recognise_content: Callable[[bytes], Recognition]) -> Recognition:
    if size > MAX_DOCUMENT_BYTES:
        return Recognition(problem="file_too_large", detail=f"{size} bytes, more than {MAX_DOCUMENT_BYTES}")
    try:
        return recognise_content(path.read_bytes())
    except UnreadableFile as problem:
        return Recognition(problem=problem.reason, detail=problem.value)


def _recognise_statement_message(content: bytes, name: str) -> Recognition:
    message = message_of(content)
    if message is None:
        # read again for the precise reason (wrong namespace, unsupported message)
        return custodian.recognise(content, "xml", name)
    return custodian.recognise(content, message, name)


def _csv_header(text: str) -> list[str]:
    first_line = text.split("\n", 1)[0].rstrip("\r")
    if not first_line.strip():
        return []
    try:
        return [cell.strip() for cell in next(csv.reader([first_line]))]
    except (csv.Error, StopIteration):
        return []
