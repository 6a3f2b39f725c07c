"""One epoch as a trial reports it (`tune.report`), torch-free: what the driver's callback stores
and shows, what the best checkpoint keeps beside its weights, and what a resumed trial that
had ended reports again from the store."""

from __future__ import annotations

from typing import TypedDict


class Where(TypedDict):
    """Where an epoch ran (harness.engine.device.Placement.report), as each report says it."""

    device: str  # "cuda:0 NVIDIA H200", "cpu ...", "fake GPU 1 (trained on cpu ...)"
    gpu_ids: list[str]  # Ray's GPU ids, as strings
    precision: str  # fp32 | bf16 | fp16, training and validation alike


class EpochReport(TypedDict, total=False):
    """A trial's report holds every key but gpu_s off a GPU, test_json before its last epoch
    and the extras outside image tasks. Not total: the store records what a result holds, and
    an epoch read back from it holds only the epoch and its metrics. Ray's result adds its own
    keys (node_ip, training_iteration, ...) beside these."""

    epoch: int  # 1-based
    device: str  # where it ran: Where's keys
    gpu_ids: list[str]
    precision: str
    data_on: str  # gpu: the splits live on the GPU; host: batches stream from host memory
    node: str  # the Ray node: its IP and the start of its node id
    params: int  # the model's parameter count
    notes: str  # what the trial changed of its network (harness.engine.weights): "" when nothing
    # the epoch's metrics (harness.engine.fit.EpochResult.metrics)
    train_loss: float
    train_acc: float  # a proportion 0..1
    val_loss: float
    val_acc: float
    epoch_time_s: float  # training only, synchronised
    eval_time_s: float  # validation
    cpu_s: float  # the process's CPU seconds over training and validation
    samples_per_s: float  # training images per second
    # the image objective's extras (harness.engine.train)
    train_psnr: float  # dB
    val_psnr: float
    train_keras_acc: float  # round(prediction) == raw target, as the Keras report printed it
    val_keras_acc: float
    diverged: bool  # a non-finite loss: this is the trial's last epoch
    best_epoch: int  # the epoch of the best weights so far (0: none yet)
    gpu_s: float  # GPU-seconds over the span cpu_s covers; absent on the CPU
    test_json: str  # the best weights on the test split (`evaluate`'s scores and the epoch), as JSON
