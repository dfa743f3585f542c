"""The machine's identity, read for real (facts/host.py): a real HTTP metadata
server on 127.0.0.1 (IMDSv2: token, then GETs), a fake ``neuron-ls`` on PATH
printing the Neuron docs' JSON for one device, and what ``accelbench env
--json`` and a priced run make of them. No test reaches 169.254.169.254: each
points the endpoint at 127.0.0.1, disables it, or checks that none is opened."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import stat
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from accelbench.backends import chip_share, discovery, host_identity
from accelbench.facts import host, instances
from accelbench.harness import cost
from accelbench.facts.catalog import load_prices

from conftest import run_cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "neuron"
TOKEN = "AQAEAFakeTokenForTests=="
EC2_ANSWERS = {"instance-type": "trn2.48xlarge", "placement/region": "us-east-2",
               "placement/availability-zone": "us-east-2b", "instance-id": "i-0123456789abcdef0",
               "ami-id": "ami-0123456789abcdef0"}
CLEAN = ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_DISABLED", "GCE_METADATA_HOST", "AWS_REGION",
         "ACCELBENCH_NO_LINK_LOCAL_METADATA",
         "AWS_DEFAULT_REGION", "SKYPILOT_CLUSTER_INFO", "NEURON_LOGICAL_NC_CONFIG")


class _Imds(BaseHTTPRequestHandler):
    mode = "ok"

    def log_message(self, *args):  # quiet
        pass

    def _answer(self, code: int, body: str) -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        if self.mode == "hang":
            time.sleep(8)
            return
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self._answer(200, TOKEN if self.mode in ("ok", "junk") else "<html>not a token, a captive portal</html>")
        return self._answer(400, "")

    def do_GET(self):
        if self.mode == "junk":
            return self._answer(200, "<html><body>hello</body></html>")
        if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            return self._answer(401, "")  # IMDSv2 only, as an instance with HttpTokens=required answers
        key = self.path.removeprefix("/latest/meta-data/")
        return self._answer(200, EC2_ANSWERS[key]) if key in EC2_ANSWERS else self._answer(404, "")


@pytest.fixture
def imds():
    """A metadata server on 127.0.0.1; yields (url, set_mode)."""
    handler = type("Handler", (_Imds,), {"mode": "ok"})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host.clear_cache()
    yield f"http://127.0.0.1:{server.server_address[1]}", lambda mode: setattr(handler, "mode", mode)
    server.shutdown()
    server.server_close()
    host.clear_cache()


@pytest.fixture
def fake_neuron_ls(tmp_path):
    """A bin/ folder with a neuron-ls printing device 0 of the Neuron docs' `neuron-ls -j` example (a
    trn2 device at LNC=2, nc_count 4): what a container that sees one device of a trn2.48xlarge prints."""
    docs = json.loads((FIXTURES / "neuron-ls-trn2n.48xlarge-lnc2.json").read_text())
    out = tmp_path / "one-device.json"
    out.write_text(json.dumps(docs[:1]))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "neuron-ls"
    tool.write_text(f"#!/bin/sh\n{shutil.which('cat')} '{out}'\n")  # absolute: some tests empty PATH
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def _env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    return env | extra


def _env_json(env) -> dict:
    done = run_cli("env", "--json", env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["host"]


# ------------------------------------------------------------ the three situations
def test_env_json_on_a_trn2_container_with_metadata_and_neuron_ls(imds, fake_neuron_ls):
    url, _ = imds
    env = _env(AWS_EC2_METADATA_SERVICE_ENDPOINT=url, PATH=f"{fake_neuron_ls}{os.pathsep}{os.environ['PATH']}")
    got = _env_json(env)
    assert (got["instance_type"], got["instance_type_source"]) == ("trn2.48xlarge", "read")
    assert (got["region"], got["zone"], got["instance_id"], got["image_id"]) == (
        "us-east-2", "us-east-2b", "i-0123456789abcdef0", "ami-0123456789abcdef0")
    assert (got["chips_per_instance"], got["chips_per_instance_source"]) == (16, "looked-up")
    assert got["visible_devices"]["chips"] == 1 and got["visible_devices"]["catalog_key"] == "trn2"
    neuron = got["neuron"]
    assert (neuron["lnc"], neuron["lnc_source"]) == (2, "read")
    assert (neuron["chip_share"], neuron["chip_share_source"]) == (0.25, "read")


def test_without_neuron_ls_the_share_is_a_quarter_from_the_catalog_marked_derived(imds, monkeypatch, tmp_path):
    url, _ = imds
    monkeypatch.setenv("PATH", str(tmp_path))  # no neuron-ls, no nvidia-smi; /opt/aws/neuron/bin is absent here
    monkeypatch.setattr(discovery, "NEURON_BIN", str(tmp_path / "no-such-dir"))
    got = host_identity.host_identity(_env(AWS_EC2_METADATA_SERVICE_ENDPOINT=url))
    assert (got["instance_type"], got["chips_per_instance"], got["chips_per_instance_source"]) == (
        "trn2.48xlarge", 16, "looked-up")
    assert got["visible_devices"]["chips"] == 0
    neuron = got["neuron"]
    assert (neuron["chip_share"], neuron["chip_share_source"]) == (0.25, "derived")
    assert (neuron["lnc"], neuron["lnc_source"]) == (2, "derived") and "default" in neuron["lnc_reason"]
    # the backends' view of a device (torch-neuron, torch-xla, jax-neuron) says the same
    view = chip_share.for_neuron_device(None, None, instance_type="trn2.48xlarge")
    assert (view.catalog_key, view.share.share, view.share.source) == ("trn2", 0.25, "derived")


def test_neuron_ls_is_found_in_the_manual_setup_folder_without_path(fake_neuron_ls, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(discovery, "NEURON_BIN", str(fake_neuron_ls))  # stands in for /opt/aws/neuron/bin
    assert discovery.neuron_ls_path() == str(fake_neuron_ls / "neuron-ls")
    devices = discovery.neuron_devices()
    assert len(devices) == 1 and (devices[0].core_count, devices[0].logical_core_config) == (4, 2)


def test_with_neither_chips_per_instance_are_null_and_the_price_is_withheld(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(discovery, "NEURON_BIN", str(tmp_path / "no-such-dir"))
    host.clear_cache()
    got = host_identity.host_identity(_env(AWS_EC2_METADATA_DISABLED="true"))
    assert got["chips_per_instance"] is None and got["chips_per_instance_source"] == "unknown"
    assert "instance type unknown" in got["chips_per_instance_reason"]
    view = chip_share.for_neuron_device(None, None, instance_type=None)
    assert view.share.source == "unknown" and view.catalog_key is None  # never "1 chip" silently
    facts = cost.RunFacts(view.share.share, None, "AWS Neuron", dt.date(2026, 12, 3), got,
                          share_source=view.share.source)
    part = cost.price_run(cost.PriceChoice(usd_per_hour=64.0), 8192, 0.1, None, facts, load_prices())
    assert part.usd_per_mtok is None and part.usd_per_hour is None and "unknown" in part.withheld
    # a known trn2 device (share derived) with chips per instance unknown: withheld too
    facts = cost.RunFacts(0.25, "trn2", "AWS Neuron", dt.date(2026, 12, 3), got, share_source="derived")
    part = cost.price_run(cost.PriceChoice(usd_per_hour=64.0), 8192, 0.1, None, facts, load_prices())
    assert part.usd_per_mtok is None and "chips per instance unknown" in part.withheld
    assert "--chips-per-instance" in part.notes[0]


def test_visible_devices_taken_for_the_instance_are_marked_chips_assumed():
    md = host.Metadata(reason="no metadata service asked")
    got = host.identity(md, {}, host.VisibleDevices(1, "trn2", "neuron-ls"))
    assert (got["chips_per_instance"], got["chips_per_instance_source"]) == (1, "assumed")
    facts = cost.RunFacts(0.25, "trn2", "AWS Neuron", dt.date(2026, 12, 3), got, share_source="read")
    part = cost.price_run(cost.PriceChoice(usd_per_hour=64.0), 8192, 0.1, None, facts, load_prices())
    assert part.marks == ["chips-assumed"] and part.usd_per_hour == pytest.approx(64 * 0.25)
    junk_lnc = chip_share.for_neuron("trn2", None, None, "three")
    assert junk_lnc.source == "assumed"
    facts = cost.RunFacts(0.25, "trn2", "AWS Neuron", dt.date(2026, 12, 3), {}, share_source=junk_lnc.source,
                          precision_assumed=True)
    marks = cost.price_run(cost.PriceChoice(usd_per_hour=64.0, chips_per_instance=16), 8192, 0.1, None, facts,
                           load_prices()).marks
    assert marks == ["share-assumed", "precision-assumed"]


def test_an_unknown_share_withholds_mfu_and_the_basis_says_where_each_fact_came_from():
    from accelbench.harness import metrics
    from accelbench.harness.records import BackendPart, KernelPart, MetricsPart

    kernel = KernelPart(name="gpt2", preset="124m", config={}, flop_convention="6N+12LdT")
    for source, has_mfu in (("derived", True), ("unknown", False)):
        backend = BackendPart(name="torch-neuron", framework="torch", device_catalog_key="trn2", precision="bf16",
                              info={"device": {"chip_share": 0.25, "chip_share_source": source}})
        rated = metrics.with_catalog_utilization(MetricsPart(tflops=40.0), kernel, backend)
        assert (rated.mfu is not None) is has_mfu, source
        assert rated.mfu_basis["chip_share_source"] == source and rated.mfu_basis["peak_source"] == "looked-up"


@pytest.mark.slow
def test_a_priced_record_with_unknown_facts_gets_no_price_and_the_report_says_why(tmp_path):
    """A real torch-cpu run, then its record as a Neuron device whose share and chips per instance are
    unknown (no neuron-ls, no metadata): `accelbench report --usd-per-hour 64` withholds $/1M and says why."""
    out = tmp_path / "run"
    done = run_cli("run", "--kernel", "gpt2:tiny", "--backend", "torch-cpu", "--usd-per-hour", "8", "--out", out,
                   "--quiet", "--steps", "2", "--repeats", "3", "--warmup", "1", env=_env(AWS_EC2_METADATA_DISABLED="true"))
    assert done.returncode == 0, done.stderr
    path = out / "gpt2-tiny--torch-cpu.json"
    record = json.loads(path.read_text())
    assert record["cost"]["usd_per_mtok"] is not None  # the CPU host is the whole instance: priced
    assert record["backend"]["info"]["host"]["chips_per_instance_source"] == "unknown"
    record["backend"]["device_catalog_key"] = None
    record["backend"]["info"]["device"] |= {"chip_share": 1.0, "chip_share_source": "unknown"}
    path.write_text(json.dumps(record))
    md = tmp_path / "report.md"
    done = run_cli("report", out, "--usd-per-hour", "64", "--md", md)
    assert done.returncode == 0, done.stderr
    text = md.read_text()
    assert "price withheld: gpt2:tiny" in text or "price withheld:" in text, text[-2000:]
    assert "is unknown" in text


def test_the_closing_line_names_withheld_prices_and_the_new_marks():
    from accelbench.harness.progress import closing_marks

    line = closing_marks([{"cost": {"usd_per_hour": None, "withheld": "chips per instance unknown", "marks": []}},
                          {"cost": {"usd_per_hour": 16.0, "marks": ["chips-assumed"]}}])
    assert line == "; charged $16/h of a whole-instance price; 1 price withheld (cost.withheld); prices marked: " \
                   "chips-assumed (cost.marks)"


# ------------------------------------------------------------ the client
def test_imdsv2_token_then_gets(imds):
    url, _ = imds
    md = host.ask_ec2(url)
    assert md.values == {"instance-type": "trn2.48xlarge", "region": "us-east-2", "zone": "us-east-2b",
                         "instance-id": "i-0123456789abcdef0", "image-id": "ami-0123456789abcdef0"}
    assert md.problems == {}


def test_a_hanging_service_costs_at_most_a_few_seconds(imds):
    url, set_mode = imds
    set_mode("hang")
    start = time.monotonic()
    md = host.ask_ec2(url)
    took = time.monotonic() - start
    assert took < host.SERVICE_BUDGET_S + 0.5 and not md.values
    assert "no answer in time" in md.reason
    fact = host.instance_type_fact(md)
    assert fact.value is None and fact.source == "unknown" and "token request failed" in fact.how


@pytest.mark.parametrize("mode", ["junk", "junk-token"])
def test_a_junk_answering_service_leaves_facts_unknown_with_the_reason(imds, mode):
    url, set_mode = imds
    set_mode(mode)
    start = time.monotonic()
    md = host.ask_ec2(url)
    assert time.monotonic() - start < host.SERVICE_BUDGET_S + 0.5
    assert not md.values
    assert "junk" in md.reason or any("junk" in p or "HTTP" in p for p in md.problems.values())


def test_gce_metadata_server_answers_only_with_its_flavor_header():
    class Gce(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            answers = {"machine-type": "projects/1/machineTypes/ct6e-standard-8t", "zone": "projects/1/zones/us-east5-b",
                       "id": "1234567890123", "image": "projects/ml-images/global/images/tpu-ubuntu2204-base",
                       "attributes/accelerator-type": "v6e-8"}
            key = self.path.removeprefix("/computeMetadata/v1/instance/")
            body = answers.get(key, "").encode()
            ok = self.headers.get("Metadata-Flavor") == "Google" and key in answers
            self.send_response(200 if ok else 404)
            self.send_header("Metadata-Flavor", "Google")
            self.send_header("Content-Length", str(len(body) if ok else 0))
            self.end_headers()
            if ok:
                self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gce)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        md = host.read_metadata({"GCE_METADATA_HOST": f"127.0.0.1:{server.server_address[1]}"}, "/nonexistent")
    finally:
        server.shutdown()
        server.server_close()
    assert (md.cloud, md.values["machine-type"], md.values["zone"], md.values["accelerator-type"]) == (
        "gcp", "ct6e-standard-8t", "us-east5-b", "v6e-8")
    assert host.region_fact(md, {}).value == "us-east5"


# ------------------------------------------------------------ when to ask
def _sysfs(tmp_path, **files) -> str:
    for rel, text in files.items():
        path = tmp_path / rel.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return str(tmp_path)


@pytest.mark.parametrize("files, cloud", [
    ({"class__dmi__id__sys_vendor": "Amazon EC2"}, "aws"),
    ({"class__dmi__id__board_asset_tag": "i-0af01c0123456789a"}, "aws"),
    ({"hypervisor__uuid": "ec2e1916-9099-7caf-fd21-012345abcdef"}, "aws"),
    ({"class__dmi__id__product_uuid": "45E12AEC-DCD1-B213-94ED-012345ABCDEF"}, "aws"),  # the other byte order
    ({"class__dmi__id__product_name": "Google Compute Engine"}, "gcp"),
    ({"class__dmi__id__sys_vendor": "QEMU", "class__dmi__id__product_name": "Standard PC"}, None),
    ({}, None),
])
def test_local_evidence_as_cloud_init_reads_it(tmp_path, files, cloud):
    assert host.cloud_evidence(_sysfs(tmp_path, **files))[0] == cloud


def test_the_link_local_address_is_asked_only_on_evidence(tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(host, "ask_ec2", lambda url: asked.append(url) or host.Metadata("aws", url, reason="x"))
    ec2 = _sysfs(tmp_path, class__dmi__id__sys_vendor="Amazon EC2")
    host.read_metadata({}, ec2)
    host.read_metadata({"AWS_EC2_METADATA_DISABLED": "TRUE"}, ec2)
    host.read_metadata({}, str(tmp_path / "bare"))
    host.read_metadata({"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9"}, str(tmp_path / "bare"))
    host.read_metadata({host.NO_LINK_LOCAL: "true"}, ec2)  # what the test suite and .ci/run set
    host.read_metadata({host.NO_LINK_LOCAL: "true", "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:8"}, ec2)
    assert asked == [host.EC2_LINK_LOCAL, "http://127.0.0.1:9", "http://127.0.0.1:8"]


def test_a_default_run_here_opens_no_socket_to_the_link_local_address(monkeypatch):
    seen = []
    real_connect = socket.socket.connect

    def connect(self, address):
        seen.append(address)
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    for name in CLEAN:
        monkeypatch.delenv(name, raising=False)
    host.clear_cache()
    md = host.metadata()
    assert md.asked is None and not any("169.254" in str(a) for a in seen), (md.reason, seen)


@pytest.mark.slow
def test_the_cli_opens_no_socket_to_the_link_local_address(tmp_path):
    """`accelbench env --json` in a subprocess, every socket connect logged by a sitecustomize hook."""
    log = tmp_path / "connects.log"
    (tmp_path / "sitecustomize.py").write_text(
        "import socket\n"
        f"LOG = {str(log)!r}\n"
        "open(LOG, 'a').write('hook loaded\\n')\n"
        "_connect = socket.socket.connect\n"
        "def connect(self, address):\n"
        "    open(LOG, 'a').write(repr(address) + '\\n')\n"
        "    return _connect(self, address)\n"
        "socket.socket.connect = connect\n")
    env = _env(PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    got = _env_json(env)
    lines = log.read_text().splitlines()
    assert lines[0] == "hook loaded"  # so the check below could fail
    assert not any("169.254" in line for line in lines), lines
    assert got["metadata"]["asked"] is None and got["instance_type_source"] in ("unknown", "read")


# ------------------------------------------------------------ LNC, both neuron-ls layouts
def test_both_neuron_ls_layouts_give_a_quarter_chip_at_lnc2():
    current = chip_share.neuron_share(4, 2, None, 8)  # nc_count = logical cores (Neuron 2.22+ docs example)
    layout_221 = chip_share.neuron_share(8, 2, None, 8)  # 2.21: NEURON CORES 8 beside LOGICAL NC 4
    lnc1 = chip_share.neuron_share(8, 1, None, 8)
    assert (current.share, layout_221.share, lnc1.share) == (0.25, 0.25, 0.125)
    assert "2.21 layout" in layout_221.reason and layout_221.source == "read"


def test_the_instance_catalog_agrees_with_the_price_list():
    prices = load_prices()
    for name, entry in instances.load_instance_types().items():
        if name in prices:
            assert (prices[name].accelerator, prices[name].accelerators) == (entry.accelerator, entry.chips), name
    assert instances.lookup("trn2n.48xlarge").chips == 16 and instances.lookup("p5.48xlarge").chips == 8
    assert instances.lookup("m7i.large") is None


def test_a_bad_instance_catalog_entry_is_one_line_naming_file_entry_and_field(tmp_path):
    from accelbench.facts.catalog import CatalogError

    bad = tmp_path / "instances.toml"
    bad.write_text('[instance_types."x.large"]\naccelerator = "trn2"\nchips = "16"\nsource = "s"\n'
                   'as_of = 2026-12-03\nconfirmed = true\n')
    with pytest.raises(CatalogError, match=r"instances.toml: \[instance_types.\"x.large\"\]: field 'chips'"):
        instances.load_instance_types(bad)


def test_price_table_host_situations_match_the_hand_computation():
    import importlib.util

    spec = importlib.util.spec_from_file_location("price_table_host", Path(__file__).resolve().parents[2] / "ci" / "price_table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    rows = {r.label: r for r in module.host_rows(100_000)}
    achieved = 855_383_040 * 100_000 / 1e12  # gpt2:124m FLOP/token x tokens/s
    quarter = 64.0 * 0.25 / 16 / 360  # $/h x share / chips per instance / (tokens/s x 3600 / 1e6)
    hand = {"metadata + neuron-ls": (achieved / (667 * 0.25), quarter, (), "read", "looked-up"),
            "metadata, no neuron-ls": (achieved / (667 * 0.25), quarter, (), "derived", "looked-up"),
            "neuron-ls, no metadata": (None, 64.0 * 0.25 / 1 / 360, ("chips-assumed",), "read", "assumed"),
            "neither": (None, None, (), "unknown", "unknown")}
    assert set(rows) == set(hand)
    for label, (mfu, usd, marks, share_source, chips_source) in hand.items():
        row = rows[label]
        assert row.mfu == (pytest.approx(mfu) if mfu is not None else None), label
        assert row.usd_per_mtok == (pytest.approx(usd) if usd is not None else None), label
        assert row.hand_usd_per_mtok == (pytest.approx(usd) if usd is not None else None), label
        assert (row.marks, row.share.source, row.chips_source) == (marks, share_source, chips_source), label
    assert rows["neither"].withheld and rows["neither"].chips_per_instance is None


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
