"""The trial's GPU path on a real CUDA GPU, without Ray: placement, precision, data placement, speed.

Run from a copy of the repository (the package need not be installed; only torch and numpy):

    PYTHONPATH=. python3 tests/gpu/check_gpu.py            # on a machine with a CUDA GPU, < 3 min on an H200
    PYTHONPATH=. python3 tests/gpu/check_gpu.py --smoke    # anywhere: tiny data, the fake-GPU seam, the CPU

It prints one JSON line per measurement: the device and precision the harness picks for GPU 0,
then epochs of vgg4_bn (uchile2020's "Red Pequena") on synthetic CIFAR-shaped uint8 data
(10,000 training images, batch 32 as the report trained) through harness.engine.fit, exactly as a
trial runs them: alone, four processes sharing the GPU at once (as four trials at
--gpus-per-trial 0.25), fp16 with the GradScaler, fp32, and the batches streamed from host
memory. Epoch 1 includes cuDNN's autotuning; epoch 2 is the steady state. Not a test (pytest
does not collect it): a check that needs a GPU, for the README's GPU figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

# Nothing here may need Ray: the GPU machines this runs on have none. Blocking the import makes
# an accidental one fail loudly here, too, where Ray is installed.
sys.modules["ray"] = None  # type: ignore[assignment]

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _import_architectures() -> None:
    """`harness.architectures` is the top-level architectures/ folder, mapped there by the
    installed package; from a plain copy of the repository, map it here."""
    try:
        import harness.architectures  # noqa: F401
    except ModuleNotFoundError:
        import harness

        spec = importlib.util.spec_from_file_location(
            "harness.architectures",
            ROOT / "architectures" / "__init__.py",
            submodule_search_locations=[str(ROOT / "architectures")],
        )
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["harness.architectures"] = module
        spec.loader.exec_module(module)
        harness.architectures = module  # type: ignore[attr-defined]


_import_architectures()

import torch  # noqa: E402

from harness.architectures import create_model  # noqa: E402
from harness.engine.device import FAKE_CUDA, choose_device, data_home, placement  # noqa: E402
from harness.engine.fit import fit  # noqa: E402
from harness.engine.optim import create_optimizer  # noqa: E402
from harness.engine.train import OBJECTIVES, Normalizer  # noqa: E402
from harness.kinds import Mode  # noqa: E402

CIFAR = (3, 32, 32)
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def _data(n: int, *, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n CIFAR-shaped uint8 images whose label is learnable (the brightest of 10 bands), so the
    accuracies say the training worked."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, *CIFAR), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (n,), generator=g)
    band = torch.arange(32).view(1, 32) // 3 == labels.view(-1, 1)  # image rows 3k..3k+2 for class k
    return torch.where(band.view(n, 1, 32, 1), torch.tensor(255, dtype=torch.uint8), images), labels


def trial(job: dict[str, Any], barrier: Any, results: Any) -> None:
    """One trial's epochs as harness.engine.trial runs them, without Ray; puts one dict per epoch."""
    torch.set_num_threads(job["threads"])
    device = choose_device(["0"])  # as Ray assigns GPU 0 (CUDA_VISIBLE_DEVICES as the machine has it)
    torch.manual_seed(job["trial"])
    model = create_model("vgg4_bn", in_shape=CIFAR, num_outputs=10)
    where = placement(model, device=device, precision=job["precision"])
    where.configure_backends()
    model = where.model(model)
    train, val = _data(job["images"], seed=0), _data(job["images"] // 5, seed=1)
    data_bytes = sum(t.nbytes for t in (*train, *val, *val))
    data_on = "host" if job["host"] else data_home(device=device, data_bytes=data_bytes, gpu_share=job["share"])
    home = where.device if data_on == "gpu" else torch.device("cpu")
    train, val = (train[0].to(home), train[1].to(home)), (val[0].to(home), val[1].to(home))
    optimizer = create_optimizer("adam", model.parameters(), lr=1e-3)
    if where.device.type == "cuda":
        torch.cuda.synchronize(where.device)
    barrier.wait()  # the processes of a run train at the same time, not one after another's start-up
    start = time.perf_counter()
    for result in fit(
        model=model,
        objective=OBJECTIVES["logits"],
        optimizer=optimizer,
        train=train,
        val=val,
        test=val,
        epochs=job["epochs"],
        batch_size=32,
        normalize=Normalizer(MEAN, STD, where.device),
        generator=torch.Generator().manual_seed(job["trial"]),
        metric="val_acc",
        mode=Mode.MAX,
        placement=where,
    ):
        m = result.metrics
        results.put(
            {
                "what": "epoch",
                "run": job["run"],
                "processes": job["processes"],
                "trial": job["trial"],
                "epoch": result.epoch,
                "epoch_time_s": round(m["epoch_time_s"], 3),
                "eval_time_s": round(m["eval_time_s"], 3),
                "samples_per_s": round(m["samples_per_s"]),
                "train_loss": round(m["train_loss"], 4),
                "val_acc": round(m["val_acc"], 4),
                "data_on": data_on,
                **where.report(),
                "since_start_s": round(time.perf_counter() - start, 2),
                "peak_gpu_mib": round(torch.cuda.max_memory_allocated(where.device) / 2**20)
                if where.device.type == "cuda"
                else None,
            }
        )


def run(name: str, *, processes: int, precision: str = "auto", host: bool = False, images: int, epochs: int) -> None:
    """`processes` trials at once, each its own spawned process (as Ray's workers are)."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    threads = max(1, (os.cpu_count() or 1) // processes)  # as Ray divides the CPUs between trials
    jobs = [
        {
            "run": name,
            "processes": processes,
            "trial": i,
            "precision": precision,
            "host": host,
            "share": 1.0 / processes,
            "threads": threads,
            "images": images,
            "epochs": epochs,
        }
        for i in range(processes)
    ]
    workers = [ctx.Process(target=trial, args=(job, barrier, results)) for job in jobs]
    wall = time.perf_counter()
    for w in workers:
        w.start()
    for _ in range(processes * epochs):
        emit(**results.get(timeout=300))
    for w in workers:
        w.join()
    failed = [w.exitcode for w in workers if w.exitcode]
    emit(what="run", run=name, processes=processes, wall_s=round(time.perf_counter() - wall, 1), failed=failed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny data on the CPU through the fake-GPU seam")
    args = parser.parse_args()
    images, epochs = (10_000, 2) if not args.smoke else (320, 1)
    if args.smoke:
        os.environ[FAKE_CUDA] = "1"  # children inherit it
    elif not torch.cuda.is_available():
        emit(what="error", error="no CUDA here: run it on a GPU machine, or pass --smoke")
        return 2
    device = choose_device(["0"])
    chosen = placement(create_model("vgg4_bn", in_shape=CIFAR, num_outputs=10), device=device)
    emit(
        what="placement",
        torch=torch.__version__,
        cuda=torch.version.cuda,
        capability=device.capability,
        total_memory_gib=round(device.total_memory / 2**30, 1),
        data_on_at_quarter_share=data_home(device=device, data_bytes=10_000 * 3 * 32 * 32, gpu_share=0.25),
        cpu_count=os.cpu_count(),
        **chosen.report(),
    )
    run("auto, alone", processes=1, images=images, epochs=epochs)
    run("auto, 4 sharing the GPU", processes=4, images=images, epochs=epochs)
    if not args.smoke:  # the CPU refuses fp16 (harness.engine.device): only a real GPU runs it
        run("fp16 with GradScaler", processes=1, precision="fp16", images=images, epochs=epochs)
    run("fp32", processes=1, precision="fp32", images=images, epochs=epochs)
    run("auto, batches streamed from host memory", processes=1, host=True, images=images, epochs=epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
