"""A JSON-RPC client over HTTP that behaves like a production indexer's.

What real providers do, and what the client does about it:
- 429 and 5xx answers, dropped connections, truncated or non-JSON bodies and timeouts are transient: the request
  is retried with exponential backoff and full jitter (honouring `Retry-After`), up to `attempts` times.
- Requests in flight are bounded (`max_concurrency`, shared by every thread using the client) and optionally
  paced to `requests_per_second`, so a backfill stays under a provider's plan.
- Other HTTP errors are raised at once as `RpcHttpError` with their status: HTTP 413 on `eth_getLogs` means "range
  too large" and is the log fetcher's business (it halves the span), not a reason to retry the same request.
- A caller that treats a timeout as a signal (the log fetcher halves its span) asks for `retry_timeouts=False`.

The URL may carry a provider key, so it never appears in a log line, an exception or a repr: errors name the
method and the failure, exceptions from the HTTP library are not chained (their text holds the URL), and the
HTTP library's own debug lines (which print the request path) have the URL's path and query masked. Where an
error must say which provider answered (several are configured, or one lied), it names the client's `label`:
the URL's scheme, host and port, without the user info, path and query that providers put keys in.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.json as pa_json
import requests

log = logging.getLogger(__name__)

_MAX_RETRY_AFTER_S = 30.0
# JSON-RPC error texts by which providers say "slow down" inside an HTTP 200 answer.
_RATE_LIMIT_HINTS = ("rate limit", "too many requests", "request limit", "exceeded the quota", "capacity exceeded")


# The fields of an eth_getLogs log the ingest reads, as the node writes them; a node's other fields
# (transactionIndex, blockTimestamp) are skipped by the column reader.
LOG_FIELDS = pa.struct([
    ("address", pa.string()),
    ("topics", pa.list_(pa.string())),
    ("data", pa.string()),
    ("blockNumber", pa.string()),
    ("blockHash", pa.string()),
    ("transactionHash", pa.string()),
    ("logIndex", pa.string()),
    ("removed", pa.bool_()),
])


@dataclass(frozen=True)
class ResultColumns:
    """A JSON-RPC result that is an array of objects, read straight into Arrow columns (one per field asked), with
    the answer's bytes for the few rows a caller needs as the node wrote them."""

    table: pa.Table
    body: bytes

    def rows(self) -> list:
        """The result as `JsonRpcClient.call` gives it (parsed from the answer's bytes now)."""
        return json.loads(self.body)["result"]


class JsonRpcError(Exception):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, method: str, code: int | None, message: str, data: Any = None) -> None:
        super().__init__(f"{method}: JSON-RPC error {code}: {message}")
        self.method = method
        self.code = code
        self.message = message
        self.data = data


class RpcUnavailable(Exception):
    """The node could not be reached or kept failing after the retries."""


class RpcTimeout(RpcUnavailable):
    """The node did not answer in time (raised at once when the caller asked not to retry timeouts)."""


class RpcHttpError(RpcUnavailable):
    """The node answered with an HTTP status that retrying the same request cannot fix."""

    def __init__(self, label: str, status: int) -> None:
        super().__init__(f"{label}: HTTP {status}")
        self.status = status


class _UrlSecretMask(logging.Filter):
    """Masks the secret parts of live clients' URLs in the records of the HTTP library's loggers."""

    LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.poolmanager", "urllib3.util.retry")

    def __init__(self) -> None:
        super().__init__()
        self._secrets: Counter[str] = Counter()
        self._lock = threading.Lock()
        for name in self.LOGGERS:
            logging.getLogger(name).addFilter(self)

    def hide(self, secrets: list[str]) -> None:
        with self._lock:
            self._secrets.update(secrets)

    def release(self, secrets: list[str]) -> None:
        with self._lock:
            self._secrets.subtract(secrets)
            self._secrets = +self._secrets

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        if secrets:
            message = record.getMessage()
            if any(secret in message for secret in secrets):
                for secret in secrets:
                    message = message.replace(secret, "<hidden>")
                record.msg, record.args = message, ()
        return True


_URL_SECRET_MASK = _UrlSecretMask()


def _url_secrets(url: str) -> list[str]:
    """The parts of an RPC URL that may hold a key: user info, path and query (providers put keys there)."""
    parts = urlsplit(url)
    secrets = [part for part in (parts.path, parts.query) if part and part != "/"]
    if "@" in parts.netloc:
        secrets.append(parts.netloc.rsplit("@", 1)[0])
    return secrets


def provider_label(url: str) -> str:
    """A provider named without its key: scheme, host and port of its URL."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme or 'http'}://{host}" + (f":{port}" if port is not None else "")


class RequestPacer:
    """At most `per_second` requests started per second, across threads (evenly spaced, no bursts)."""

    def __init__(self, per_second: float) -> None:
        if per_second <= 0:
            raise ValueError(f"requests_per_second must be positive, got {per_second}")
        self._interval = 1.0 / per_second
        self._next_start = 0.0
        self._lock = threading.Lock()

    def wait_turn(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + self._interval
        if start > now:
            time.sleep(start - now)


class JsonRpcClient:
    def __init__(
        self,
        url: str,
        timeout: float = 30,
        *,
        attempts: int = 6,
        backoff_s: float = 0.5,
        max_backoff_s: float = 20.0,
        max_batch_size: int = 100,
        max_concurrency: int = 4,
        requests_per_second: float | None = None,
        jitter: random.Random | None = None,
    ) -> None:
        if attempts < 1 or max_concurrency < 1 or max_batch_size < 1:
            raise ValueError("attempts, max_concurrency and max_batch_size must be at least 1")
        self._url = url
        # what errors and log lines name the provider by: never the key
        self.label = provider_label(url)
        self._url_secrets = _url_secrets(url)
        _URL_SECRET_MASK.hide(self._url_secrets)
        self._timeout = timeout
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self.max_batch_size = max_batch_size
        self.max_concurrency = max_concurrency
        self._pacer = RequestPacer(requests_per_second) if requests_per_second else None
        self._in_flight = threading.BoundedSemaphore(max_concurrency)
        self._jitter = jitter or random.Random()
        self._ids = itertools.count(1)
        self._ids_lock = threading.Lock()
        self._sessions = threading.local()
        self._all_sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        # request outcomes by kind ("ok", "HTTP 429", "timed out", ...): what a run met, for logs and tests
        self.outcomes: Counter[str] = Counter()
        self._outcomes_lock = threading.Lock()

    def __repr__(self) -> str:
        return "JsonRpcClient(url=<hidden>)"

    def close(self) -> None:
        with self._sessions_lock:
            sessions, self._all_sessions = self._all_sessions, []
        for session in sessions:
            session.close()
        self._sessions = threading.local()
        _URL_SECRET_MASK.release(self._url_secrets)
        self._url_secrets = []

    def __enter__(self) -> JsonRpcClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def call(self, method: str, params: list | None = None, *, retry_timeouts: bool = True) -> Any:
        return self._call(method, params or [], retry_timeouts, requests.Response.json)

    def batch(self, calls: list[tuple[str, list]], *, errors_as_values: bool = False) -> list[Any]:
        """Results in the order of `calls`, sent as JSON-RPC batches of at most `max_batch_size`.

        With `errors_as_values`, a call the node rejects yields its `JsonRpcError` in place of a result
        (a reverted `eth_call` among many must not sink the others); otherwise the first error raises.
        A node that refuses batches gets the calls one by one; one that finds a batch too large (HTTP 413)
        gets smaller batches.
        """
        results: list[Any] = []
        start = 0
        while start < len(calls):
            chunk = calls[start : start + self.max_batch_size]
            try:
                answers = self._batch_answers(chunk)
            except RpcHttpError as error:
                if error.status != 413 or len(chunk) == 1:
                    raise
                self.max_batch_size = max(1, len(chunk) // 2)
                continue
            for answer in answers:
                if isinstance(answer, JsonRpcError) and not errors_as_values:
                    raise answer
                results.append(answer)
            start += len(chunk)
        return results

    def call_columns(self, method: str, params: list, rows: pa.StructType, *,
                     retry_timeouts: bool = True) -> ResultColumns | Any:
        """`call` for a method whose result is an array of objects: the array read into Arrow columns of `rows`'
        fields, with no Python object per row (other fields are skipped). An answer that does not read that way
        (an error, a result of another shape, a field of another type or null where an object is) is read and
        returned as `call` reads and returns it, with the same errors and retries."""
        return self._call(method, params, retry_timeouts, lambda response: _result_columns(response, rows))

    def get_logs(self, from_block: int, to_block: int, addresses: list[str]) -> list[dict]:
        """One eth_getLogs; a timeout raises `RpcTimeout` at once (the caller narrows the range instead)."""
        return self.call("eth_getLogs", _log_query(from_block, to_block, addresses), retry_timeouts=False)

    def get_log_columns(self, from_block: int, to_block: int, addresses: list[str]) -> ResultColumns | Any:
        """`get_logs` read into columns of `LOG_FIELDS` (`call_columns`): what the node answered, as a
        `ResultColumns` or, for an answer that does not read into them, as `get_logs` returns it."""
        return self.call_columns("eth_getLogs", _log_query(from_block, to_block, addresses), LOG_FIELDS,
                                 retry_timeouts=False)

    # ------------------------------------------------------------------------------------------------ internals

    def _call(self, method: str, params: list, retry_timeouts: bool,
              read: Callable[[requests.Response], Any]) -> Any:
        """One request; its answer made by `read` from a 200 response's body, then its result (a `ResultColumns`
        as it came)."""
        payload = {"jsonrpc": "2.0", "id": self._next_id(), "method": method, "params": params}
        answer = self._post(payload, method, retry_timeouts=retry_timeouts, read=read)
        if isinstance(answer, ResultColumns):
            return answer
        if not isinstance(answer, dict):
            raise JsonRpcError(method, None, "answer is not a JSON-RPC response object")
        return _result_of(answer, method)

    def _batch_answers(self, chunk: list[tuple[str, list]]) -> list[Any]:
        """One result or `JsonRpcError` per call of `chunk`."""
        ids = [self._next_id() for _ in chunk]
        payload = [
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
            for request_id, (method, params) in zip(ids, chunk)
        ]
        label = f"batch of {len(chunk)} ({chunk[0][0]}…)"
        answers = self._post(payload, label, retry_timeouts=True)
        if isinstance(answers, dict):
            # A node without batch support answers the whole batch with one error object.
            log.info("%s: the node refuses JSON-RPC batches (%s); sending the calls one by one",
                     label, (answers.get("error") or {}).get("message"))
            return [self._call_or_error(method, params) for method, params in chunk]
        by_id = {answer.get("id"): answer for answer in answers if isinstance(answer, dict)}
        results: list[Any] = []
        for request_id, (method, params) in zip(ids, chunk):
            answer = by_id.get(request_id)
            if answer is None:
                # Some gateways drop entries of a batch they split internally: ask for the missing one alone.
                results.append(self._call_or_error(method, params))
                continue
            try:
                results.append(_result_of(answer, method))
            except JsonRpcError as error:
                results.append(error)
        return results

    def _call_or_error(self, method: str, params: list) -> Any:
        try:
            return self.call(method, params)
        except JsonRpcError as error:
            return error

    def _next_id(self) -> int:
        with self._ids_lock:
            return next(self._ids)

    def _session(self) -> requests.Session:
        session = getattr(self._sessions, "session", None)
        if session is None:
            session = requests.Session()
            self._sessions.session = session
            with self._sessions_lock:
                self._all_sessions.append(session)
        return session

    def _count(self, outcome: str) -> None:
        with self._outcomes_lock:
            self.outcomes[outcome] += 1

    def _post(self, payload: dict | list, label: str, *, retry_timeouts: bool,
              read: Callable[[requests.Response], Any] = requests.Response.json) -> Any:
        for attempt in range(1, self._attempts + 1):
            answer, failure, retry_after = self._attempt(payload, label, retry_timeouts=retry_timeouts, read=read)
            if failure is None:
                return answer
            self._count(failure)
            if attempt == self._attempts:
                raise RpcUnavailable(f"{label}: {failure} after {attempt} attempts")
            ceiling = min(self._max_backoff_s, self._backoff_s * 2 ** (attempt - 1))
            # Full jitter: clients that failed together must not come back together.
            wait_s = retry_after if retry_after is not None else self._jitter.uniform(0, ceiling)
            log.warning("%s: %s (attempt %d of %d), retrying in %.2fs", label, failure, attempt, self._attempts, wait_s)
            time.sleep(wait_s)
        raise AssertionError("unreachable")

    def _attempt(
        self, payload: dict | list, label: str, *, retry_timeouts: bool, read: Callable[[requests.Response], Any]
    ) -> tuple[Any, str | None, float | None]:
        """(answer, None, None) on success; (None, failure, Retry-After seconds or None) on a transient failure.
        `read` makes the answer of a 200 response's body (a ValueError when it is not JSON)."""
        if self._pacer is not None:
            self._pacer.wait_turn()
        with self._in_flight:
            try:
                response = self._session().post(self._url, json=payload, timeout=self._timeout)
                body = response.content
            except requests.Timeout:
                if not retry_timeouts:
                    self._count("timed out")
                    raise RpcTimeout(f"{label}: timed out after {self._timeout}s") from None
                return None, "timed out", None
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                return None, "connection dropped", None
        status = response.status_code
        if status == 429 or status >= 500:
            return None, f"HTTP {status}", _retry_after(response)
        if status != 200:
            self._count(f"HTTP {status}")
            raise RpcHttpError(label, status)
        try:
            answer = read(response) if body else None
        except ValueError:
            return None, "truncated or non-JSON answer", None
        if answer is None:
            return None, "empty answer", None
        if _is_rate_limited(answer):
            return None, "rate limited (JSON-RPC)", None
        self._count("ok")
        return answer, None, None


def _log_query(from_block: int, to_block: int, addresses: list[str]) -> list[dict]:
    return [{"fromBlock": hex(from_block), "toBlock": hex(to_block), "address": list(addresses)}]


def _result_columns(response: requests.Response, rows: pa.StructType) -> ResultColumns | Any:
    """The answer's result array as columns of `rows`; any other answer as `Response.json` reads it."""
    body = response.content
    # One JSON object (the response) is one row of the reader's table, and a row may not straddle two blocks.
    read_options = pa_json.ReadOptions(use_threads=False, block_size=len(body) + 1)
    parse_options = pa_json.ParseOptions(
        explicit_schema=pa.schema([("result", pa.list_(rows)), ("error", pa.struct([("code", pa.int64())]))]),
        unexpected_field_behavior="ignore", newlines_in_values=True)
    try:
        answer = pa_json.read_json(io.BytesIO(body), read_options=read_options, parse_options=parse_options)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return response.json()
    if answer.num_rows != 1 or answer["error"].null_count == 0 or answer["result"].null_count:
        return response.json()
    logs = answer["result"].chunk(0).flatten() if answer["result"].num_chunks == 1 else None
    if logs is None or logs.null_count:
        return response.json()
    return ResultColumns(pa.Table.from_batches([pa.RecordBatch.from_struct_array(logs)]), body)


def _result_of(answer: dict, method: str) -> Any:
    if answer.get("error") is not None:
        error = answer["error"]
        raise JsonRpcError(method, error.get("code"), str(error.get("message")), error.get("data"))
    if "result" not in answer:
        raise JsonRpcError(method, None, "answer has neither result nor error")
    return answer["result"]


def _is_rate_limited(answer: Any) -> bool:
    answers = answer if isinstance(answer, list) else [answer]
    for one in answers:
        error = one.get("error") if isinstance(one, dict) else None
        if isinstance(error, dict):
            text = str(error.get("message", "")).lower()
            if error.get("code") == 429 or any(hint in text for hint in _RATE_LIMIT_HINTS):
                return True
    return False


def _retry_after(response: requests.Response) -> float | None:
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER_S)
