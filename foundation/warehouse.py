"""The warehouse file itself: telling a damaged DuckDB file from a query's or a lock's error, and what to do about it
(orchestration/warehouse_rebuild.py builds it again)."""
import duckdb

from foundation.home import DataHome

# What DuckDB says when the file is not a database any more, or a block of it fails its checksum.
_DAMAGED = ("not a valid DuckDB database file", "Corrupt database file", "does not match stored checksum")


def damaged(error: BaseException | str) -> bool:
    """Whether a DuckDB error (or its text, as dbt logged it) says the database file itself is damaged."""
    if not isinstance(error, str | duckdb.Error):
        return False
    return any(marker in str(error) for marker in _DAMAGED)


def rebuild_advice(home: DataHome) -> str:
    return (f"`backed --home {home.root} warehouse rebuild` builds it again from the lake and the last published "
            "snapshot, keeping the damaged file beside it")
