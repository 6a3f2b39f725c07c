"""Ray itself: starting or joining it quietly, and whether its nodes can hold a trial.

Ray's and Optuna's own log lines and tracebacks stay off the terminal unless `--verbose`: a
failed trial's whole report goes to the store (`harness show TRIAL`), and the sweep ends with
one summary line instead.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import TypedDict

import ray

from harness.engine.device import FAKE_CUDA
from harness.errors import HarnessError

QUIET = logging.CRITICAL + 1  # above every level Ray and Optuna log at
# The driver's variables that its trials must see too. Workers of a cluster we join are started
# by that cluster's raylets and do not inherit the driver's environment (checked on Ray 2.60),
# so these travel in the job's runtime_env; a local instance's workers inherit them anyway.
PASSED_ON = (FAKE_CUDA,)


def passed_on_env() -> dict[str, str]:
    """The PASSED_ON variables set in this process, for the job's runtime_env."""
    return {name: os.environ[name] for name in PASSED_ON if name in os.environ}


def quiet_ray(*, verbose: bool) -> None:
    """Our live table replaces Tune's own reporting; Ray's log noise only with --verbose."""
    # Tune's CSV/JSON/TensorBoard loggers duplicate what the store keeps; skip their file I/O.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    if verbose:
        return
    # The new console output prints an experiment banner even at verbose=0; the old engine
    # prints nothing at verbose=0.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # "Trial task failed" with its traceback is logged at ERROR by Tune's controller: the
    # store keeps that report, the terminal gets our one line.
    for name in ("ray", "ray.tune", "ray.train", "ray.air", "optuna"):
        logging.getLogger(name).setLevel(QUIET)
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.CRITICAL)  # "A new study created in memory ..."
        optuna.logging.disable_default_handler()
    except ImportError:
        pass


class _RuntimeEnv(TypedDict):
    env_vars: dict[str, str]  # variable -> value, set in every worker of the job


class _InitOptions(TypedDict, total=False):
    """The keyword arguments start_ray passes to ray.init beside the address."""

    log_to_driver: bool  # workers' output on the driver's terminal
    logging_level: int  # Ray's own logger's level
    include_dashboard: bool
    runtime_env: _RuntimeEnv


def start_ray(*, verbose: bool, address: str | None = None) -> bool:
    """Join the cluster at `address`, or start a local Ray instance unless one is already up;
    True when we connected (and so must disconnect)."""
    if ray.is_initialized():
        return False
    if address not in (None, "auto"):
        _check_reachable(address)
    options: _InitOptions = {"log_to_driver": verbose, "logging_level": logging.INFO if verbose else QUIET}
    if address is None:
        # "local": a fresh instance of our own, even when `ray start` left a cluster running here
        # (a plain ray.init() would quietly join that one).
        address, options["include_dashboard"] = "local", False
    if passed_on_env():
        options["runtime_env"] = {"env_vars": passed_on_env()}
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise HarnessError(
            f"cannot join the Ray cluster at {address!r} ({str(exc).splitlines()[0][:160]})",
            "check `ray status` on the head node; a token-auth cluster also needs RAY_AUTH_MODE=token here",
        ) from None
    return True


def _check_reachable(address: str) -> None:
    """Fail in seconds, not minutes: ray.init waits a long time for a head that is not there."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except (OSError, ValueError) as exc:
        raise HarnessError(
            f"cannot join the Ray cluster at {address!r} ({exc})",
            "check the head's address with `ray status` on it; HOST:PORT, ray://HOST:PORT or auto",
        ) from None


def node_resources() -> list[dict[str, float]]:
    """CPU and GPU of every live node."""
    return [
        {"CPU": float(n["Resources"].get("CPU", 0)), "GPU": float(n["Resources"].get("GPU", 0))}
        for n in ray.nodes()
        if n.get("Alive")
    ]


def cluster_may_grow() -> bool:
    """Whether an autoscaler can add nodes: Tune's own test (the cluster launcher's bootstrap
    file on the head), or an autoscaler configuration kept in the cluster's control store."""
    from ray.tune.execution.cluster_info import _is_ray_cluster

    if _is_ray_cluster():
        return True
    try:
        from ray._private.state import state

        return state.get_cluster_config() is not None
    except Exception:  # a private API: if it moves, assume a fixed cluster and refuse early
        return False


def check_resources(resources: dict[str, float], nodes: list[dict[str, float]], *, may_grow: bool) -> str | None:
    """None when some node can hold one trial. Otherwise: on a cluster that may grow, the line
    to show while waiting; on a fixed one, a HarnessError, since Tune would wait forever."""
    cpu, gpu = resources.get("cpu", 0.0), resources.get("gpu", 0.0)
    if any(n["CPU"] >= cpu and n["GPU"] >= gpu for n in nodes):
        return None
    largest = max(nodes, key=lambda n: (n["GPU"] >= gpu, n["CPU"]), default={"CPU": 0.0, "GPU": 0.0})
    need = f"{cpu:g} CPU and {gpu:g} GPU"
    has = f"{largest['CPU']:g} CPU and {largest['GPU']:g} GPU"
    if may_grow:
        return f"waiting for resources: need {need} per trial, largest node has {has}"
    where = "the largest node of this cluster" if len(nodes) > 1 else "this machine"
    raise HarnessError(
        f"a trial asks for {need}, but {where} has {has}: no trial could ever start",
        f"pass --cpus-per-trial <= {largest['CPU']:g} and --gpus-per-trial <= {largest['GPU']:g}, "
        "or join a larger cluster with --address",
    )
