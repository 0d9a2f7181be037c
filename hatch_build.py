"""Hatch build hook: compile the synthesizer's hot modules with Cython, when it can.

`tracelab synth` must write ≥ 50,000 steps/s of raw logs on two cores; as plain Python its
writers generate about 29,000 steps per CPU-second, compiled from the same sources about
39,000 (see `src/tracelab/synth/accel.py`, which decides at run time whether the compiled
modules still match the sources). The step is optional: without a C compiler or Python's
headers the build goes on and the modules run as Python. `TRACELAB_SYNTH_PURE=1` skips it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SYNTH = Path("src") / "tracelab" / "synth"


def _accel() -> Any:
    """`tracelab.synth.accel`, loaded from its file (the build environment has no tracelab)."""
    path = Path(__file__).resolve().parent / SYNTH / "accel.py"
    spec = importlib.util.spec_from_file_location("_tracelab_synth_accel", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compile_modules(src_dir: Path, accel: Any) -> list[Path]:
    """Cythonize and compile `accel.MODULES` of `src_dir` into `src_dir/_compiled/`; returns
    the files written. The manifest goes last, so an interrupted build leaves none."""
    import Cython
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    hashes = accel.source_hashes(src_dir)
    out = src_dir / accel.COMPILED_DIR
    out.mkdir(exist_ok=True)
    (out / accel.MANIFEST).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="tracelab-cython-") as tmp:
        extensions = [
            Extension(
                f"{accel.PACKAGE}.{name}",
                [str(src_dir / f"{name}.py")],
                # -O2 compiles in half the time of the interpreter's -O3, and runs as fast.
                extra_compile_args=["-O2", "-g0"],
            )
            for name in accel.MODULES
        ]
        extensions = cythonize(
            extensions,
            # Annotations stay annotations: with typing from them a `float` argument would
            # become a C double, and the output could drift from the pure modules'.
            compiler_directives={"language_level": 3, "annotation_typing": False},
            build_dir=os.path.join(tmp, "c"),
            quiet=True,
        )
        command = build_ext(Distribution({"name": "tracelab-synth", "ext_modules": extensions}))
        command.build_lib = os.path.join(tmp, "lib")
        command.build_temp = os.path.join(tmp, "obj")
        command.parallel = os.cpu_count() or 1
        command.ensure_finalized()
        command.run()
        suffix = accel.ext_suffix()
        built = Path(tmp, "lib", *accel.PACKAGE.split("."))
        written = []
        for name in accel.MODULES:
            target = out / f"{name}{suffix}"
            shutil.copyfile(built / f"{name}{suffix}", target)
            written.append(target)
    accel.write_manifest(src_dir, hashes, f"Cython {Cython.__version__}")
    return [*written, out / accel.MANIFEST]


class SynthCompileHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        accel = _accel()
        if accel.forced_pure():
            self.app.display_info(f"tracelab: {accel.PURE_ENV} set, synth modules not compiled")
            return
        src_dir = Path(self.root) / SYNTH
        try:
            files = compile_modules(src_dir, accel)
        except Exception as exc:  # no compiler, no headers, no Cython: Python still works
            self.app.display_warning(
                f"tracelab: the synth writers were not compiled and will run as pure Python "
                f"(about a quarter slower): {type(exc).__name__}: {exc}"
            )
            return
        self.app.display_info(f"tracelab: compiled {len(accel.MODULES)} synth modules")
        if version == "editable":
            return  # the editable install reads them from the source tree
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        for path in files:
            build_data["force_include"][str(path)] = str(path.relative_to(Path(self.root) / "src"))
