"""How much of a physical chip one visible device is: pure functions of what
discovery read and of the catalog's cores-per-chip fact.

MFU peaks, memory checks and prices are per chip, but frameworks count
devices. The two differ on:

* Trainium: one framework device is one *logical* NeuronCore. A Trainium2 or
  Trainium3 chip has 8 physical NeuronCores; the Neuron runtime groups
  ``NEURON_LOGICAL_NC_CONFIG`` (LNC, 1 or 2, default 2 on Trn2/Trn3) of them
  into one logical core, so a chip shows 4 logical cores at LNC=2 and 8 at
  LNC=1 (Neuron docs, "Logical NeuronCore configuration":
  https://awsdocs-neuron.readthedocs-hosted.com/en/latest/general/arch/neuron-features/logical-neuroncore-config.html,
  "Every Trainium2 device contains eight physical NeuronCore-v3"). Trainium1
  supports LNC=1 only (compiler error NCC_EARG001), so one device is one of
  its 2 NeuronCores. ``neuron-ls --json-output`` reports, per chip,
  ``nc_count`` (the logical cores it shows: 4 at LNC=2 on trn2, as in the
  neuron-ls user guide's ``neuron-ls -j`` example, tools/neuron-sys-tools/neuron-ls.rst)
  and ``logical_neuroncore_config``.
* TPU: a JAX device is one TensorCore, except on megacore chips (v4, v5p),
  where the chip's two TensorCores are fused into one device. TPU7x
  (Ironwood) has 2 TensorCores and no megacore: a device is half a chip
  (jax/_src/pallas/mosaic/tpu_info.py, jax 0.10.2).
* GPUs: one device is one chip.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LNC_TRN2_ON = 2
"""NEURON_LOGICAL_NC_CONFIG default on Trn2 and Trn3 (logical-neuroncore-config page; NCC_EVRF066:
'neuronx-cc defaults to LNC=2 on Trn2 and later')."""
LNC_CHOICES = (1, 2)


@dataclass(frozen=True)
class ChipShare:
    share: float
    """The fraction of a physical chip that one visible device is."""
    reason: str
    source: str = "read"
    """read (a tool said), derived (catalog cores and the LNC setting), assumed (marked ``share-assumed``) or
    unknown (the share is a placeholder: no price per token and no MFU are given with it)."""


ONE_CHIP = ChipShare(1.0, "one visible device is one chip")


def neuron_share(nc_count: int | None, lnc_reported: int | None, lnc_env: str | None,
                 cores_per_chip: int | None) -> ChipShare:
    """The share of a Trainium chip one logical NeuronCore is.

    ``nc_count`` and ``lnc_reported``: neuron-ls's ``nc_count`` and
    ``logical_neuroncore_config`` for the chip (None when neuron-ls was not
    read); ``lnc_env``: ``NEURON_LOGICAL_NC_CONFIG`` as set for the run;
    ``cores_per_chip``: the catalog's physical NeuronCores per chip (None for
    an unknown chip). neuron-ls is preferred: it counts what the runtime shows."""
    if nc_count:
        lnc = f", logical_neuroncore_config={lnc_reported}" if lnc_reported else ""
        if cores_per_chip and lnc_reported and lnc_reported > 1 and nc_count == cores_per_chip:
            # the 2.21 layout: nc_count counted PHYSICAL cores beside LOGICAL NC (neuron-ls user guide, 2.21:
            # "NEURON CORES 8, LOGICAL NC 4" on trn2); the reported LNC is trusted
            logical = nc_count // lnc_reported
            return ChipShare(1.0 / logical, f"neuron-ls: nc_count={nc_count} physical NeuronCores{lnc} (the 2.21 "
                                            f"layout) = {logical} logical cores per chip; one device is one of them")
        reason = f"neuron-ls: nc_count={nc_count} NeuronCores per chip{lnc}; one device is one of them"
        if cores_per_chip and lnc_reported and cores_per_chip != nc_count * lnc_reported:
            reason += (f" (the catalog's {cores_per_chip} physical cores per chip ÷ LNC {lnc_reported} would give "
                       f"{cores_per_chip / lnc_reported:g}; neuron-ls kept)")
        return ChipShare(1.0 / nc_count, reason)
    if not cores_per_chip:
        return ChipShare(1.0, "unknown Neuron chip (no neuron-ls output, instance type unknown): the share of a chip "
                              "one device is cannot be told; no MFU and no price per token", "unknown")
    if cores_per_chip <= 2:  # Trainium1: LNC=1 only
        return ChipShare(1.0 / cores_per_chip, f"catalog: {cores_per_chip} physical NeuronCores per chip, LNC=1 "
                                               "(the only setting on Trainium1); one device is one NeuronCore",
                         "derived")
    lnc, where, source = _lnc(lnc_env)
    return ChipShare(lnc / cores_per_chip, f"catalog: {cores_per_chip} physical NeuronCores per chip ÷ LNC {lnc} "
                                           f"({where}) = {cores_per_chip // lnc} logical cores; one device is one of them",
                     source)


def _lnc(lnc_env: str | None) -> tuple[int, str, str]:
    """The LNC a Trn2/Trn3 run uses, where it came from, and the share's source (derived, or assumed for junk)."""
    text = (lnc_env or "").strip()
    if text.isdigit() and int(text) in LNC_CHOICES:
        return int(text), f"NEURON_LOGICAL_NC_CONFIG={text}", "derived"
    if text:
        return (DEFAULT_LNC_TRN2_ON, f"NEURON_LOGICAL_NC_CONFIG={text!r} is not 1 or 2; the default "
                                     f"{DEFAULT_LNC_TRN2_ON} assumed", "assumed")
    return DEFAULT_LNC_TRN2_ON, f"NEURON_LOGICAL_NC_CONFIG unset: the documented default {DEFAULT_LNC_TRN2_ON}", "derived"


def tpu_share(device_kind: str | None, cores_per_chip: int | None, megacore: bool,
              cores_per_device: int | None = None) -> ChipShare:
    """The share of a TPU chip one JAX/XLA device is, from the device kind's
    catalog entry (``cores_per_chip``, ``megacore``). ``cores_per_device``:
    the TensorCores JAX says the device has (``device.num_cores``), when known."""
    kind = device_kind or "unknown TPU"
    if not cores_per_chip:
        return ChipShare(1.0, f"{kind}: not in the device catalog; the share of a chip one device is cannot be told "
                              "(no MFU, no price per token)", "unknown")
    if cores_per_device and cores_per_device <= cores_per_chip:
        return ChipShare(cores_per_device / cores_per_chip,
                         f"{kind}: the device has {cores_per_device} of the chip's {cores_per_chip} TensorCores (JAX num_cores)")
    if cores_per_chip == 1:
        return ChipShare(1.0, f"{kind}: one TensorCore per chip; one device is one chip")
    if megacore:
        return ChipShare(1.0, f"{kind}: {cores_per_chip} TensorCores fused by megacore into one device per chip")
    return ChipShare(1.0 / cores_per_chip, f"{kind}: {cores_per_chip} TensorCores per chip, no megacore; "
                                           f"one device is one TensorCore")


def visible_device_bytes(chip_bytes: int | None, chip_share: float) -> int | None:
    """The memory of ONE visible device: its share of the chip's memory. A
    logical NeuronCore of a Trainium2 chip at LNC=2 gets a quarter of the
    chip's 96 GiB; comparing a one-core case against the whole chip would pass
    cases that cannot fit."""
    return int(chip_bytes * chip_share) if chip_bytes else None


def _spec(catalog_key: str | None, devices: dict | None):
    if catalog_key is None:
        return None
    if devices is None:
        from accelbench.facts.catalog import load_devices

        devices = load_devices()
    return devices.get(catalog_key)


def for_neuron(catalog_key: str | None, nc_count: int | None, lnc_reported: int | None, lnc_env: str | None,
               devices: dict | None = None) -> ChipShare:
    """``neuron_share`` with the catalog's physical cores for ``catalog_key`` (trn1, trn2, trn3)."""
    spec = _spec(catalog_key, devices)
    return neuron_share(nc_count, lnc_reported, lnc_env, spec.cores_per_chip if spec else None)


@dataclass(frozen=True)
class NeuronView:
    """What one visible Neuron device is, from the first chip neuron-ls lists."""
    catalog_key: str | None
    share: ChipShare
    memory_bytes: int | None
    """The device's share of the chip's memory (``visible_device_bytes``)."""
    kind: str
    """'AWS Neuron (<instance type>)', or 'AWS Neuron' when neuron-ls was not read."""


def for_neuron_device(device, lnc_env: str | None, devices: dict | None = None,
                      instance_type: str | None = None) -> NeuronView:
    """``for_neuron`` and the memory of one device for ``device``, the first
    ``discovery.NeuronDevice`` neuron-ls listed (None when it was not read).
    Without neuron-ls, the chip comes from the host's instance type (read from
    the EC2 metadata service, ``facts/host.py``) and the share from the
    catalog's cores per chip and the LNC setting, marked derived."""
    if device is None:
        from accelbench.backends import discovery

        instance_type = instance_type or discovery.host_instance_type()
        key = discovery.neuron_catalog_key(instance_type)
        share = for_neuron(key, None, None, lnc_env, devices)
        spec = _spec(key, devices)
        memory = int(spec.memory_gb * 1e9) if spec is not None else None  # GB or GiB as published: the smaller
        return NeuronView(key, share, visible_device_bytes(memory, share.share),
                          f"AWS Neuron ({instance_type})" if instance_type else "AWS Neuron")
    share = for_neuron(device.catalog_key, device.core_count, device.logical_core_config, lnc_env, devices)
    return NeuronView(device.catalog_key, share, visible_device_bytes(device.memory_bytes, share.share),
                      f"AWS Neuron ({device.instance_type or 'unknown instance'})")


def for_tpu(catalog_key: str | None, device_kind: str | None, cores_per_device: int | None = None,
            devices: dict | None = None) -> ChipShare:
    """``tpu_share`` with the catalog's TensorCores per chip and megacore for ``catalog_key``."""
    spec = _spec(catalog_key, devices)
    if spec is None:
        return tpu_share(device_kind, None, False, cores_per_device)
    return tpu_share(device_kind, spec.cores_per_chip, spec.megacore, cores_per_device)
