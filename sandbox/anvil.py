"""A local anvil node on 127.0.0.1, started from the repository's node_modules, for the sandbox chain."""
from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = REPO_ROOT / "node_modules"

# Every historical state stays in memory (none on disk, where anvil would otherwise spill them into
# ~/.foundry and drop the oldest): eth_call at any earlier block of the run must keep working.
KEEP_STATES_IN_MEMORY = 1_000_000
# See sandbox/compile.py: the contracts target cancun, and cancun keeps each retained state small.
HARDFORK = "cancun"
_PLATFORMS = {("Linux", "x86_64"): "linux-amd64", ("Linux", "aarch64"): "linux-arm64",
              ("Darwin", "x86_64"): "darwin-amd64", ("Darwin", "arm64"): "darwin-arm64"}


class AnvilError(RuntimeError):
    """The node could not be started or stopped."""


def anvil_binary() -> Path:
    """The real anvil executable that the npm package `@foundry-rs/anvil` ships for this platform.

    `node_modules/.bin/anvil` is a node launcher; the binary itself is started so that stopping it leaves
    no orphaned child behind.
    """
    platform_dir = _PLATFORMS.get((platform.system(), platform.machine()))
    candidates = [NODE_MODULES / "@foundry-rs" / f"anvil-{platform_dir}" / "bin" / "anvil"] if platform_dir else []
    candidates += sorted((NODE_MODULES / "@foundry-rs").glob("anvil-*/bin/anvil"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    launcher = NODE_MODULES / ".bin" / "anvil"
    if launcher.exists():
        return launcher
    raise AnvilError(f"anvil not found under {NODE_MODULES}: run `npm ci` in {REPO_ROOT}")


class AnvilNode:
    """An anvil process on a free port of 127.0.0.1 whose genesis block carries `genesis_timestamp`.

    Use as a context manager; `.rpc_url` and `.port` are set once the node answers `eth_chainId`.
    """

    def __init__(self, genesis_timestamp: int, chain_id: int = 31337, startup_timeout_s: float = 30.0,
                 log_path: Path | None = None):
        self.genesis_timestamp = genesis_timestamp
        self.chain_id = chain_id
        self.startup_timeout_s = startup_timeout_s
        self.log_path = log_path  # where the node writes, when it may outlive this process (detach)
        self.port: int | None = None
        self.rpc_url: str | None = None
        self._process: subprocess.Popen | None = None
        self._log = None

    def __enter__(self) -> AnvilNode:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> None:
        if self._process is not None:
            raise AnvilError("this anvil node is already running")
        # A port picked this way can be taken by someone else before anvil binds it: retry on a fresh one.
        for _ in range(5):
            port = _free_port()
            if self.log_path is not None:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                self._log = self.log_path.open("w+b")
            else:
                self._log = tempfile.TemporaryFile()
            self._process = subprocess.Popen(
                [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(self.chain_id),
                 "--timestamp", str(self.genesis_timestamp), "--hardfork", HARDFORK,
                 "--prune-history", str(KEEP_STATES_IN_MEMORY)],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                # a node that may be left serving (detach) has its own session: a Ctrl-C meant for the command that
                # started it does not reach it
                start_new_session=self.log_path is not None,
            )
            if self._wait_until_ready(f"http://127.0.0.1:{port}"):
                self.port, self.rpc_url = port, f"http://127.0.0.1:{port}"
                return
            output = self._output()
            self.stop()
            if "address already in use" not in output.lower():
                raise AnvilError(f"anvil did not start: {output[-2000:]}")
        raise AnvilError("anvil found no free port on 127.0.0.1")

    def stop(self, timeout_s: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        self.port = self.rpc_url = None

    def detach(self, record: Path) -> int:
        """Leave the node serving after this process ends: its pid and URL go to `record` (JSON), which
        `stop_detached` reads. The node's output goes to `log_path`."""
        if self._process is None or self.log_path is None:
            raise AnvilError("only a running node started with a log_path can be left serving")
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"pid": self._process.pid, "rpc_url": self.rpc_url, "log": str(self.log_path)}))
        pid, self._process = self._process.pid, None
        self._log.close()
        self._log = None
        return pid

    def _wait_until_ready(self, url: str) -> bool:
        deadline = time.monotonic() + self.startup_timeout_s
        with requests.Session() as session:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    return False
                try:
                    reply = session.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                                         timeout=1)
                    if int(reply.json()["result"], 16) == self.chain_id:
                        return True
                except (requests.RequestException, ValueError, KeyError):
                    pass
                time.sleep(0.05)
        return False

    def _output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def detached_node(record: Path) -> dict | None:
    """The node `detach` left serving (pid, rpc_url, log), if its process is still there; None otherwise."""
    try:
        node = json.loads(record.read_text())
        os.kill(int(node["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return node


def stop_detached(record: Path, timeout_s: float = 10.0) -> dict | None:
    """Stop the node `detach` left serving and forget it; what was stopped, or None when nothing was running."""
    node = detached_node(record)
    record.unlink(missing_ok=True)
    if node is None:
        return None
    pid = int(node["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return node
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return node
