"""Build hook: compile classify's hot modules to C with mypyc (the rest is pyproject.toml).

The compiled modules are the same sources, type-checked and translated by mypyc: the same
behaviour at about twice the speed (docs/classify.md). They are optional at run time:
without a build, or when a source changed after its build, classify loads the .py sources
instead and says so (classify/_native.py). ZONEGATE_NO_NATIVE=1 builds without them.
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
# classify/_native.py imports nothing of classify, whose dependencies a build lacks
_native = runpy.run_path(str(ROOT / "classify" / "_native.py"))


class _BuildAndRecord(build_ext):
    """build_ext, then the digests of the sources it compiled, beside the extensions.

    Written only once every extension is built: a digest file that outlived a failed
    compile would vouch for the previous build's modules against the new sources, and
    stale compiled code would run.
    """

    def run(self) -> None:
        super().run()
        if not self.extensions:
            return  # ZONEGATE_NO_NATIVE: no build to vouch for
        package = ROOT if self.inplace else Path(self.build_lib)
        target = package / "classify" / Path(_native["SOURCES_FILE"]).name
        target.write_text(_compiled_digests, encoding="utf-8")


_compiled_digests = ""  # the sources as mypyc read them (set by _ext_modules)


def _ext_modules() -> list[object]:
    global _compiled_digests
    if os.environ.get("ZONEGATE_NO_NATIVE"):
        return []
    from mypyc.build import mypycify

    _compiled_digests = _native["source_digests"]()
    # The build environment has mypy but not the project's dependencies or their stubs:
    # those imports are Any here (mypy proper checks them strictly in `make typecheck`), so
    # an ignore that mypy needs for a typed dependency is unused here. A cache of our own
    # keeps a developer's .mypy_cache from changing what a build sees.
    options = ["--ignore-missing-imports", "--no-warn-unused-ignores",
               "--cache-dir=build/mypyc-cache"]
    return list(mypycify([*options, *(f"classify/{name}.py" for name in _native["COMPILED"])],
                         opt_level="3", debug_level="0", group_name="zonegate_classify"))


setup(ext_modules=_ext_modules(), cmdclass={"build_ext": _BuildAndRecord})
