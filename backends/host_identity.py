"""The machine's identity as a record and `accelbench env --json` hold it (``host``): what the metadata
services said (facts/host.py), what this process can see (backends/discovery.py) and, on Trainium, the
LNC and the share of a chip one device is (backends/chip_share.py), each with its source. Here, above
both, so that discovery (raw tool output) never imports the share it feeds."""

from __future__ import annotations

import os

from accelbench.backends import chip_share, discovery
from accelbench.facts import host


def neuron_host_facts(neuron: list[discovery.NeuronDevice], instance_type: str | None, lnc_env: str | None) -> dict | None:
    """``host.neuron``: the LNC and the chip share of one device, each with its source; None off Trainium."""
    key = neuron[0].catalog_key if neuron else discovery.neuron_catalog_key(instance_type)
    if not neuron and key is None:
        return None
    view = chip_share.for_neuron_device(neuron[0] if neuron else None, lnc_env, instance_type=instance_type)
    if neuron and neuron[0].logical_core_config:
        lnc, lnc_source, lnc_reason = neuron[0].logical_core_config, "read", "neuron-ls logical_neuroncore_config"
    elif key == "trn1":
        lnc, lnc_source, lnc_reason = 1, "looked-up", "Trainium1 supports LNC=1 only (Neuron compiler error NCC_EARG001)"
    else:
        lnc, lnc_reason, lnc_source = chip_share._lnc(lnc_env)
        lnc_source = "read" if (lnc_env or "").strip() == str(lnc) else lnc_source
    return {"lnc": lnc, "lnc_source": lnc_source, "lnc_reason": lnc_reason, "catalog_key": key,
            "chip_share": view.share.share, "chip_share_source": view.share.source,
            "chip_share_reason": view.share.reason}


def host_identity(env=None) -> dict:
    """``host`` of ``accelbench env --json`` and of every record: the machine's identity
    (facts/host.py: metadata services, with sources) and what this process can see."""
    env = os.environ if env is None else env
    md = host.metadata(env)
    dmi_product = discovery.ec2_instance_type()
    itype = host.instance_type_fact(md, dmi_product).value
    tool = discovery.neuron_ls_path()
    neuron = discovery.neuron_devices()
    visible = discovery.visible_devices(discovery.nvidia_gpus(), neuron, discovery.tpu_chips(), tool)
    facts = neuron_host_facts(neuron, itype, env.get("NEURON_LOGICAL_NC_CONFIG"))
    return host.identity(md, env, visible, dmi_product, facts)
