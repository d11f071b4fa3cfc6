"""DCGM telemetry as the stock exporter really writes it (NVIDIA's dcgm-exporter documentation and its default
counters; Prometheus' text exposition format): a raw scrape of `/metrics` has no sample timestamps and no `serial`
label, names its host `Hostname` (older releases) or `hostname`, and reports a GPU split into MIG instances once per
instance (`GPU_I_PROFILE`, `GPU_I_ID`). The corpus here is written by this project from those documents.
"""
from __future__ import annotations

import hashlib
from datetime import date, datetime

import polars as pl
from click.testing import CliRunner

from assets.inbox.intake import take_in_inbox
from assets.telemetry.scrapes import ingest_telemetry_day
from foundation.lake import Lake
from orchestration.cli import main

DAY = date(2026, 1, 5)
H100 = "GPU-5fd0b8a2-1c3e-4b7a-9d42-0e6f1a2b3c4d"
A100 = "GPU-0b7c9e21-6d4f-4a1b-8c3d-2e5f6a7b8c9d"


def stock_scrape(host_label: str = "Hostname", util: tuple[int, int] = (87, 12)) -> str:
    """One scrape of a two-GPU node's /metrics by a stock dcgm-exporter: HELP and TYPE per family, every label the
    exporter writes, no timestamps."""
    labels = [
        f'gpu="0",UUID="{H100}",pci_bus_id="00000000:18:00.0",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",'
        f'{host_label}="node-03",DCGM_FI_DRIVER_VERSION="550.54.15"',
        f'gpu="1",UUID="{A100}",pci_bus_id="00000000:2A:00.0",device="nvidia1",modelName="NVIDIA A100-SXM4-80GB",'
        f'{host_label}="node-03",DCGM_FI_DRIVER_VERSION="550.54.15"',
    ]
    families = [
        ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", "gauge", (61, 48)),
        ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", "gauge", ("612.338000", "95.121000")),
        ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", "gauge", util),
        ("DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered.", "gauge", (0, 0)),
    ]
    lines = []
    for name, help_text, kind, values in families:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{{{label}}} {value}" for label, value in zip(labels, values)]
    return "\n".join(lines) + "\n"


def mig_scrape() -> str:
    """The H100 split into two 3g.40gb MIG instances: each instance's samples carry the GPU's UUID and its own
    GPU_I_ID; temperature and power are the whole GPU's, repeated per instance."""
    lines = []
    for name, values in (("DCGM_FI_DEV_GPU_UTIL", (30, 50)), ("DCGM_FI_DEV_GPU_TEMP", (64, 64)),
                         ("DCGM_FI_DEV_POWER_USAGE", ("401.5", "401.5"))):
        lines.append(f"# TYPE {name} gauge")
        for instance, value in zip((1, 2), values):
            lines.append(f'{name}{{gpu="0",UUID="{H100}",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",'
                         f'Hostname="node-03",GPU_I_PROFILE="3g.40gb",GPU_I_ID="{instance}"}} {value}')
    return "\n".join(lines) + "\n"


def drop(lake: Lake, name: str, text: str) -> None:
    lake.home.inbox.mkdir(parents=True, exist_ok=True)
    (lake.home.inbox / name).write_text(text)


def rollup(lake: Lake) -> dict[str, dict]:
    rows = pl.from_arrow(lake.read_table("gpu_telemetry_daily", DAY)).to_dicts()
    return {row["gpu_uuid"]: row for row in rows}


def test_raw_scrapes_take_the_scrape_time_their_names_give_in_basic_or_extended_iso_8601(tmp_path):
    lake = Lake(tmp_path / "home")
    drop(lake, "node-03-20260105T120000Z.prom", stock_scrape())
    drop(lake, "node-04_2026-01-05T12:10:00Z.prom", stock_scrape(util=(91, 10)))
    results = take_in_inbox(lake)
    assert [(r.status, r.partition) for r in results] == [("routed", DAY), ("routed", DAY)]
    summaries = ingest_telemetry_day(DAY, lake)
    assert [(s.rows_in, s.rows_accepted, s.rows_quarantined) for s in summaries] == [(8, 8, 0), (8, 8, 0)]
    by_file = pl.from_arrow(lake.read_table("gpu_telemetry_daily", DAY)).sort("source_file", "gpu_uuid").to_dicts()
    # each collector's scrapes are a series, named by its scrape time's place (one scrape each here)
    assert [(r["source_file"], r["gpu_uuid"], r["samples"], r["first_seen"], r["util_mean"]) for r in by_file] == [
        ("node-03-*.prom", A100, 1, datetime(2026, 1, 5, 12), 12.0),
        ("node-03-*.prom", H100, 1, datetime(2026, 1, 5, 12), 87.0),
        ("node-04_*.prom", A100, 1, datetime(2026, 1, 5, 12, 10), 10.0),
        ("node-04_*.prom", H100, 1, datetime(2026, 1, 5, 12, 10), 91.0),
    ]
    # the stock exporter writes no serial: the GPU is known by its UUID, its host and model by their labels
    assert {(r["gpu_serial"], r["hostname"], r["model_name"]) for r in by_file} == {
        (None, "node-03", "NVIDIA H100 80GB HBM3"), (None, "node-03", "NVIDIA A100-SXM4-80GB")}


def test_a_days_raw_scrapes_of_one_exporter_roll_up_per_gpu_as_one_series_of_samples(tmp_path):
    """A collector that saves each scrape of /metrics to a file of its own: the day's figure of a GPU is over all
    its scrapes (minutes online from the scrapes' cadence), not one file's single sample."""
    lake = Lake(tmp_path / "home")
    utilisations = [(87, 12), (91, 10), (95, 14), (80, 20), (85, 18), (90, 16)]
    for minute, util in zip(range(0, 60, 10), utilisations):
        drop(lake, f"node-03-20260105T12{minute:02d}00Z.prom", stock_scrape(util=util))
    take_in_inbox(lake)
    summaries = ingest_telemetry_day(DAY, lake)
    assert [(s.rows_in, s.rows_accepted) for s in summaries] == [(8, 8)] * 6
    rows = pl.from_arrow(lake.read_table("gpu_telemetry_daily", DAY)).sort("gpu_uuid").to_dicts()
    assert [(r["source_file"], r["gpu_uuid"], r["samples"], r["scrape_interval_s"], r["minutes_online"],
             r["util_mean"], r["util_p95"], r["first_seen"], r["last_seen"]) for r in rows] == [
        ("node-03-*.prom", A100, 6, 600, 60.0, 15.0, 19.5, datetime(2026, 1, 5, 12), datetime(2026, 1, 5, 12, 50)),
        ("node-03-*.prom", H100, 6, 600, 60.0, 88.0, 94.0, datetime(2026, 1, 5, 12), datetime(2026, 1, 5, 12, 50)),
    ]
    # the series' lineage: the sha256 of its files' sha256s, each file still listed as an input
    inputs = lake.read_table("input_files", DAY).to_pylist()
    digest = hashlib.sha256("\n".join(sorted(row["sha256"] for row in inputs)).encode()).hexdigest()
    assert {row["source_sha256"] for row in rows} == {digest} and len(inputs) == 6


def test_the_lower_case_hostname_label_of_newer_exporters_is_the_host(tmp_path):
    lake = Lake(tmp_path / "home")
    drop(lake, "scrape-20260105T000500Z.prom", stock_scrape(host_label="hostname"))
    take_in_inbox(lake)
    ingest_telemetry_day(DAY, lake)
    assert {row["hostname"] for row in rollup(lake).values()} == {"node-03"}


def test_a_raw_scrape_with_no_time_in_its_name_is_refused_saying_how_to_give_it(tmp_path):
    lake = Lake(tmp_path / "home")
    drop(lake, "metrics", stock_scrape())
    (result,) = take_in_inbox(lake)
    assert result.status == "rejected" and result.recognition.problem == "no_scrape_time"
    assert "--scraped-at" in result.recognition.detail and "20260105T120000Z" in result.recognition.detail


def test_backed_ingest_scraped_at_gives_a_raw_scrape_its_time_and_its_lineage_says_so(tmp_path):
    home = tmp_path / "home"
    scrape = tmp_path / "metrics.prom"
    scrape.write_text(stock_scrape())
    runner = CliRunner()
    refused = runner.invoke(main, ["--home", str(home), "ingest", str(scrape)])
    assert refused.exit_code == 1 and "no_scrape_time" in refused.output
    bad = runner.invoke(main, ["--home", str(home), "ingest", "--scraped-at", "2026-01-05T13:00:00+01:00",
                               str(scrape)])
    assert bad.exit_code == 2 and "not in UTC" in bad.output
    taken = runner.invoke(main, ["--home", str(home), "ingest", "--scraped-at", "2026-01-05T12:00:00Z", str(scrape)])
    assert taken.exit_code == 0, taken.output
    assert "metrics.20260105T120000Z.prom: telemetry (dcgm_prometheus), partition 2026-01-05, 8 rows accepted" \
        in taken.output
    lake = Lake(home)
    assert {(row["source_file"], row["first_seen"]) for row in rollup(lake).values()} == {
        ("metrics.*.prom", datetime(2026, 1, 5, 12))}


def test_mig_instances_of_one_gpu_roll_up_to_it_and_are_not_duplicates(tmp_path):
    lake = Lake(tmp_path / "home")
    drop(lake, "node-03-20260105T120000Z.prom", mig_scrape())
    take_in_inbox(lake)
    (summary,) = ingest_telemetry_day(DAY, lake)
    assert (summary.rows_in, summary.rows_accepted, summary.rows_quarantined) == (6, 6, 0)
    (gpu,) = rollup(lake).values()
    assert (gpu["gpu_uuid"], gpu["samples"], gpu["util_mean"], gpu["temp_max"], gpu["power_mean"]) == (
        H100, 1, 40.0, 64.0, 401.5)


def test_a_mig_instance_repeated_at_one_time_is_still_a_duplicate(tmp_path):
    lake = Lake(tmp_path / "home")
    text = mig_scrape()
    repeated = next(line for line in text.splitlines() if 'GPU_I_ID="2"' in line)
    drop(lake, "node-03-20260105T120000Z.prom", text + repeated + "\n")
    take_in_inbox(lake)
    (summary,) = ingest_telemetry_day(DAY, lake)
    assert (summary.rows_in, summary.rows_quarantined, summary.reasons) == (7, 1, {"duplicate_sample": 1})
    (gpu,) = rollup(lake).values()
    assert gpu["util_mean"] == 40.0


T0 = 1767571200  # 2026-01-05T00:00:00Z, in seconds as the Prometheus HTTP API gives times
SERIES = (("DCGM_FI_DEV_GPU_UTIL", H100, (87, 85, 90)), ("DCGM_FI_DEV_GPU_TEMP", H100, (61, 62, 63)),
          ("DCGM_FI_DEV_GPU_UTIL", A100, (12, 10, 11)), ("DCGM_FI_DEV_GPU_TEMP", A100, (48, 48, 49)))


def federated() -> str:
    """Prometheus /federate output for the same samples: `untyped` families, the scrape target's `instance` and
    `job` beside the exporter's labels, millisecond timestamps."""
    lines = []
    for name in ("DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_GPU_UTIL"):
        lines.append(f"# TYPE {name} untyped")
        for metric, uuid, values in SERIES:
            if metric == name:
                lines += [f'{name}{{DCGM_FI_DRIVER_VERSION="550.54.15",Hostname="node-03",UUID="{uuid}",'
                          f'device="nvidia0",gpu="0",instance="10.0.0.3:9400",job="dcgm"}} {value} '
                          f"{(T0 + 60 * i) * 1000}" for i, value in enumerate(values)]
    return "\n".join(lines) + "\n"


def query_range_answer(indent: int | None = None) -> str:
    """The HTTP API's answer to query_range over the same minutes (a matrix): times in seconds, values as strings."""
    import json
    result = [{"metric": {"__name__": metric, "Hostname": "node-03", "UUID": uuid, "gpu": "0", "instance":
                          "10.0.0.3:9400", "job": "dcgm"},
               "values": [[T0 + 60 * i, str(value)] for i, value in enumerate(values)]}
              for metric, uuid, values in SERIES]
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}}, indent=indent)


def test_federate_output_and_a_query_range_answer_roll_up_to_the_same_day(tmp_path):
    lakes = {}
    for shape, name, text in (("federate", "federate.prom", federated()),
                              ("query_range", "history.json", query_range_answer()),
                              ("query_range, pretty", "history-pretty.json", query_range_answer(indent=2))):
        lake = Lake(tmp_path / shape.replace(", ", "-"))
        drop(lake, name, text)
        (result,) = take_in_inbox(lake)
        assert (result.status, result.partition) == ("routed", DAY), (shape, result.recognition)
        (summary,) = ingest_telemetry_day(DAY, lake)
        assert (summary.rows_in, summary.rows_accepted, summary.rows_quarantined) == (12, 12, 0), shape
        lakes[shape] = {uuid: {k: v for k, v in row.items() if k not in ("source_file", "source_sha256")}
                        for uuid, row in rollup(lake).items()}
    assert result.recognition.format == "prometheus_api_json"
    assert lakes["federate"] == lakes["query_range"] == lakes["query_range, pretty"]
    assert (lakes["federate"][H100]["samples"], lakes["federate"][H100]["util_mean"],
            lakes["federate"][H100]["scrape_interval_s"]) == (3, 87.33333333333333, 60)


def test_a_query_answer_of_a_vector_and_an_error_answer(tmp_path):
    import json
    lake = Lake(tmp_path / "home")
    vector = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "DCGM_FI_DEV_GPU_UTIL", "UUID": H100, "hostname": "node-03"},
         "value": [T0 + 43_200.5, "77"]}]}}
    drop(lake, "now.json", json.dumps(vector))
    drop(lake, "failed.json", json.dumps({"status": "error", "errorType": "timeout",
                                          "error": "query timed out in expression evaluation"}))
    results = {r.file_name: r for r in take_in_inbox(lake)}
    assert results["now.json"].status == "routed"
    failed = results["failed.json"].recognition
    assert (failed.problem, failed.detail) == ("not_a_query_answer",
                                               "the answer's status is 'error' (timeout: query timed out in "
                                               "expression evaluation)")
    ingest_telemetry_day(DAY, lake)
    (gpu,) = rollup(lake).values()
    assert (gpu["util_mean"], gpu["hostname"], gpu["first_seen"]) == (77.0, "node-03",
                                                                      datetime(2026, 1, 5, 12, 0, 0, 500_000))


def nvidia_smi_inventory(h100_serial: str = "1652922001234") -> str:
    """`nvidia-smi --query-gpu=index,name,serial,uuid,pci.bus_id,memory.total --format=csv` on node-03, with a
    consumer board that reports no serial and a row listed twice."""
    return ("index, name, serial, uuid, pci.bus_id, memory.total [MiB]\n"
            f"0, NVIDIA H100 80GB HBM3, {h100_serial}, {H100}, 00000000:18:00.0, 81559 MiB\n"
            f"1, NVIDIA A100-SXM4-80GB, 1321020014567, {A100}, 00000000:2A:00.0, 81920 MiB\n"
            "2, NVIDIA GeForce RTX 4090, [N/A], GPU-11111111-2222-4333-8444-555555555555, 00000000:3B:00.0, 24564 MiB\n"
            f"1, NVIDIA A100-SXM4-80GB, 1321020014567, {A100}, 00000000:2A:00.0, 81920 MiB\n")


def test_a_gpu_inventory_maps_the_exporters_uuids_to_the_serials_collateral_schedules_name(tmp_path):
    from assets.loan_tapes.tape import ingest_loan_tapes_day
    from assets.telemetry.scrapes import join_collateral_telemetry
    from sandbox.file_drops import LoanTapeRow, write_loan_tape
    from decimal import Decimal

    lake = Lake(tmp_path / "home")
    drop(lake, "gpu-inventory-node-03-2026-01-04.csv", nvidia_smi_inventory(h100_serial="9999999999999"))
    drop(lake, "gpu-inventory-node-03-20260105.csv", nvidia_smi_inventory())
    drop(lake, "gpu-inventory.csv", nvidia_smi_inventory(h100_serial="1652922000000"))
    drop(lake, "node-03-20260105T120000Z.prom", stock_scrape())
    write_loan_tape(lake.home.inbox / "acme.csv", [LoanTapeRow(
        as_of_date=DAY, lender_id="acme", loan_id="L-1", loan_terms_hash="0x" + "01" * 32, borrower_id="B-1",
        borrower_name="Foundry, Inc.", currency="USDC", original_principal=Decimal("500000"),
        principal_outstanding=Decimal("400000"), accrued_interest=Decimal("82.19178"),
        daily_interest=Decimal("82.19178"), interest_rate_bps=750, status="current", days_past_due=0,
        origination_date=date(2025, 12, 1), maturity_date=date(2026, 12, 1),
        collateral="1001=1652922001234|1321020014567|1652922009999")])
    results = {r.file_name: r for r in take_in_inbox(lake)}
    assert results["gpu-inventory.csv"].recognition.problem == "no_as_of_date"
    assert results["gpu-inventory-node-03-2026-01-04.csv"].partition == date(2026, 1, 4)
    ingest_telemetry_day(date(2026, 1, 4), lake)
    summaries = {s.file_name: s for s in ingest_telemetry_day(DAY, lake)}
    inventory = summaries["gpu-inventory-node-03-20260105.csv"]
    assert (inventory.format, inventory.rows_in, inventory.rows_accepted, inventory.reasons) == (
        "nvidia_smi_csv", 4, 2, {"missing_serial": 1, "duplicate_gpu": 1})
    ingest_loan_tapes_day(DAY, lake)
    assert join_collateral_telemetry(DAY, lake) == 1  # the third board sent nothing
    rows = {r["gpu_serial"]: r for r in pl.from_arrow(lake.read_table("collateral_gpu_daily", DAY)).to_dicts()}
    # the day's inventory (not the day before's, which listed the H100 under another serial) names the boards
    assert {serial: (r["gpu_uuid"], r["reporting"], r["util_mean"]) for serial, r in rows.items()} == {
        "1652922001234": (H100, True, 87.0), "1321020014567": (A100, True, 12.0),
        "1652922009999": (None, False, None)}
