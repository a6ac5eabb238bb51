"""A RunPod worker's fitness checks, run as the platform runs them, and nothing more.

Python loads this file at start when PYTHONPATH names its folder; imagegate sets that, with
RUNPOD_WEBHOOK_GET_JOB, on a container started with the worker image's own command. The
SDK (runpod 1.9+) then takes the platform's path: `serverless.start` -> `worker.main`, which
finds RUNPOD_WEBHOOK_GET_JOB set and no --test_input, -> `worker.run_worker`, whose first
step is `run_fitness_checks()`. Here `run_worker` is replaced, as the SDK's worker module
loads, by `_run_checks`: the checks the SDK has registered by then (the worker's own, from
`@runpod.serverless.register_fitness_check` at its import, then the SDK's built-in ones,
registered by its own `_ensure_*_registered`), run in its order and as it runs them (a
coroutine awaited, a function called), each reported with its time and, for a built-in,
the figure it judges. Unlike the SDK, a failure does not stop the rest: each is a row. The
network check is not run: the container has no network. Then the process exits; the worker
loop never starts.

One JSON line on stdout, after MARK. Standard library only, besides the SDK it runs.
"""

import asyncio
import importlib.machinery
import importlib.util
import inspect
import json
import os
import shutil
import sys
import time

MARK = "imagegate-fitness: "
"""Copied in imagegate.contract (FITNESS_MARK); a unit test keeps the two equal."""
SCHEMA = 1
_WORKER = "runpod.serverless.worker"
_NOT_RUN = {"_network_check": "networking is off in imagegate's containers"}


async def _figure(name):
    """What a built-in check compares, read with the SDK's own helpers and thresholds."""
    from runpod.serverless.modules import rp_system_fitness as system

    if name == "_memory_check":
        memory = system._get_memory_info()
        return {"available_gib": memory["available_gb"], "minimum": system.MIN_MEMORY_GB}
    if name == "_disk_check":
        usage = shutil.disk_usage("/")
        free = 100 * usage.free / usage.total if usage.total else 0.0
        return {
            "free_percent": free,
            "free_gib": usage.free / 1024**3,
            "minimum": system.MIN_DISK_PERCENT,
        }
    if name == "_cuda_version_check":
        found = await system._get_cuda_version()
        return {
            "found": found and "{}.{}".format(*system._parse_version(found)),
            "minimum": system.MIN_CUDA_VERSION,
        }
    if name == "_benchmark_check":
        return {"maximum_s": system.GPU_BENCHMARK_TIMEOUT}
    if name == "_gpu_health_check":
        from runpod.serverless.modules import rp_gpu_fitness

        return {"maximum_s": rp_gpu_fitness.TIMEOUT_SECONDS}
    return {}


async def _run_one(check):
    name = check.__name__
    row = {"name": name, "module": check.__module__ or ""}
    if row["module"].startswith("runpod.") and name in _NOT_RUN:
        return {**row, "skipped": _NOT_RUN[name]}
    started = time.perf_counter()
    try:
        if inspect.iscoroutinefunction(check):
            await check()
        else:
            check()
    except (Exception, SystemExit) as error:
        row["error"] = f"{type(error).__name__}: {error}"
    row["seconds"] = time.perf_counter() - started
    if row["module"].startswith("runpod."):
        try:
            row["figure"] = await _figure(name)
        except Exception as error:  # a figure is evidence; the check's outcome stands
            row["figure"] = {"unreadable": f"{type(error).__name__}: {error}"}
    return row


async def _run_all(checks):
    return [await _run_one(check) for check in checks]


def _run_checks(config):
    del config
    report = {"schema": SCHEMA}
    try:
        from runpod.serverless.modules import rp_fitness
        from runpod.serverless.utils.rp_cuda import is_available
        from runpod.version import __version__

        report["runpod"] = __version__
        report["gpu"] = bool(is_available())
        rp_fitness._ensure_gpu_check_registered()
        rp_fitness._ensure_system_checks_registered()
        report["checks"] = asyncio.run(_run_all(list(rp_fitness._fitness_checks)))
    except (ImportError, AttributeError) as error:
        report["unsupported"] = f"{type(error).__name__}: {error}"
    sys.stdout.write(MARK + json.dumps(report) + "\n")
    sys.stdout.flush()
    os._exit(0)


class _Patch:
    """Replaces `run_worker` in the SDK's worker module as soon as that module has run."""

    def find_spec(self, name, path=None, target=None):
        if name != _WORKER:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            module.run_worker = _run_checks

        spec.loader.exec_module = exec_module
        return spec


def _chain():
    """The image's own sitecustomize, if any, still runs: this one only shadows its name."""
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [entry for entry in sys.path if os.path.abspath(entry or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


sys.meta_path.insert(0, _Patch())
_chain()
