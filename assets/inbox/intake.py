"""Taking files in: recognise a dropped file by its content, route it to the day its content is about, keep it in
the archive under its sha256, and record it in the `inbox_receipts` register.

The same bytes received twice are one file: the second copy is archived as a duplicate and never ingested again.
A file that cannot be routed (empty, unrecognised, unsafe, without a date, dated in the future, larger than the
inbox's limit, a symbolic link) is archived as rejected, with its reason in `quarantine/rejected_files/`; nothing is
ever deleted. A link in the inbox is never followed, so intake reads and writes nothing outside BACKED_HOME. The
Dagster sensor, the ingest assets and `backed ingest` all take files in through `take_in_inbox` / `take_in_paths`.

Steps per file, each safe to repeat after a crash: the archived copy is written (a hard link for a file already in
the inbox, a copy otherwise), then its receipt, then the dropped file is unlinked. Intake is serialised by a lock
file in BACKED_HOME (one machine; see docs/design.md on growing past it).
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import os
import shutil
import stat
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl

from assets.inbox.arrivals import FileState, still_arriving
from assets.inbox.register import (
    DUPLICATE,
    REJECTED,
    ROUTED,
    SPLIT,
    Recognition,
    append_receipts,
    archive_path,
    record_routed,
    routed_receipt,
    sha256_of,
)
from assets.inbox.row_validation import SOURCE_ROW
from assets.source import HEADER, NO_SCRAPE_TIME, SEVERAL_DOCUMENTS, STAGES, FileHead
from assets.sources import file_recognisers
from foundation.lake import SCHEMAS, Lake

Clock = Callable[[], datetime]

# Not a receipt's status: a file left in the inbox for a later look, because it is still being written
# (assets/inbox/arrivals.py). Nothing of it is recorded.
WAITING = "waiting"
STILL_ARRIVING = "still_arriving"

_HEAD_BYTES = 64 * 1024
# The largest file intake takes: a day of a large fleet's telemetry is ~11 GB, a tape or a statement far less (and
# bounded again when read, assets.inbox.row_validation.MAX_DOCUMENT_BYTES). BACKED_MAX_INBOX_FILE_BYTES sets another.
DEFAULT_MAX_INBOX_FILE_BYTES = 16 * 1024**3
# A file is recorded, archived and quarantined under its name plus a hash: the name is kept short enough for the
# file system's 255 bytes.
_MAX_NAME_BYTES = 160
# A CSV whose header has at least this share of a layout's columns is taken for that layout (and told which
# columns it lacks) rather than for an unknown file.
_HEADER_MATCH_THRESHOLD = 0.5


class UnsafeArchive(RuntimeError):
    """The inbox's archive leads out of BACKED_HOME (a link in its place): nothing is taken in until it is removed."""


@dataclass(frozen=True)
class IntakeResult:
    file_name: str
    sha256: str
    status: str  # routed, duplicate, rejected, split; or waiting: not taken in yet (archive_path is where it waits)
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
    """What a file is, from its first bytes (and, for documents, its rows): source, format, producer and day. The
    formats are the sources' (the registry, `assets.sources`), asked stage by stage: an unmistakable start first,
    then the CSV layout whose headers the file holds best, then looser text shapes."""
    name = name or path.name
    if path.stat().st_size == 0:
        return Recognition(problem="empty_file", detail="the file is empty")
    with path.open("rb") as stream:
        data = stream.read(_HEAD_BYTES)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Recognition(problem="unsupported_encoding", detail="UTF-16 text; files must be UTF-8")
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    head = FileHead(data, text, _csv_header(text))
    recognisers = file_recognisers()
    for stage in STAGES:
        claims = [(recogniser.claim(head), index) for index, recogniser in enumerate(recognisers)
                  if recogniser.stage == stage]
        # The strongest claim; on a tie, the source listed first in the registry.
        score, index = max(claims, key=lambda claim: (claim[0], -claim[1]), default=(0.0, -1))
        if score > 0 and (stage != HEADER or score >= _HEADER_MATCH_THRESHOLD):
            return recognisers[index].recognise(path, name)
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    # Its shape, not its text: the first line may be a row of data (a tape sent without its header), with a borrower's
    # name in it, and the detail goes to logs.
    return Recognition(problem="unrecognised_content",
                       detail=f"the first line ({len(first_line)} characters, {len(head.csv_header)} comma-separated "
                              "fields) is not the header of a loan tape or a custodian statement, nor DCGM telemetry")


def take_in_inbox(lake: Lake, clock: Clock = utc_now, max_bytes: int | None = None) -> list[IntakeResult]:
    """Take in every file dropped under `inbox/` (outside the archive), oldest path first; with `max_bytes`, stop
    once that many bytes were taken in (the rest waits for the next call)."""
    with _intake_lock(lake):
        return _take_in(lake, _dropped_files(lake), clock, keep_originals=False, max_bytes=max_bytes)


def take_in_paths(lake: Lake, paths: Iterable[Path], clock: Clock = utc_now,
                  scraped_at: datetime | None = None) -> list[IntakeResult]:
    """Take in the given files (directories: the files under them). A file inside the inbox is moved into the
    archive like any dropped file; a file elsewhere is copied and left where it is. `scraped_at` (UTC) is the scrape
    time of raw telemetry scrapes whose names carry none: such a file is received under its name with the time
    added (`metrics` scraped at 12:00 on 2026-01-05 becomes `metrics.20260105T120000Z`), so its lineage says it."""
    files = []
    for path in paths:
        path = Path(path).resolve()
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if (p.is_symlink() or p.is_file()) and not _is_ignored(p))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file: {path}")
    inbox = lake.home.inbox.resolve()
    with _intake_lock(lake):
        dropped = [p for p in files if p.is_relative_to(inbox) and not p.is_relative_to(lake.home.archive.resolve())]
        # Outside the inbox, the files someone named are read where their links lead (a link to nothing is skipped).
        elsewhere = [p for p in files if p not in dropped and p.is_file()]
        return [*_take_in(lake, dropped, clock, keep_originals=False, scraped_at=scraped_at, named=True),
                *_take_in(lake, elsewhere, clock, keep_originals=True, scraped_at=scraped_at, named=True)]


def named_with_scrape_time(name: str, scraped_at: datetime) -> str:
    """`name` with the scrape time in ISO 8601 basic UTC form before its extension (after it when it has none)."""
    stamp = scraped_at.strftime("%Y%m%dT%H%M%SZ")
    stem, dot, extension = name.rpartition(".")
    return f"{stem}.{stamp}.{extension}" if dot and stem else f"{name}.{stamp}"


def _take_in(lake: Lake, paths: list[Path], clock: Clock, keep_originals: bool,
             max_bytes: int | None = None, scraped_at: datetime | None = None,
             named: bool = False) -> list[IntakeResult]:
    """`named`: the files were named by a person (`backed ingest`), who says they are complete: only a writer still
    holding one open makes it wait, not the quiet period."""
    if not paths:
        return []
    known: dict[str, dict | None] = {}  # routed receipts by sha256, looked up once per batch
    limit = max_inbox_file_bytes()
    results = []
    parts: list[Path] = []  # the documents of files split, taken in after the batch
    taken = 0
    for path in paths:
        if max_bytes is not None and taken >= max_bytes:
            break
        name = received_name(path)
        # A link found in the inbox is never followed (it may point anywhere, outside BACKED_HOME): what was
        # received is the link itself, the text of its target. What is neither a file nor a link (a FIFO, a socket,
        # a device) holds no data to take in: it is received as what it is, and refused.
        special = _special_file_kind(path)
        link = os.fsencode(os.readlink(path)) if not keep_originals and path.is_symlink() else None
        if special is not None:
            link = f"{special}, not a regular file".encode()
        waiting = still_arriving(path, quiet=not named) if link is None else None
        if waiting is not None:
            results.append(_waiting(path, name, waiting))
            continue
        before = FileState.of(path) if link is None else None
        size = len(link) if link is not None else before.size
        taken += size
        sha256 = hashlib.sha256(link).hexdigest() if link is not None else sha256_of(path)
        if before is not None and FileState.of(path) != before:
            results.append(_waiting(path, name, "changed while it was read"))
            continue
        received_at = clock()
        if link is None and sha256 not in known:
            known[sha256] = routed_receipt(lake, sha256)
        original = known.get(sha256) if link is None else None
        if original is not None:
            recognition = Recognition(original["source"], original["format"], original["producer_id"],
                                      original["as_of_date"], original["document_key"], problem="duplicate_of",
                                      detail=f"{original['file_name']} received {original['received_at']}")
            result = _archive(lake, path, name, sha256, DUPLICATE, recognition, original["partition_date"],
                              received_at, keep_originals, duplicate_of=original["file_name"])
        else:
            if special is not None:
                recognition = Recognition(problem="not_a_regular_file",
                                          detail=f"a {special}: only regular files are taken in from the inbox")
            elif link is not None:
                recognition = Recognition(problem="symbolic_link",
                                          detail=f"a symbolic link to {os.fsdecode(link)!r}, not followed: drop the "
                                                 "file itself in the inbox")
            elif size > limit:
                recognition = Recognition(problem="file_too_large",
                                          detail=f"{size} bytes, more than the inbox's limit of {limit} bytes "
                                                 "(BACKED_MAX_INBOX_FILE_BYTES)")
            else:
                recognition = recognise(path, name)
                if recognition.problem == NO_SCRAPE_TIME and scraped_at is not None:
                    name = named_with_scrape_time(name, scraped_at)
                    recognition = recognise(path, name)
            if recognition.problem is None and recognition.as_of_date > received_at.date():
                recognition = Recognition(recognition.source, recognition.format, recognition.producer_id,
                                          recognition.as_of_date, recognition.document_key, problem="future_date",
                                          detail=f"as of {recognition.as_of_date}, after the day it was received")
            separated = _separated(lake, path, name) if recognition.problem == SEVERAL_DOCUMENTS else []
            if separated:
                recognition = Recognition(recognition.source, recognition.format, problem=SEVERAL_DOCUMENTS, detail=(
                    f"{recognition.detail}; taken in as {len(separated)} files: "
                    f"{', '.join(part.name for part in separated)}"))
                result = _archive(lake, path, name, sha256, SPLIT, recognition, received_at.date(), received_at,
                                  keep_originals)
                parts.extend(separated)
            elif recognition.problem is None:
                result = _archive(lake, path, name, sha256, ROUTED, recognition, recognition.as_of_date, received_at,
                                  keep_originals)
                known[sha256] = {"file_name": name, "received_at": received_at,
                                 "partition_date": recognition.as_of_date, "source": recognition.source,
                                 "format": recognition.format, "producer_id": recognition.producer_id,
                                 "as_of_date": recognition.as_of_date, "document_key": recognition.document_key}
            else:
                result = _archive(lake, path, name, sha256, REJECTED, recognition, received_at.date(), received_at,
                                  keep_originals, link=link)
                lake.write_rejected_file(received_at.date(), name, sha256, pl.DataFrame({
                    "source_file": [name], SOURCE_ROW: [0], "field": [""],
                    "value": [recognition.detail], "reason": [recognition.problem],
                }).to_arrow())
        results.append(result)
    # the parts of a split file were written whole by intake itself
    return [*results, *_take_in(lake, parts, clock, keep_originals=False, scraped_at=scraped_at, named=True)]


def _waiting(path: Path, name: str, why: str) -> IntakeResult:
    return IntakeResult(name, "", WAITING, Recognition(problem=STILL_ARRIVING, detail=f"{why}: left in the inbox for "
                                                                                     "a later look"), None, path)


def _special_file_kind(path: Path) -> str | None:
    """What `path` is when it is neither a regular file nor a link: FIFO, socket, device; None otherwise."""
    mode = path.lstat().st_mode
    for test, kind in ((stat.S_ISFIFO, "named pipe (FIFO)"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return kind
    return None


def _separated(lake: Lake, path: Path, name: str) -> list[Path]:
    """The documents of a file that holds several, each written whole into the inbox as `<name>.<n>-of-<m><ext>`
    by the format that can separate them; none when no format can."""
    content = path.read_bytes()
    for recogniser in file_recognisers():
        documents = recogniser.separate(content) if recogniser.separate is not None else []
        if len(documents) > 1:
            break
    else:
        return []
    stem, extension = os.path.splitext(name)
    written = []
    for number, document in enumerate(documents, start=1):
        target = lake.home.inbox / f"{stem}.{number}-of-{len(documents)}{extension}"
        descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=lake.home.inbox)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(document)
        os.replace(temporary, target)
        written.append(target)
    return written


def max_inbox_file_bytes() -> int:
    """The largest file intake takes (BACKED_MAX_INBOX_FILE_BYTES, else DEFAULT_MAX_INBOX_FILE_BYTES). A larger one
    is refused whole with a reason naming the limit: hashed and archived like any file received, never parsed."""
    text = os.environ.get("BACKED_MAX_INBOX_FILE_BYTES", "").strip()
    if not text:
        return DEFAULT_MAX_INBOX_FILE_BYTES
    if not text.isascii() or not text.isdigit() or int(text) == 0:
        raise ValueError(f"BACKED_MAX_INBOX_FILE_BYTES must be a positive whole number of bytes, not {text!r}")
    return int(text)


def received_name(path: Path) -> str:
    """The name a file is recorded under (receipt, archive, quarantine, the lineage of its rows): the name it arrived
    under, with bytes that are not UTF-8 and control characters (which could forge a log line) as U+FFFD, and a name
    too long for the archive's file names shortened before its extension."""
    name = os.fsencode(path.name).decode("utf-8", errors="replace")
    name = "".join("\ufffd" if unicodedata.category(character) == "Cc" else character for character in name)
    if len(name.encode()) <= _MAX_NAME_BYTES:
        return name
    suffix = os.path.splitext(name)[1]
    suffix = suffix if len(suffix.encode()) <= 16 else ""
    keep = _MAX_NAME_BYTES - len(suffix.encode()) - len("\u2026".encode())
    stem = name.removesuffix(suffix).encode()[:keep].decode("utf-8", errors="ignore")
    return f"{stem}\u2026{suffix}"


def _archive(lake: Lake, path: Path, name: str, sha256: str, status: str, recognition: Recognition, partition: date,
             received_at: datetime, keep_original: bool, duplicate_of: str | None = None,
             link: bytes | None = None) -> IntakeResult:
    target = archive_path(lake, status, name, sha256, recognition.source, partition)
    # The archive is inside the inbox, where others write: a link planted as `archive` or one of its folders must
    # not carry intake's writes out of BACKED_HOME.
    if not target.parent.resolve().is_relative_to(lake.home.root.resolve()):
        raise UnsafeArchive(f"{target.parent} leads to {target.parent.resolve()}, outside BACKED_HOME: intake writes "
                            "nothing there; remove the link from the inbox")
    target.parent.mkdir(parents=True, exist_ok=True)
    _place(path, target, keep_original, link)
    if status == ROUTED:
        record_routed(lake, sha256, partition)
    append_receipts(lake, pl.DataFrame([{
        "partition_date": partition,
        "received_at": received_at,
        "file_name": name,
        "sha256": sha256,
        "size_bytes": target.stat().st_size,
        "status": status,
        "source": recognition.source,
        "format": recognition.format,
        "producer_id": recognition.producer_id,
        "as_of_date": recognition.as_of_date,
        "document_key": recognition.document_key,
        "archive_path": str(target.relative_to(lake.home.root)),
        "problem": recognition.problem,
        "problem_detail": recognition.detail or None,
    }], schema=pl.from_arrow(SCHEMAS["inbox_receipts"].empty_table()).schema))
    if not keep_original:
        path.unlink()  # a link: the link only, never what it points at
    return IntakeResult(name, sha256, status, recognition, partition, target, duplicate_of)


def _place(path: Path, target: Path, keep_original: bool, link: bytes | None = None) -> None:
    """The archived copy, whole or not at all: a hard link (or copy) to a temporary name, then a rename. A link
    dropped in the inbox is archived as the text of its target, a file like any other."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(descriptor)
    os.unlink(temporary)
    try:
        if link is not None:
            Path(temporary).write_bytes(link)
        elif keep_original:
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


def _dropped_files(lake: Lake) -> list[Path]:
    """Files and links under `inbox/`, outside the archive (by where they are, not where a link points)."""
    if not lake.home.inbox.is_dir():
        return []
    found = []
    # The archive (every file ever received) is not walked: its size grows with the history, the inbox's does not.
    for folder, subfolders, names in os.walk(lake.home.inbox):
        here = Path(folder)
        # A link to a folder is listed among the folders and not followed: it is a dropped file like any link.
        found += [here / name for name in names + [d for d in subfolders if (here / d).is_symlink()]]
        subfolders[:] = [name for name in subfolders if here / name != lake.home.archive]
    return sorted(path for path in found
                  if (path.is_symlink() or path.is_file() or _special_file_kind(path) is not None)
                  and not path.is_relative_to(lake.home.archive) and not _is_ignored(path))


def _is_ignored(path: Path) -> bool:
    """Files still being written: a producer writes `.name.tmp` and renames it when whole."""
    return path.name.startswith(".") or path.name.endswith((".tmp", ".part", ".partial"))


@contextlib.contextmanager
def _intake_lock(lake: Lake) -> Iterator[None]:
    lake.home.root.mkdir(parents=True, exist_ok=True)
    with open(lake.home.intake_lock, "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _csv_header(text: str) -> list[str]:
    first_line = text.split("\n", 1)[0].rstrip("\r")
    if not first_line.strip():
        return []
    try:
        return [cell.strip() for cell in next(csv.reader([first_line]))]
    except (csv.Error, StopIteration):
        return []
