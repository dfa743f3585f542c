"""The machine's identity, read for real: instance type, region, zone,
instance and image ids from the EC2 or GCE metadata service, and the
accelerator chips one instance of that type has (``facts/instances.py``),
whatever a container on it can see.

Every fact carries its source (``Fact.source``): ``read`` (from the machine),
``looked-up`` (in the catalog, by a fact that was read), ``derived`` (computed
from looked-up facts and a documented default), ``assumed`` (a guess: every
number it touches is marked) or ``unknown`` (the number is withheld; ``how``
says why).

When the metadata services are asked
  * ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` / ``GCE_METADATA_HOST`` set: always
    (how tests and unusual hosts point them; the AWS SDKs and google-auth
    honour the same variables). ``AWS_EC2_METADATA_DISABLED=true`` turns EC2
    off (AWS CLI, "Environment variables to configure the AWS CLI").
  * Otherwise the link-local address only when local evidence says this is an
    EC2 or GCE instance, as cloud-init does before it asks
    (cloudinit/sources/DataSourceEc2.py ``identify_aws``: the system UUID from
    /sys/hypervisor/uuid or DMI starts with "ec2", either byte order;
    DataSourceGCE.py ``platform_reports_gce``: DMI product name "Google Compute
    Engine" or "Google", serial "GoogleCloud-..."). AWS's "Detect whether a
    host is an EC2 instance" (docs.aws.amazon.com/AWSEC2/latest/UserGuide/
    identify_ec2_instances.html) adds the Nitro ``board_asset_tag``, which is
    the instance id ("i-0af01c0123456789a"); Nitro's ``sys_vendor`` is
    "Amazon EC2".
  * No evidence, no socket: a laptop or CI runner opens no connection.
  * ``ACCELBENCH_NO_LINK_LOCAL_METADATA=true`` never asks the link-local
    address (an endpoint set explicitly still is): the test suite and .ci/run
    set it, so that tests on a real cloud instance reach only 127.0.0.1.

IMDSv2: PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds, then
GET /latest/meta-data/<path> with X-aws-ec2-metadata-token (AWS EC2 user
guide, "Use the Instance Metadata Service to access instance metadata"). GCE:
GET /computeMetadata/v1/instance/<path> with "Metadata-Flavor: Google", and
the answer must carry the same header (cloud.google.com/compute/docs/metadata).
Each service gets at most ``SERVICE_BUDGET_S`` in all; a hang or junk leaves
the fact unknown, with the reason. Results are cached per process.
"""

from __future__ import annotations

import functools
import os
import re
import time
import urllib.error
import urllib.request
import uuid as uuidlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

READ, LOOKED_UP, DERIVED, ASSUMED, UNKNOWN = "read", "looked-up", "derived", "assumed", "unknown"
EC2_LINK_LOCAL = "http://169.254.169.254"
GCE_LINK_LOCAL = "http://169.254.169.254"  # metadata.google.internal resolves here; no DNS lookup needed
SERVICE_BUDGET_S = 2.0
"""Wall time one metadata service may take, all its requests together."""
REQUEST_TIMEOUT_S = 1.0
MAX_ANSWER_BYTES = 1024
SYSFS_ROOT = "/sys"


@dataclass(frozen=True)
class Fact:
    value: Any
    source: str
    """read | looked-up | derived | assumed | unknown"""
    how: str


# ------------------------------------------------------------ local evidence
def _read(root: str, rel: str) -> str:
    try:
        return Path(root, rel).read_text(errors="replace").strip()
    except OSError:
        return ""


def _uuid_says_ec2(text: str) -> bool:
    text = text.lower()
    if text.startswith("ec2"):
        return True
    try:  # the other byte order (cloud-init identify_aws; AWS: "little-endian format")
        return uuidlib.UUID(text).bytes_le.hex().startswith("ec2")
    except ValueError:
        return False


def cloud_evidence(sysfs_root: str = SYSFS_ROOT) -> tuple[str | None, str]:
    """'aws', 'gcp' or None, from DMI and /sys/hypervisor, with what was seen."""
    dmi = "class/dmi/id"
    vendor, product = _read(sysfs_root, f"{dmi}/sys_vendor"), _read(sysfs_root, f"{dmi}/product_name")
    asset, serial = _read(sysfs_root, f"{dmi}/board_asset_tag"), _read(sysfs_root, f"{dmi}/product_serial")
    hv_uuid, dmi_uuid = _read(sysfs_root, "hypervisor/uuid"), _read(sysfs_root, f"{dmi}/product_uuid")
    if vendor == "Amazon EC2":
        return "aws", f"DMI sys_vendor {vendor!r}"
    if re.fullmatch(r"i-[0-9a-f]{8,17}", asset):
        return "aws", f"DMI board_asset_tag {asset!r} is an EC2 instance id"
    for where, text in (("/sys/hypervisor/uuid", hv_uuid), ("DMI product_uuid", dmi_uuid)):
        if text and _uuid_says_ec2(text):
            return "aws", f"{where} starts with ec2"
    if product in ("Google Compute Engine", "Google") or vendor == "Google" or serial.startswith("GoogleCloud-"):
        return "gcp", f"DMI product_name {product!r}, sys_vendor {vendor!r}"
    seen = ", ".join(f"{k} {v!r}" for k, v in (("sys_vendor", vendor), ("product_name", product)) if v) or "no DMI"
    return None, f"not a cloud instance by local evidence ({seen}; no EC2 uuid)"


# ------------------------------------------------------------------- HTTP
class _Budget:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def timeout(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0.05:
            raise TimeoutError("out of time")
        return min(REQUEST_TIMEOUT_S, left)


class _NoProxy(urllib.request.ProxyHandler):
    def __init__(self):
        super().__init__({})  # never through an HTTP proxy: the service is local to the instance


_OPENER = urllib.request.build_opener(_NoProxy)


def _http(method: str, url: str, headers: dict[str, str], budget: _Budget) -> tuple[str, Mapping[str, str]]:
    req = urllib.request.Request(url, method=method, headers=headers, data=b"" if method == "PUT" else None)
    with _OPENER.open(req, timeout=budget.timeout()) as resp:
        body = resp.read(MAX_ANSWER_BYTES + 1)
        if len(body) > MAX_ANSWER_BYTES:
            raise ValueError(f"answer longer than {MAX_ANSWER_BYTES} bytes")
        return body.decode("utf-8", errors="strict").strip(), resp.headers


def _why(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, (TimeoutError,)) or "timed out" in str(exc):
        return "no answer in time"
    if isinstance(exc, urllib.error.URLError):
        return f"cannot connect ({exc.reason})"
    if isinstance(exc, UnicodeDecodeError):
        return "answer is not text"
    return f"{type(exc).__name__}: {exc}"


_CHECKS: dict[str, Callable[[str], bool]] = {
    "instance-type": lambda v: bool(re.fullmatch(r"[a-z][a-z0-9-]*\.[a-z0-9-]+", v)),
    "machine-type": lambda v: bool(re.fullmatch(r"[a-z][a-z0-9-]{1,62}", v)),
    "region": lambda v: bool(re.fullmatch(r"[a-z]{2,}(-[a-z0-9]+)+", v)),
    "zone": lambda v: bool(re.fullmatch(r"[a-z]{2,}(-[a-z0-9]+)+", v)),
    "instance-id": lambda v: bool(re.fullmatch(r"i-[0-9a-f]{8,17}|[0-9]{5,24}", v)),
    "image-id": lambda v: bool(re.fullmatch(r"[A-Za-z0-9._/:-]{3,200}", v)),
    "accelerator-type": lambda v: bool(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", v)),
}


@dataclass
class Metadata:
    """What one metadata service said; ``asked`` is None when it was not asked."""
    cloud: str | None = None
    asked: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    reason: str = ""


def _fetch(paths: dict[str, str], get: Callable[[str], str], md: Metadata) -> None:
    for key, path in paths.items():
        try:
            value = get(path)
        except Exception as exc:  # a hang, a refusal, junk: this fact is unknown, with the reason
            md.problems[key] = _why(exc)
            if md.problems[key] == "no answer in time" or "out of time" in str(exc):
                break  # a hanging service gets no second chance inside the budget
            continue
        if key in ("zone", "machine-type"):  # GCE answers "projects/N/zones/us-east5-b": the last part names it
            value = value.rsplit("/", 1)[-1]
        if not _CHECKS[key](value):
            md.problems[key] = f"junk answer {value[:40]!r}"
            continue
        md.values[key] = value


def ask_ec2(endpoint: str, budget_s: float = SERVICE_BUDGET_S) -> Metadata:
    """IMDSv2 at ``endpoint``: a token, then instance type, region, zone, instance id and AMI id."""
    md, budget = Metadata("aws", endpoint.rstrip("/")), _Budget(budget_s)
    try:
        token, _ = _http("PUT", f"{md.asked}/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}, budget)
        if not re.fullmatch(r"[A-Za-z0-9+/=_-]{1,200}", token):
            raise ValueError(f"junk token {token[:20]!r}")
    except Exception as exc:
        md.reason = f"EC2 metadata at {md.asked}: token request failed ({_why(exc)})"
        return md
    headers = {"X-aws-ec2-metadata-token": token}
    _fetch({"instance-type": "instance-type", "region": "placement/region", "zone": "placement/availability-zone",
            "instance-id": "instance-id", "image-id": "ami-id"},
           lambda p: _http("GET", f"{md.asked}/latest/meta-data/{p}", headers, budget)[0], md)
    md.reason = f"EC2 instance metadata (IMDSv2) at {md.asked}"
    return md


def ask_gce(endpoint: str, budget_s: float = SERVICE_BUDGET_S) -> Metadata:
    """The GCE metadata server at ``endpoint``: machine type, zone, instance id, image, TPU accelerator type."""
    md, budget = Metadata("gcp", endpoint.rstrip("/")), _Budget(budget_s)

    def get(path: str) -> str:
        text, headers = _http("GET", f"{md.asked}/computeMetadata/v1/instance/{path}", {"Metadata-Flavor": "Google"},
                              budget)
        if headers.get("Metadata-Flavor") != "Google":  # the server identifies itself (metadata docs)
            raise ValueError("answer without 'Metadata-Flavor: Google'")
        return text

    _fetch({"machine-type": "machine-type", "zone": "zone", "instance-id": "id", "image-id": "image"}, get, md)
    if md.values:
        _fetch({"accelerator-type": "attributes/accelerator-type"}, get, md)  # TPU VMs only; absent elsewhere
        if md.problems.get("accelerator-type") == "HTTP 404":  # not a TPU VM: nothing is missing
            del md.problems["accelerator-type"]
    md.reason = f"GCE metadata server at {md.asked}"
    return md


NO_LINK_LOCAL = "ACCELBENCH_NO_LINK_LOCAL_METADATA"


def _truthy(text: str | None) -> bool:
    return (text or "").strip().lower() == "true"


def read_metadata(env: Mapping[str, str], sysfs_root: str = SYSFS_ROOT) -> Metadata:
    """Ask the services the environment and local evidence allow; a Metadata saying why when none was asked."""
    ec2_endpoint = (env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or "").strip()
    gce_host = (env.get("GCE_METADATA_HOST") or "").strip()
    ec2_off = _truthy(env.get("AWS_EC2_METADATA_DISABLED"))
    tried: list[Metadata] = []
    if ec2_endpoint and not ec2_off:
        tried.append(ask_ec2(ec2_endpoint))
    if gce_host and not any(m.values for m in tried):
        tried.append(ask_gce(gce_host if "://" in gce_host else f"http://{gce_host}"))
    if not tried and _truthy(env.get(NO_LINK_LOCAL)):
        return Metadata(reason=f"no metadata service asked: {NO_LINK_LOCAL}=true and no endpoint set")
    if not tried:
        cloud, evidence = cloud_evidence(sysfs_root)
        if cloud == "aws" and not ec2_off:
            tried.append(ask_ec2(EC2_LINK_LOCAL))
        elif cloud == "gcp":
            tried.append(ask_gce(GCE_LINK_LOCAL))
        else:
            why = "AWS_EC2_METADATA_DISABLED=true" if ec2_off and cloud == "aws" else evidence
            return Metadata(reason=f"no metadata service asked: {why}")
    best = max(tried, key=lambda m: len(m.values))
    return best


@functools.lru_cache(maxsize=1)
def _cached_metadata(env_key: tuple[tuple[str, str], ...], sysfs_root: str) -> Metadata:
    return read_metadata(dict(env_key), sysfs_root)


ENV_KEYS = ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_DISABLED", "GCE_METADATA_HOST", NO_LINK_LOCAL)


def metadata(env: Mapping[str, str] | None = None, sysfs_root: str = SYSFS_ROOT) -> Metadata:
    """``read_metadata`` once per process (per endpoint settings)."""
    env = os.environ if env is None else env
    return _cached_metadata(tuple((k, env[k]) for k in ENV_KEYS if k in env), sysfs_root)


def clear_cache() -> None:
    _cached_metadata.cache_clear()


# ------------------------------------------------------------- the identity
@dataclass(frozen=True)
class VisibleDevices:
    """Accelerator chips this process can see (a container may see part of the instance)."""
    chips: int
    """Physical chips seen: Neuron devices, GPUs, TPU PCI chips; 0 when none."""
    catalog_key: str | None
    source: str
    """The tool that counted them: neuron-ls, nvidia-smi, sysfs pci, or what was looked for."""


def region_fact(md: Metadata, env: Mapping[str, str]) -> Fact:
    """The run's cloud region: the metadata service's, else the one the user's tools are set to."""
    if md.values.get("region"):
        return Fact(md.values["region"], READ, md.reason)
    zone = md.values.get("zone")
    if md.cloud == "gcp" and zone:  # GCE zones are REGION-LETTER (cloud-init DataSourceGCE.region)
        return Fact(zone.rsplit("-", 1)[0], READ, f"{md.reason} (zone {zone})")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if env.get(name, "").strip():
            return Fact(env[name].strip(), READ, f"{name} (the region the user's AWS tools are set to)")
    info = env.get("SKYPILOT_CLUSTER_INFO", "")
    if info:  # SkyPilot exports the cluster's cloud, region and zone as JSON
        import json

        try:
            region = json.loads(info).get("region")
        except (ValueError, AttributeError):
            region = None
        if isinstance(region, str) and region.strip():
            return Fact(region.strip(), READ, "SKYPILOT_CLUSTER_INFO")
    return Fact(None, UNKNOWN, f"{md.reason or 'no metadata'}; no AWS_REGION, AWS_DEFAULT_REGION or "
                               "SKYPILOT_CLUSTER_INFO")


def instance_type_fact(md: Metadata, dmi_product: str | None = None) -> Fact:
    if md.values.get("instance-type"):
        return Fact(md.values["instance-type"], READ, md.reason)
    if md.values.get("machine-type"):
        return Fact(md.values["machine-type"], READ, md.reason)
    if dmi_product and re.fullmatch(r"[a-z][a-z0-9-]*\.[a-z0-9]+", dmi_product):
        return Fact(dmi_product, READ, "DMI product_name (EC2 Nitro reports the instance type there)")
    problems = "; ".join(f"{k}: {v}" for k, v in md.problems.items())
    return Fact(None, UNKNOWN, (md.reason or "no metadata service asked") + (f" ({problems})" if problems else ""))


TPU_CHIPS_PER_HOST_NOTE = ("a TPU VM's chips are the Google PCI devices it sees (one TPU VM host of the slice; "
                           "accelerator-type names the whole slice)")


def chips_per_instance_fact(instance_type: Fact, visible: VisibleDevices) -> Fact:
    """Chips of ONE instance: looked up by the instance type when it is known, whatever the container sees;
    else the visible chips, assumed to be the whole instance; else unknown."""
    from accelbench.facts import instances

    known = instances.lookup(instance_type.value) if instance_type.value else None
    if known is not None:
        return Fact(known.chips, LOOKED_UP, f"instance type {known.name} ({instance_type.source}: "
                                            f"{instance_type.how}) has {known.chips} x {known.accelerator}; "
                                            f"source: {known.source}")
    if visible.chips:
        what = f"instance type {instance_type.value} is not in the catalog" if instance_type.value else \
            "instance type unknown"
        return Fact(visible.chips, ASSUMED, f"{what}: the {visible.chips} chips {visible.source} sees are assumed to "
                                            "be the whole instance (a container may see fewer)")
    return Fact(None, UNKNOWN, f"instance type unknown ({instance_type.how}) and no accelerator visible "
                               f"({visible.source})")


def identity(md: Metadata, env: Mapping[str, str], visible: VisibleDevices, dmi_product: str | None = None,
             neuron: dict[str, Any] | None = None) -> dict[str, Any]:
    """``host`` of ``accelbench env --json`` and of every record (``backend.info.host``): pure, from what was read."""
    itype = instance_type_fact(md, dmi_product)
    region = region_fact(md, env)
    chips = chips_per_instance_fact(itype, visible)
    host = {
        "cloud": md.cloud,
        "instance_type": itype.value, "instance_type_source": itype.source, "instance_type_reason": itype.how,
        "region": region.value, "region_source": region.source, "region_reason": region.how,
        "zone": md.values.get("zone"), "instance_id": md.values.get("instance-id"),
        "image_id": md.values.get("image-id"), "tpu_accelerator_type": md.values.get("accelerator-type"),
        "chips_per_instance": chips.value, "chips_per_instance_source": chips.source,
        "chips_per_instance_reason": chips.how,
        "visible_devices": asdict(visible),
        "metadata": {"asked": md.asked, "reason": md.reason, "problems": dict(md.problems)},
        # the shape records had before (harness/cost.py of older versions read it)
        "chips": {"count": visible.chips or None, "source": visible.source, "instance_type": itype.value,
                  "catalog_key": visible.catalog_key},
    }
    if neuron is not None:
        host["neuron"] = neuron
    return host
