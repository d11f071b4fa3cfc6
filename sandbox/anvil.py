"""A local anvil node on 127.0.0.1, started from the repository's node_modules, for the sandbox chain."""
from __future__ import annotations

import platform
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

    def __init__(self, genesis_timestamp: int, chain_id: int = 31337, startup_timeout_s: float = 30.0):
        self.genesis_timestamp = genesis_timestamp
        self.chain_id = chain_id
        self.startup_timeout_s = startup_timeout_s
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
            self._log = tempfile.TemporaryFile()
            self._process = subprocess.Popen(
                [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(self.chain_id),
                 "--timestamp", str(self.genesis_timestamp), "--hardfork", HARDFORK,
                 "--prune-history", str(KEEP_STATES_IN_MEMORY)],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
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
