"""Run every benchmark in bench/ in turn and print their figures (`make bench`).

Each benchmark is a standalone script that measures its own baseline in the same run and
prints ratios against it; this runner only sequences them and reports failures.
Pass names to run a subset: `python bench/run_all.py queue logs`. Scripts run with `python -P`
so that bench/ is not put on sys.path (bench/queue.py would shadow the stdlib `queue`).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ORDER = (
    "traces_import",
    "queue",
    "logs",
    "sse",
    "train",
    "evaluation",
    "accelerator",
    "learning",
    "sweep",
)


def main(argv: list[str]) -> int:
    names = argv or [n for n in ORDER if (BENCH_DIR / f"{n}.py").exists()]
    failed = []
    for name in names:
        script = BENCH_DIR / f"{name}.py"
        if not script.exists():
            print(f"== {name}: no such benchmark", flush=True)
            failed.append(name)
            continue
        print(f"\n== bench/{name}.py", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-P", str(script)], cwd=BENCH_DIR.parent)
        print(
            f"== bench/{name}.py exit {code} in {time.perf_counter() - started:.1f} s", flush=True
        )
        if code != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
