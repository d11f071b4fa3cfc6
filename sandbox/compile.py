"""Compile the sandbox contracts with solcjs (from node_modules) into `sandbox/build/contracts.json`.

The build is cached under a sha256 of the sources and the compiler settings, so it recompiles only when
either changes. `python -m sandbox.compile` compiles (the Makefile's set-up runs it).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

SANDBOX_DIR = Path(__file__).resolve().parent
REPO_ROOT = SANDBOX_DIR.parent
CONTRACTS_DIR = SANDBOX_DIR / "contracts"
BUILD_PATH = SANDBOX_DIR / "build" / "contracts.json"
SOLCJS = REPO_ROOT / "node_modules" / ".bin" / "solcjs"

# cancun, not the compiler's newer default: the sandbox anvil runs cancun, whose per-block state stays small
# (prague's block-hash history contract grows every block, and anvil keeps every historical state in memory).
EVM_VERSION = "cancun"
COMPILER_SETTINGS = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": EVM_VERSION,
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
}


class CompileError(RuntimeError):
    """solcjs rejected the sources or could not run."""


def compile_contracts(force: bool = False) -> dict[str, dict]:
    """Every deployable contract: name -> {"abi": [...], "bytecode": "0x..."}; cached until the sources change."""
    sources = _read_sources()
    key = _sources_key(sources)
    if not force and BUILD_PATH.exists():
        cached = json.loads(BUILD_PATH.read_text())
        if cached.get("sources_sha256") == key:
            return cached["contracts"]
    contracts = _run_solcjs(sources)
    _write_atomically(BUILD_PATH, json.dumps({"sources_sha256": key, "contracts": contracts}, indent=1, sort_keys=True))
    return contracts


def _read_sources() -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(CONTRACTS_DIR.glob("*.sol"))}


def _sources_key(sources: dict[str, str]) -> str:
    digest = hashlib.sha256(json.dumps(COMPILER_SETTINGS, sort_keys=True).encode())
    for name, text in sorted(sources.items()):
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


def _run_solcjs(sources: dict[str, str]) -> dict[str, dict]:
    if not SOLCJS.exists():
        raise CompileError(f"solcjs not found at {SOLCJS}: run `npm ci` in {REPO_ROOT}")
    request = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": COMPILER_SETTINGS,
    }
    # stdin and stdout are files, not pipes: solcjs exits before node has flushed a piped stdout past 64 KiB, and
    # node's synchronous read of a pipe not yet written to fails with EAGAIN.
    with tempfile.TemporaryFile(mode="w+") as stdin, tempfile.TemporaryFile(mode="w+") as stdout:
        stdin.write(json.dumps(request))
        stdin.seek(0)
        completed = subprocess.run(
            [str(SOLCJS), "--standard-json", "--base-path", str(CONTRACTS_DIR)],
            stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, text=True, cwd=CONTRACTS_DIR, timeout=600,
        )
        stdout.seek(0)
        printed = stdout.read()
    # solcjs may print warnings before the JSON document.
    payload = printed[printed.find("{"):] if "{" in printed else ""
    if completed.returncode != 0 or not payload:
        raise CompileError(f"solcjs failed ({completed.returncode}): {completed.stderr.strip() or printed.strip()}")
    output = json.loads(payload)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileError("\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors))
    contracts: dict[str, dict] = {}
    for source_name, by_name in sorted(output.get("contracts", {}).items()):
        for name, artifact in sorted(by_name.items()):
            bytecode = artifact["evm"]["bytecode"]["object"]
            if not bytecode:  # abstract contracts and interfaces
                continue
            if name in contracts:
                raise CompileError(f"contract {name} is defined twice (second time in {source_name})")
            contracts[name] = {"abi": artifact["abi"], "bytecode": "0x" + bytecode}
    return contracts


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.compile", description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="recompile even when the cache is current")
    args = parser.parse_args(argv)
    contracts = compile_contracts(force=args.force)
    print(f"{len(contracts)} contracts in {BUILD_PATH.relative_to(REPO_ROOT)}: {', '.join(sorted(contracts))}")


if __name__ == "__main__":
    main()
