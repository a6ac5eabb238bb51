"""The doctor and the repair on a real venv of the cpu stack, printed side by side.

    python tests/benchmarks/bench_doctor.py        (or: make bench)

- `imagegate doctor cpu` on a healthy venv against the floor: one bare
  `python -c "import <the same modules>"` with the venv's interpreter (after a warm-up
  run that writes the .pyc files, best of two);
- `imagegate repair cpu` of one wrong package (transformers 4.57.3 where 4.51.3 is locked),
  with proof that torch was not reinstalled (its files keep their inodes).
Needs the cpu wheelhouse (`imagegate wheelhouse cpu`).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from imagegate import installer

ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = ROOT / "wheelhouse" / "cpu"


def run(*args: str | Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)
    return time.monotonic() - started, done


def main() -> int:
    if not (WHEELHOUSE / "rest" / "requirements.txt").is_file():
        sys.exit("bench: run `imagegate wheelhouse cpu` first")
    with tempfile.TemporaryDirectory(prefix="imagegate-bench-") as scratch:
        venv = Path(scratch) / "venv"
        python = venv / "bin" / "python"
        run(*installer.make_venv(venv))
        for group in ("protected", "rest"):
            folder = WHEELHOUSE / group
            run(
                *installer.install(
                    python, find_links=[folder], requirements=[folder / "requirements.txt"]
                )
            )
        _, listed = run(
            python,
            "-c",
            "import importlib.metadata as m; print(' '.join(sorted("
            "{n for d in m.distributions() for n in (d.read_text('top_level.txt') "
            "or '').split() if n.isidentifier() and not n.startswith('_')})))",
        )
        modules = [m for m in listed.stdout.split() if m not in ("isympy", "setuptools")]
        run(python, "-c", f"import {', '.join(modules)}")  # warm: .pyc files written once
        floor = min(run(python, "-c", f"import {', '.join(modules)}")[0] for _ in range(2))
        doctor, healthy = run(
            sys.executable,
            "-m",
            "imagegate",
            "doctor",
            "cpu",
            "--python",
            python,
            "--profiles",
            ROOT / "profiles",
        )
        assert healthy.returncode == 0, healthy.stdout[-2000:]
        run(*installer.PIP, "download", "--no-deps", "-d", scratch, "transformers==4.57.3")
        [wheel] = Path(scratch).glob("transformers-4.57.3-*.whl")
        reinstall = ["--no-deps", "--reinstall-package", "transformers", wheel]
        run(*installer.UV, "install", "--python", python, *reinstall)
        [torch_init] = venv.glob("lib/python3.*/site-packages/torch/__init__.py")
        inode = torch_init.stat().st_ino
        repair, repaired = run(
            sys.executable,
            "-m",
            "imagegate",
            "repair",
            "cpu",
            "--python",
            python,
            "--profiles",
            ROOT / "profiles",
        )
        assert repaired.returncode == 0, repaired.stderr[-2000:]
        kept = torch_init.stat().st_ino == inode
    print(f"{'on a venv of the cpu stack':<52}{'seconds':>9}{'ratio':>8}")
    print(f"{f'floor: python -c import {len(modules)} modules':<52}{floor:>9.2f}{1.0:>8.2f}")
    print(f"{'imagegate doctor cpu (healthy)':<52}{doctor:>9.2f}{doctor / floor:>8.2f}")
    print(f"{'imagegate repair cpu (transformers 4.57.3)':<52}{repair:>9.2f}{repair / floor:>8.2f}")
    print(f"torch reinstalled by the repair: {'no' if kept else 'YES'}")
    return 0 if kept else 1


if __name__ == "__main__":
    sys.exit(main())
