"""Run every benchmark in turn (`make bench`); each prints its own figures.

The search benchmark needs a running stack (`make dev`); it is skipped when the gateway does not answer.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

HERE = Path(__file__).parent


def main() -> int:
    code = 0
    for script in sorted(HERE.glob("*_bench.py")) + sorted(HERE.glob("*_eval.py")):
        if script.name == "search_bench.py":
            try:
                httpx.get("http://127.0.0.1:8000/healthz", timeout=2)
            except httpx.HTTPError:
                print(f"== {script.name}: skipped (start the stack with `make dev` first)")
                continue
        print(f"== {script.name}", flush=True)
        code |= subprocess.call([sys.executable, str(script)])
    return code


if __name__ == "__main__":
    sys.exit(main())
