"""`make docs` (`backed docs`): dbt's docs site is generated into the data home and served, and its lineage runs
from the lake through staging and the marts to every figure of the attestation and to the audit trail."""
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from foundation.home import DataHome

CLI = Path(sys.executable).parent / "backed"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(url: str, deadline: float) -> bytes:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def ancestors(parent_map: dict, node: str) -> set[str]:
    found, todo = set(), [node]
    while todo:
        for parent in parent_map.get(todo.pop(), []):
            if parent not in found:
                found.add(parent)
                todo.append(parent)
    return found


def test_docs_are_served_with_the_lineage_from_the_lake_to_the_attestation(tmp_path):
    home, port = tmp_path / "home", free_port()
    server = subprocess.Popen([str(CLI), "--home", str(home), "docs", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        assert b"<html" in fetch(f"http://127.0.0.1:{port}/", deadline).lower()
        manifest = json.loads(fetch(f"http://127.0.0.1:{port}/manifest.json", deadline))
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert f"http://localhost:{port}/" in output
    assert (DataHome(home).dbt_docs / "index.html").exists()

    models = {node["name"]: node for node in manifest["nodes"].values() if node["resource_type"] == "model"}
    figures = [name for name, node in models.items() if node["fqn"][1] == "attestation"]
    assert "attestation_coverage" in figures and "journal_line_lineage" in models
    for name in [*figures, "journal_line_lineage"]:
        node = models[name]
        assert node["description"] and all(column["description"] for column in node["columns"].values()), name
        above = ancestors(manifest["parent_map"], node["unique_id"])
        assert any(n.startswith("source.backed.lake.") for n in above), name
        if name != "attestation_chain_reorganisations":  # a lake register with no staging table
            assert any(models.get(n.split(".")[-1], {}).get("fqn", [None, None])[1] == "staging" for n in above), name
        assert not any(models[p.split(".")[-1]]["fqn"][1] == "staging" for p in manifest["parent_map"][node["unique_id"]]
                       if p.startswith("model.")) or node["fqn"][1] == "trail", f"{name} reads staging"
