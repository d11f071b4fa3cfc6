"""Dagster's SQLite event log, keeping one SQLAlchemy engine (and its connection) per database file.

Dagster's `SqliteEventLogStorage` makes a new engine for every statement it writes and disposes of it after: each
event of a run (about 3,400 for a run of eight days: every asset's planned and done materialisation of every day,
every check's evaluations) pays for a new connection and for compiling its INSERT again, because SQLAlchemy keeps
compiled statements per engine; it also asks SQLite whether a table exists, through another new engine, at every
asset event. That was a third of the CPU of a pipeline run. This class is the same storage,
the same files and the same schema, with each file's engine kept while the process lives (the most recently used
`ENGINES_KEPT` of them) and disposed of before a file is deleted.

SQLite locks per transaction, not per connection: a connection kept open between writes blocks no other process
(the daemon, the webserver, a backfill's runs). Every use still holds the storage's lock, as Dagster's does, so a
connection is never used by two threads at once.

The class subclasses one of Dagster's internal classes: Dagster documents configuring `SqliteEventLogStorage` by its
internal module path in dagster.yaml, but not extending it. tests/test_definitions.py checks that an instance of a
data home uses it and that a run's events, asset materialisations and check evaluations read back.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (SQLITE_BUSY_TIMEOUT_SECONDS,
                                                                     SqliteEventLogStorage)
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine

# One index file, the run files of the runs in progress, a few read back: more than a process uses at once.
ENGINES_KEPT = 16


class SqliteEventLogKeepingEngines(SqliteEventLogStorage):
    """`SqliteEventLogStorage` under DAGSTER_HOME/history/runs (where Dagster's default storage keeps it)."""

    def __init__(self, dagster_home: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        self._tables_seen: set[str] = set()
        super().__init__(os.path.join(dagster_home, "history", "runs", ""), inst_data=inst_data)

    @classmethod
    def config_type(cls):
        return {"dagster_home": dg.StringSource}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value) -> SqliteEventLogKeepingEngines:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        with self._engines_lock:
            engine = self._engines.get(shard)
            if engine is not None:
                self._engines.move_to_end(shard)
                return engine
            engine = create_engine(self.conn_string_for_shard(shard), pool_size=1, max_overflow=1,
                                   connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            self._engines[shard] = engine
            while len(self._engines) > ENGINES_KEPT:
                _, oldest = self._engines.popitem(last=False)
                oldest.dispose()
            return engine

    def _forget(self) -> None:
        """Close the connections to every file, before the files are deleted (a wipe) or the instance goes."""
        with self._engines_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        # Asked at every asset event (Dagster's own makes an engine for it); a table, once there, stays.
        if table_name not in self._tables_seen and super().has_table(table_name):
            self._tables_seen.add(table_name)
        return table_name in self._tables_seen

    def wipe(self) -> None:
        self._forget()
        super().wipe()

    def dispose(self) -> None:
        self._forget()
        super().dispose()
