"""`backed sandbox up` / `down`: after a demo has ended, its chain comes back on a fresh anvil (the demo's
simulation replayed: the same contracts at the same addresses, the same blocks) at the URL the data home's
deployment then names, and stays up until `down`."""
from __future__ import annotations

import json
import shutil

import duckdb
import requests
from click.testing import CliRunner

from foundation.home import DataHome
from orchestration.cli import main


def rpc(url: str, method: str, *params):
    return requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                         timeout=10).json()["result"]


def test_the_demos_chain_comes_back_with_its_blocks_and_goes_down(clean_demo, tmp_path):
    home = DataHome(tmp_path / "home")
    shutil.copytree(clean_demo[0], home.root)
    runner = CliRunner()
    up = runner.invoke(main, ["--home", str(home.root), "sandbox", "up"])
    try:
        assert up.exit_code == 0, up.output
        node = json.loads(home.sandbox_node.read_text())
        deployment = json.loads(home.sandbox_deployment.read_text())
        assert deployment["rpc_url"] == node["rpc_url"] and f"sandbox chain up at {node['rpc_url']}" in up.output
        with duckdb.connect(str(home.warehouse), read_only=True) as con:
            last_block, block_hash = con.execute("""select to_block, state_block_hash from main.stg_chain_days
                                                    order by partition_date desc limit 1""").fetchone()
        # the block the demo's last day closed on, with the same hash: the same chain, not a look-alike
        block = rpc(node["rpc_url"], "eth_getBlockByNumber", hex(last_block), False)
        assert block["hash"] == block_hash
        usdai = next(e["address"] for e in deployment["address_book"] if e["role"] == "usdai")
        assert rpc(node["rpc_url"], "eth_getCode", usdai, "latest") not in ("0x", None)
        again = runner.invoke(main, ["--home", str(home.root), "sandbox", "up"])
        assert again.exit_code == 0 and "already up" in again.output
    finally:
        down = runner.invoke(main, ["--home", str(home.root), "sandbox", "down"])
    assert down.exit_code == 0 and "stopped" in down.output
    assert not home.sandbox_node.exists()
    try:
        rpc(node["rpc_url"], "eth_chainId")
        answered = True
    except requests.RequestException:
        answered = False
    assert not answered


def test_sandbox_up_without_a_demo_says_what_to_run(tmp_path):
    result = CliRunner().invoke(main, ["--home", str(tmp_path / "home"), "sandbox", "up"])
    assert (result.exit_code, result.output.strip()) == (1, f"no sandbox in {tmp_path / 'home'}: run `backed demo` first")
