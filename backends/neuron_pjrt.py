"""The environment jax-neuronx needs for a run over several processes (one per host).

JAX NeuronX Environment Variables (Neuron docs,
https://awsdocs-neuron.readthedocs-hosted.com/en/latest/frameworks/jax/api-reference-guide/neuron-envvars.html):

* ``NEURON_PJRT_PROCESSES_NUM_DEVICES``: "a comma-separated list stating the
  number of NeuronCores used by each worker process", from which the plugin
  builds the global device array; "Must be set for multi-process executions";
  each entry must not exceed the cores ``NEURON_RT_VISIBLE_CORES`` gives that
  process (and with that variable unset it should be all the host's cores).
* ``NEURON_PJRT_PROCESS_INDEX``: "the index (or rank) of the current worker
  process"; also required for multi-process executions.

So a layout of ``hosts`` processes, each driving ``devices_per_host`` logical
NeuronCores, exports the same list on every host and its own index, and
narrows the runtime to those cores (``NEURON_RT_VISIBLE_CORES`` = 0..n-1)
unless the user already named a set, which must then hold at least n cores.
A single process needs none of this. Pure: the launcher applies the result
before JAX loads.
"""

from __future__ import annotations

PROCESSES_NUM_DEVICES = "NEURON_PJRT_PROCESSES_NUM_DEVICES"
PROCESS_INDEX = "NEURON_PJRT_PROCESS_INDEX"
VISIBLE_CORES = "NEURON_RT_VISIBLE_CORES"


def visible_core_count(visible: str) -> int:
    """How many cores ``NEURON_RT_VISIBLE_CORES`` names ("3", "0-3", "0,2,4-5")."""
    count = 0
    for part in filter(None, (p.strip() for p in visible.split(","))):
        low, _, high = part.partition("-")
        count += int(high or low) - int(low) + 1
    return count


def multi_process_environment(devices_per_host: int, hosts: int, host_index: int,
                              environ: dict[str, str] | None = None) -> dict[str, str]:
    """The variables to export in process ``host_index`` of ``hosts`` (empty for one process)."""
    if devices_per_host < 1 or hosts < 1:
        raise ValueError(f"a layout needs at least one process and one device each, got {hosts} x {devices_per_host}")
    if not 0 <= host_index < hosts:
        raise ValueError(f"process index {host_index} is outside 0..{hosts - 1}")
    if hosts == 1:
        return {}
    out = {PROCESSES_NUM_DEVICES: ",".join([str(devices_per_host)] * hosts), PROCESS_INDEX: str(host_index)}
    visible = (environ or {}).get(VISIBLE_CORES, "").strip()
    if not visible:
        out[VISIBLE_CORES] = "0" if devices_per_host == 1 else f"0-{devices_per_host - 1}"
    elif visible_core_count(visible) < devices_per_host:
        raise ValueError(f"{VISIBLE_CORES}={visible} gives this process {visible_core_count(visible)} NeuronCore(s), "
                         f"fewer than the {devices_per_host} per host the layout asks for (--nproc)")
    return out
