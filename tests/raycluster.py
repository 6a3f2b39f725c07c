"""Ray clusters of the tests' own, on loopback: started with `ray start --block` in a session
of their own and stopped by killing that process group, never with `ray stop` (which stops
every Ray on the machine, other test runs' included)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Ray 2.60's `ray start --head` turns on token authentication: every joiner and driver needs it
# (the token itself is read from ~/.ray/auth_token, which `ray start` writes, or RAY_AUTH_TOKEN).
AUTH = {"RAY_AUTH_MODE": "token"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """`ray start --block` on loopback in a process group of its own (killed as a whole)."""
    # Beside this Python, or on PATH (a virtualenv over the system's packages has no `ray` of its own)
    ray = Path(sys.executable).with_name("ray")
    ray = ray if ray.exists() else Path(shutil.which("ray") or ray)
    return subprocess.Popen(
        [str(ray), "start", "--block", "--node-ip-address=127.0.0.1", "--disable-usage-stats", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def temp_dir(prefix: str) -> str:
    """A Ray temp folder of the test cluster's own: `ray start --head` records itself as the
    machine's current cluster in its temp folder, which other Ray users here must not find."""
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")  # short: Ray's socket paths have a length limit


def stop(nodes: list[subprocess.Popen]) -> None:
    for node in nodes:
        try:
            os.killpg(node.pid, signal.SIGKILL)  # `ray start --block` and every process it started
        except ProcessLookupError:
            pass
        node.wait()


def wait_for_resources(address: str, env: dict[str, str], *, gpus: float, timeout: float = 90) -> None:
    """Until the cluster at `address` reports `gpus` GPUs: a driver that joins before the
    head's node registered would see an empty cluster (and refuse every request)."""
    probe = (
        "import ray, sys, time\n"
        f"ray.init(address={address!r}, log_to_driver=False, logging_level='ERROR')\n"
        "end = time.monotonic() + float(sys.argv[1])\n"
        f"while ray.cluster_resources().get('GPU', 0) < {gpus} and time.monotonic() < end:\n"
        "    time.sleep(0.5)\n"
        f"sys.exit(0 if ray.cluster_resources().get('GPU', 0) >= {gpus} else 1)\n"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # the head's port first: ray.init would wait minutes for it
        try:
            socket.create_connection(tuple(address.rsplit(":", 1)), timeout=1).close()  # type: ignore[arg-type]
            break
        except OSError:
            time.sleep(0.5)
    left = max(1.0, deadline - time.monotonic())
    run = subprocess.run([sys.executable, "-c", probe, str(left)], env=env, capture_output=True, text=True)
    assert run.returncode == 0, f"the test cluster at {address} did not come up: {run.stderr[-1500:]}"


@contextmanager
def fake_gpu_cluster(*, cpus: int = 4, gpus: int = 2) -> Iterator[str]:
    """A one-node head with `gpus` fake GPUs (bookkeeping only: no CUDA behind them) and `cpus`
    CPUs; yields its address. Its workers inherit this process's environment as it is now."""
    port, temp = free_port(), temp_dir("ray-fakegpu-")
    env = {**os.environ, **AUTH}
    head = ray_start(
        [
            "--head",
            f"--port={port}",
            f"--num-cpus={cpus}",
            f"--num-gpus={gpus}",
            "--include-dashboard=false",
            f"--temp-dir={temp}",
        ],
        env,
    )
    try:
        wait_for_resources(f"127.0.0.1:{port}", env, gpus=gpus)
        yield f"127.0.0.1:{port}"
    finally:
        stop([head])
        shutil.rmtree(temp, ignore_errors=True)
