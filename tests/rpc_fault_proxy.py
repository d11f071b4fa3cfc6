"""A JSON-RPC proxy on 127.0.0.1 that misbehaves the way public RPC providers do (tests only).

It forwards to a real node and, on a fixed rotation of requests, answers instead with one of the faults a
production indexer meets: HTTP 429, HTTP 5xx, an answer slower than usual, no answer before the client gives up,
a dropped connection, a truncated JSON body. An `eth_getLogs` over more than `max_log_blocks` blocks is refused
the ways providers refuse it, in turn: JSON-RPC -32005 "too many results", -32602 "block range too large", and
HTTP 413. Every fault served is counted in `faults`, so a test can show that each one happened.

It can also lie the way a load-balanced provider does, with HTTP 200 and no error: eth_getLogs answered `[]` or
with some logs dropped (a node that has not indexed the range yet), eth_blockNumber lower than a head it answered
before (a node behind the others), another hash for a block number (a node on another chain). `heal()` stops every
lie, as a provider whose lagging node caught up.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

RANGE_REFUSALS = ("-32005", "-32602", "413")


@dataclass(frozen=True)
class FaultPlan:
    # The rotation of faults over requests ("ok" forwards untouched); a fault never follows a fault, so a retried
    # request is not starved even with several clients interleaving.
    rotation: tuple[str, ...] = ("ok", "429", "ok", "500", "ok", "slow", "ok", "drop", "ok", "truncate", "ok",
                                 "503", "ok", "stall", "ok", "ok")
    max_log_blocks: int | None = None
    slow_s: float = 0.05
    stall_s: float = 1.5  # longer than the client's timeout
    max_batch: int | None = None  # a larger JSON-RPC batch gets HTTP 413
    refuse_batches: bool = False  # answer every batch with one error object, as nodes without batch support do
    refuse_finalized_tag: bool = False  # a node that predates the `finalized` tag
    refuse_methods: frozenset[str] = frozenset()  # methods answered "does not exist" (eth_getBlockReceipts is new)
    # Lies. "empty": an eth_getLogs answer that had logs comes back `[]`; "short": every other log of it is dropped.
    log_lie: str | None = None
    log_lies: int | None = None  # how many eth_getLogs answers lie (None: every one)
    # eth_blockNumber answered this many blocks below the highest head the proxy answered before (0: never)
    head_behind_by: int = 0
    heads_behind: int | None = None  # how many eth_blockNumber answers lie (None: every one after the first)
    forged_blocks: frozenset[int] = frozenset()  # eth_getBlockByNumber of these numbers gets another hash


class RpcFaultProxy:
    def __init__(self, upstream_url: str, plan: FaultPlan | None = None) -> None:
        self.upstream_url = upstream_url
        self.plan = plan or FaultPlan()
        self.faults: Counter[str] = Counter()
        self.in_flight = 0
        # the most requests the proxy held at once: what the client's concurrency bound let through
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._turns = itertools.cycle(self.plan.rotation)
        self._refusals = itertools.cycle(RANGE_REFUSALS)
        self._upstream = threading.local()
        self.lying = True
        self._lies: Counter[str] = Counter()
        self._highest_head = -1
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="rpc-fault-proxy", daemon=True)

    def __enter__(self) -> RpcFaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def heal(self) -> None:
        """Tell the truth from now on."""
        with self._lock:
            self.lying = False

    def _count(self, fault: str) -> None:
        with self._lock:
            self.faults[fault] += 1

    def _next_turn(self) -> str:
        with self._lock:
            return next(self._turns)

    def _next_refusal(self) -> str:
        with self._lock:
            return next(self._refusals)

    def _forward(self, body: bytes) -> bytes:
        session = getattr(self._upstream, "session", None)
        if session is None:
            session = self._upstream.session = requests.Session()
        response = session.post(self.upstream_url, data=body, headers={"Content-Type": "application/json"}, timeout=60)
        return response.content

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
                pass

            def do_POST(self) -> None:  # noqa: N802 (the base class's name)
                with proxy._lock:
                    proxy.in_flight += 1
                    proxy.max_in_flight = max(proxy.max_in_flight, proxy.in_flight)
                try:
                    reply = self._reply()
                finally:
                    # counted out before the answer leaves: the client may send its next request the moment it has it
                    with proxy._lock:
                        proxy.in_flight -= 1
                if reply is None:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                try:
                    self._send(*reply)
                except (BrokenPipeError, ConnectionResetError):
                    # the client gave up on a stalled answer and closed the connection
                    self.close_connection = True

            def _reply(self) -> tuple[int, bytes] | None:
                """(status, body) to answer with; None to drop the connection."""
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    payload = json.loads(body)
                except ValueError:
                    return 400, b"not JSON"
                refusal = proxy._refusal_for(payload)
                if refusal is not None:
                    return refusal
                turn = proxy._next_turn()
                if turn != "ok":
                    proxy._count(turn)
                if turn in ("429", "500", "503"):
                    return int(turn), b'{"error": "provider unhappy"}'
                if turn == "drop":
                    return None
                if turn == "stall":
                    time.sleep(proxy.plan.stall_s)
                elif turn == "slow":
                    time.sleep(proxy.plan.slow_s)
                answer = proxy._lie(payload, proxy._forward(body))
                if turn == "truncate":
                    answer = answer[: max(1, len(answer) // 2)]
                return 200, answer

            def _send(self, status: int, answer: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        return Handler

    def _refusal_for(self, payload: object) -> tuple[int, bytes] | None:
        """The answer of a request the plan refuses outright (not counted in the rotation)."""
        plan = self.plan
        if isinstance(payload, list):
            refused = [call for call in payload if isinstance(call, dict) and call.get("method") in plan.refuse_methods]
            if refused and not plan.refuse_batches:
                self._count(f"{refused[0]['method']} refused")
                return 200, json.dumps([
                    json.loads(_error(call, -32601, f"the method {call['method']} does not exist/is not available"))
                    if call in refused else json.loads(self._forward(json.dumps(call).encode()))
                    for call in payload]).encode()
            if plan.refuse_batches:
                self._count("batch refused")
                return 200, _error({"id": None}, -32600, "batch requests are not supported")
            if plan.max_batch is not None and len(payload) > plan.max_batch:
                self._count("batch 413")
                return 413, b"request entity too large"
            return None
        if not isinstance(payload, dict):
            return None
        method, params = payload.get("method"), payload.get("params") or []
        if method in plan.refuse_methods:
            self._count(f"{method} refused")
            return 200, _error(payload, -32601, f"the method {method} does not exist/is not available")
        if plan.refuse_finalized_tag and method == "eth_getBlockByNumber" and params and params[0] == "finalized":
            self._count("finalized refused")
            return 200, _error(payload, -32602, "invalid block tag: finalized")
        if method == "eth_getLogs" and plan.max_log_blocks is not None:
            query = params[0]
            blocks = int(query["toBlock"], 16) - int(query["fromBlock"], 16) + 1
            if blocks > plan.max_log_blocks:
                refusal = self._next_refusal()
                self._count(f"range {refusal}")
                if refusal == "413":
                    return 413, b"request entity too large"
                if refusal == "-32005":
                    return 200, _error(payload, -32005, "query returned more than 10000 results")
                return 200, _error(payload, -32602, f"block range too large: {blocks} > {plan.max_log_blocks}")
        return None


    # ------------------------------------------------------------------------------------------------ lies

    def _may_lie(self, kind: str, limit: int | None) -> bool:
        """Whether this answer lies (and counts it), within the plan's number of lies of that kind."""
        with self._lock:
            if not self.lying or (limit is not None and self._lies[kind] >= limit):
                return False
            self._lies[kind] += 1
            self.faults[kind] += 1
            return True

    def _lie(self, payload: object, answer: bytes) -> bytes:
        plan = self.plan
        if not (plan.log_lie or plan.head_behind_by or plan.forged_blocks):
            return answer
        try:
            decoded = json.loads(answer)
        except ValueError:
            return answer
        if isinstance(payload, list) and isinstance(decoded, list):
            calls = {call.get("id"): call for call in payload if isinstance(call, dict)}
            changed = [self._lie_in(calls.get(one.get("id")) or {}, one) for one in decoded if isinstance(one, dict)]
            return json.dumps(decoded).encode() if any(changed) else answer
        if isinstance(payload, dict) and isinstance(decoded, dict) and self._lie_in(payload, decoded):
            return json.dumps(decoded).encode()
        return answer

    def _lie_in(self, call: dict, answer: dict) -> bool:
        """Rewrite one JSON-RPC answer to `call` if the plan lies about it; whether it did."""
        plan, method, result = self.plan, call.get("method"), answer.get("result")
        if method == "eth_getLogs" and plan.log_lie and isinstance(result, list) and result:
            if not self._may_lie(f"{plan.log_lie} logs", plan.log_lies):
                return False
            answer["result"] = [] if plan.log_lie == "empty" else result[1::2]
            return True
        if method == "eth_blockNumber" and plan.head_behind_by and isinstance(result, str):
            head = int(result, 16)
            with self._lock:
                highest, self._highest_head = self._highest_head, max(self._highest_head, head)
            if highest < 0 or not self._may_lie("head behind", plan.heads_behind):
                return False
            answer["result"] = hex(max(0, highest - plan.head_behind_by))
            return True
        if method == "eth_getBlockByNumber" and isinstance(result, dict) and plan.forged_blocks:
            if int(result.get("number", "0x0"), 16) not in plan.forged_blocks or not self._may_lie("forged hash", None):
                return False
            result["hash"] = "0x" + hashlib.sha256(b"another chain" + result["hash"].encode()).hexdigest()
            return True
        return False


def _error(payload: dict, code: int, message: str) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": payload.get("id"), "error": {"code": code, "message": message}}).encode()
