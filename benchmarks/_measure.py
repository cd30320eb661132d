"""Timing and peak-memory helpers for the benchmarks."""

from __future__ import annotations

import gc
import os
import platform
import threading
import time
import tracemalloc
from dataclasses import dataclass
from typing import Callable

import psutil


@dataclass
class Measured:
    seconds: float          # best of the repeats
    median: float
    peak_mb: float | None   # peak numpy + Python heap during one more (untimed) call
    rss_mb: float | None    # peak resident memory above the level before that call
    result: object


def _peak_memory(func: Callable[[], object]) -> tuple[float, float]:
    """Peak traced heap (tracemalloc sees numpy and Python allocations, not GEOS's) and peak
    RSS increase (sampled every millisecond) of one call, in MB."""
    proc = psutil.Process(os.getpid())
    gc.collect()
    start_rss = proc.memory_info().rss
    top = [start_rss]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            top[0] = max(top[0], proc.memory_info().rss)
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    tracemalloc.start()
    sampler.start()
    try:
        func()
    finally:
        stop.set()
        sampler.join()
        _, heap_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return heap_peak / 2**20, max(0, top[0] - start_rss) / 2**20


def measure(func: Callable[[], object], repeats: int = 3, memory: bool = False) -> Measured:
    """Best and median wall time of ``func`` over ``repeats`` calls (and its peak memory)."""
    times, result = [], None
    for _ in range(max(1, repeats)):
        result = None
        gc.collect()
        t0 = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - t0)
    times.sort()
    heap = rss = None
    if memory:
        heap, rss = _peak_memory(func)
    return Measured(times[0], times[len(times) // 2], heap, rss, result)


def per_call(func: Callable[[object], object], args: list, repeats: int = 3) -> float:
    """Best over ``repeats`` rounds of the mean time of one call, each round over all ``args``."""
    best = float("inf")
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        for a in args:
            func(a)
        best = min(best, (time.perf_counter() - t0) / len(args))
    return best


def machine() -> str:
    """One line describing the machine and the library versions."""
    import duckdb
    import geopandas
    import shapely

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    ram = psutil.virtual_memory().total / 2**30
    return (f"{cpu}, {psutil.cpu_count()} cores, {ram:.0f} GB RAM, {platform.system()} "
            f"{platform.release()}; Python {platform.python_version()}, shapely "
            f"{shapely.__version__} (GEOS {shapely.geos_version_string}), geopandas "
            f"{geopandas.__version__}, duckdb {duckdb.__version__}")
