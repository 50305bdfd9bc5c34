"""CLI start-up time: wall seconds of `warmstart --help` in a fresh interpreter, next to a bare
`python -c pass` and `python -c "import torch"` for scale, alternating over --reps.

    PYTHONPATH=src .venv/bin/python benchmarks/cli_startup.py [--quick] [--reps 7]

`--help` must not import torch (cli.py imports lazily); the JSON records whether it did.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import common

SRC = str(Path(__file__).resolve().parents[1] / "src")
COMMANDS = {
    "warmstart --help": [sys.executable, "-m", "warmstart", "--help"],
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
}
# Runs the real --help and reports whether torch got imported along the way.
TORCH_CHECK = ("import sys\nfrom warmstart import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
               "print('TORCH', 'torch' in sys.modules, file=sys.stderr)")


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    def extra(ap):
        ap.add_argument("--reps", type=int, default=None, help="alternating repetitions (default 7; quick 1)")

    args = common.parse_args(__doc__, extra, argv)
    reps = args.reps or (1 if args.quick else 7)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [SRC, os.environ.get("PYTHONPATH", "")] if p)}
    commands = {k: v for k, v in COMMANDS.items() if not (args.quick and "torch" in k)}
    times: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(reps):
        for name, cmd in commands.items():
            times[name].append(timed(cmd, env))
    check = subprocess.run([sys.executable, "-c", TORCH_CHECK], env=env, capture_output=True, text=True, check=True)
    imports_torch = "TORCH True" in check.stderr
    rows = [{"command": k, "median_s": common.median(v), "min_s": min(v), "runs_s": v} for k, v in times.items()]
    common.print_table(f"CLI start-up (wall seconds, {reps} alternating runs)", ["command", "median s", "min s"],
                       [[r["command"], r["median_s"], r["min_s"]] for r in rows])
    print(f"`warmstart --help` imports torch: {imports_torch}")
    common.write_json(args.out, "cli_startup", {"reps": reps, "rows": rows, "help_imports_torch": imports_torch},
                      args.quick)


if __name__ == "__main__":
    sys.exit(main())
