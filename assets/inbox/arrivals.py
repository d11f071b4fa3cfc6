"""Files still arriving: intake takes a file in only once whoever writes it is done.

A producer that writes a file under another name and renames it into the inbox when whole (`.name.tmp`, `name.part`)
is never seen half-written: those names are not taken in. For every other file intake asks, just before it reads it:
- is the file open for writing by any process? A read lease (Linux `F_SETLEASE`) is refused while it is: this
  catches a slow copy, an SFTP or SCP upload, `curl -T`, a file preallocated at its full size then filled. Taking
  the lease needs the file's owner or CAP_LEASE, and a local file system;
- did it change less than the quiet period ago? That covers a producer that closes the file and opens it again
  to go on (one that first sets the file to its full size, then fills it). `BACKED_INBOX_QUIET_SECONDS` sets it;
  the default is `QUIET_SECONDS` where the writer check works and `UNCHECKED_QUIET_SECONDS` where it cannot (an
  inbox on a network share, files owned by another user without CAP_LEASE): there the quiet period is the only
  sign a writer is done, so set it above the longest pause of the slowest producer. A file a person names to
  `backed ingest` is not held to it: they say it is complete.
A file that changes while intake reads it is left for the next look too (its size and times are compared before
and after). A file left waiting is taken in by a later look, once, whole.
"""
import errno
import fcntl
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

QUIET_SECONDS_ENV = "BACKED_INBOX_QUIET_SECONDS"
QUIET_SECONDS = 5.0
UNCHECKED_QUIET_SECONDS = 120.0


@dataclass(frozen=True)
class FileState:
    """What changes when a file is written: compared before and after intake reads it."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> "FileState":
        stat = path.stat()
        return cls(stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


def open_for_writing(path: Path) -> bool | None:
    """Whether a process holds `path` open for writing (this one included); None where that cannot be told."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        # A writer opening the file while the lease is held waits for its release (microseconds) and the kernel
        # signals the holder: SIGURG, which is ignored by default, instead of SIGIO, which would end the process.
        fcntl.fcntl(descriptor, fcntl.F_SETSIG, signal.SIGURG)
        try:
            fcntl.fcntl(descriptor, fcntl.F_SETLEASE, fcntl.F_RDLCK)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EBUSY):
                return True
            return None  # EACCES/EPERM (another owner, no CAP_LEASE), EINVAL (a file system without leases)
        fcntl.fcntl(descriptor, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        return False
    finally:
        os.close(descriptor)


def quiet_seconds(writers_checked: bool) -> float:
    configured = os.environ.get(QUIET_SECONDS_ENV, "").strip()
    if configured:
        try:
            return max(0.0, float(configured))
        except ValueError:
            raise ValueError(f"{QUIET_SECONDS_ENV}={configured!r} is not a number of seconds") from None
    return QUIET_SECONDS if writers_checked else UNCHECKED_QUIET_SECONDS


def still_arriving(path: Path, quiet: bool = True, now: float | None = None) -> str | None:
    """Why `path` may not be whole yet (see the module), or None when it can be taken in; with `quiet` False, only
    whether a process writes it."""
    if path.is_symlink() or not path.is_file():
        return None  # a link is taken in as its text, never followed; what is not a file is refused elsewhere
    writing = open_for_writing(path)
    if writing:
        return "open for writing by another process"
    quiet = quiet_seconds(writers_checked=writing is not None) if quiet else 0.0
    if quiet:
        age = (time.time() if now is None else now) - path.stat().st_mtime
        unchecked = "" if writing is not None else " (whether a process writes it cannot be checked here)"
        if age < 0:
            return (f"changed {-age:.0f} s in the future by this machine's clock (the writer's clock is ahead): "
                    f"taken in once that time and the quiet period of {quiet:.0f} s have passed{unchecked}")
        if age < quiet:
            return f"changed {age:.0f} s ago, less than the quiet period of {quiet:.0f} s{unchecked}"
    return None
