"""Build hook: compile classify's hot modules to C with mypyc (the rest is pyproject.toml).

The compiled modules are the same sources, type-checked and translated by mypyc: the same
behaviour at about 1.7x the speed (bench/classify.py). They are optional at run time:
without a build, or when a source changed after its build, classify loads the .py sources
instead and says so (classify/_native.py). ZONEGATE_NO_NATIVE=1 builds without them.
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent
# classify/_native.py imports nothing of classify, whose dependencies a build lacks
_native = runpy.run_path(str(ROOT / "classify" / "_native.py"))


def _ext_modules() -> list[object]:
    if os.environ.get("ZONEGATE_NO_NATIVE"):
        return []
    from mypyc.build import mypycify

    # The build environment has mypy but not the project's dependencies or their stubs:
    # those imports are Any here (mypy proper checks them strictly in `make typecheck`), so
    # an ignore that mypy needs for a typed dependency is unused here. A cache of our own
    # keeps a developer's .mypy_cache from changing what a build sees.
    options = ["--ignore-missing-imports", "--no-warn-unused-ignores",
               "--cache-dir=build/mypyc-cache"]
    modules = mypycify([*options, *(f"classify/{name}.py" for name in _native["COMPILED"])],
                       opt_level="3", debug_level="0", group_name="zonegate_classify")
    # what was compiled, so a later edit of a source is noticed (and the source runs)
    Path(_native["SOURCES_FILE"]).write_text(_native["source_digests"](), encoding="utf-8")
    return list(modules)


setup(ext_modules=_ext_modules())
