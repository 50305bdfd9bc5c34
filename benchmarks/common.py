"""Shared pieces of the benchmark scripts: arguments, the machine description, timing, the measured
matmul peak, the text corpus, tables and JSON output. Scripts import it as a sibling module
(`python benchmarks/<script>.py` puts benchmarks/ on sys.path).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(doc: str, extra=None, argv: list[str] | None = None) -> argparse.Namespace:
    """--quick (a few steps on tiny shapes: a smoke test) or the full measurement; --out DIR for the JSON."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="a few steps on tiny shapes (seconds): checks the script, not the speed")
    ap.add_argument("--out", type=Path, default=RESULTS, help=f"folder for the JSON results (default {RESULTS})")
    if extra:
        extra(ap)
    return ap.parse_args(argv)


def machine() -> dict:
    """What the numbers were measured on, including how busy the machine was (load average)."""
    import torch

    return {
        "python": platform.python_version(), "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cores_available": len(os.sched_getaffinity(0)),
        "torch_threads": torch.get_num_threads(), "load_average": [round(x, 2) for x in os.getloadavg()],
        "gpu": None, "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_json(out_dir: Path, name: str, payload: dict, quick: bool) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    doc = {"benchmark": name, "mode": "quick" if quick else "full", "machine": machine(), **payload}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    print(f"-> {path}")
    return path


def print_table(title: str, headers: list[str], rows: list[list]) -> None:
    """A plain-text table (the same text goes into the README's performance section)."""
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def matmul_peak(dtype_name: str, n: int, reps: int) -> float:
    """FLOP/s of the best of `reps` (n x n) @ (n x n) products in `dtype_name`, on this process's threads.

    This is the peak MFU is measured against: what torch's own matmul reaches on this machine, now,
    in the same precision, under the same contention as the training it is compared with.
    """
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(2):  # warm-up: thread pool start and oneDNN's kernel choice happen on the first calls
        a @ b
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def corpus_texts(quick: bool) -> list[str]:
    """English Wikipedia text that gensim ships (head500.noblanks.cor: 250 long lines, 2.3 MB)."""
    from importlib.resources import files

    path = files("gensim") / "test" / "test_data" / "head500.noblanks.cor"
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return lines[:4] if quick else lines


def run_python(args: list[str], timeout_s: float = 1800) -> None:
    """Run a benchmark script in a fresh interpreter (its own threads, caches and peak memory)."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in [str(Path(__file__).resolve().parents[1] / "src"), os.environ.get("PYTHONPATH", "")] if p)}
    subprocess.run([sys.executable, *args], check=True, env=env, timeout=timeout_s)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Samples the resident set size on a background thread while the block runs."""

    def __enter__(self):
        self.start = self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())
