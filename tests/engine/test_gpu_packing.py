"""The packing policy (plan.trial_resources): the default GPU share from the cluster's GPUs, and
CPUs per trial from the GPU nodes so that every GPU holds its trials; requests the cluster can
never hold are refused (cluster.check_resources). Pure: no Ray."""

from __future__ import annotations

import pytest

from harness.config.spec import SweepSpec
from harness.errors import HarnessError
from harness.sweeps.cluster import check_resources
from harness.sweeps.plan import GPU_SHARE, gpu_slots, packed_cpus, trial_resources


def node(cpus: float, gpus: float) -> dict[str, float]:
    return {"CPU": float(cpus), "GPU": float(gpus)}


@pytest.mark.parametrize(
    ("gpus", "share", "slots"),
    [(1, 0.25, 4), (2, 0.25, 8), (2, 0.3, 6), (1, 0.5, 2), (1, 1.0, 1), (4, 2.0, 2), (1, 2.0, 0), (0, 0.25, 0)],
)
def test_gpu_slots_count_the_trials_ray_packs_onto_a_node(gpus, share, slots):
    assert gpu_slots(gpus=gpus, share=share) == slots


@pytest.mark.parametrize(
    ("nodes", "share", "cpus"),
    [
        ([node(16, 1)], 0.25, 4.0),  # 16 CPUs for 4 trials on one GPU
        ([node(8, 2)], 0.25, 1.0),
        ([node(6, 1)], 0.25, 1.0),  # 1.5 rounded down to whole CPUs: the GPU stays full
        ([node(4, 2)], 0.25, 0.5),  # the fake-GPU test cluster: 8 trials on 4 CPUs
        ([node(2, 2)], 0.25, 0.25),  # issue 15's node: 2 CPUs, 2 GPUs (1 CPU each left GPU 1 idle)
        ([node(3, 1)], 0.25, 0.75),
        ([node(4, 1)], 0.3, 1.0),  # 3 trials per GPU at 0.3
        ([node(2, 1)], 0.3, 0.66),  # 2/3 rounded down to 0.01
        ([node(8, 4)], 2.0, 4.0),  # whole GPUs: 2 trials of 2 GPUs each
        ([node(32, 0), node(16, 2), node(8, 1)], 0.25, 2.0),  # the smallest over the GPU nodes
        ([node(8, 0)], 0.25, None),  # no GPU node: the caller's default
        ([node(8, 1)], 2.0, None),  # no node holds a trial: check_resources refuses it
    ],
)
def test_packed_cpus_fill_every_gpu(nodes, share, cpus):
    got = packed_cpus(nodes, share=share)
    assert got == cpus
    for n in nodes:  # Ray can place a full GPU node's worth of trials at once
        slots = gpu_slots(gpus=n["GPU"], share=share)
        if got is not None and slots:
            assert slots * got <= n["CPU"] + 1e-9 and slots * share <= n["GPU"] + 1e-9


def test_the_default_share_comes_from_the_cluster_not_the_driver():
    spec = SweepSpec()
    # a CPU-only head (where the driver may run) with a GPU worker: the trials get GPUs
    assert trial_resources(spec, nodes=[node(2, 0), node(16, 1)]) == {"cpu": 4.0, "gpu": GPU_SHARE}
    assert trial_resources(spec, nodes=[node(4, 2)]) == {"cpu": 0.5, "gpu": 0.25}
    assert trial_resources(spec, nodes=[node(2, 0)]) == {"cpu": 1.0, "gpu": 0.0}
    assert trial_resources(spec, nodes=[]) == {"cpu": 1.0, "gpu": 0.0}


def test_given_values_win_over_the_packing():
    assert trial_resources(SweepSpec(cpus_per_trial=3), nodes=[node(4, 2)]) == {"cpu": 3, "gpu": 0.25}
    assert trial_resources(SweepSpec(gpus_per_trial=0.5), nodes=[node(4, 2)]) == {"cpu": 1.0, "gpu": 0.5}
    # CPU trials on a GPU cluster: one CPU each, as on any CPU-only machine
    assert trial_resources(SweepSpec(gpus_per_trial=0), nodes=[node(4, 2)]) == {"cpu": 1.0, "gpu": 0}
    # a GPU share on a GPU-less cluster keeps one CPU: check_resources refuses it below
    assert trial_resources(SweepSpec(gpus_per_trial=0.25), nodes=[node(2, 0)]) == {"cpu": 1.0, "gpu": 0.25}


@pytest.mark.parametrize("gpus", [0.25, 1.0])
def test_a_gpu_request_on_a_gpu_less_cluster_is_one_line(gpus):
    with pytest.raises(HarnessError) as caught:
        check_resources({"cpu": 1.0, "gpu": gpus}, [node(2, 0)], may_grow=False)
    assert "\n" not in str(caught.value)
    assert f"a trial asks for 1 CPU and {gpus:g} GPU, but this machine has 2 CPU and 0 GPU" in caught.value.message
    assert check_resources({"cpu": 0.5, "gpu": 0.25}, [node(4, 2)], may_grow=False) is None
