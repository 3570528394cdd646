"""Run every benchmark module in bench/ in turn."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).resolve().parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))
    if len(sys.argv) > 1:
        unknown = sorted(set(sys.argv[1:]) - set(names))
        if unknown:
            print(f"bench: no benchmark {', '.join(unknown)} (have: {', '.join(names)})",
                  file=sys.stderr)
            return 2
        names = [n for n in names if n in sys.argv[1:]]
    # the names are this runner's arguments, not the benchmarks' (some parse their own)
    sys.argv = sys.argv[:1]
    for name in names:
        print(f"== bench.{name}", flush=True)
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
