"""The GPU path, checked and measured: the Playground's own code on CUDA against the reference libraries, and
its speed, as one table printed and written as JSON.

    python benchmarks/gpu_check.py --out gpu_check.json                    # a CUDA machine (H200: ~5 min, estimated)
    python benchmarks/gpu_check.py --device cpu --quick --out check.json   # toy sizes on the CPU (as the tests do)
    bash scripts/gpu_run.sh                                                # the lent GPU machine: wheels, then this

Correctness (benchmarks/gpu_correctness.py), in float32 and in the half precision the app uses on a GPU
(decoders: playground.device.pick_dtype, bfloat16 where the GPU has it; diffusion: float16), each through the
app's own code, on random-weight decoders with the embedded models' configs (benchmarks/random_models.py) and on
the embedded tiny-shapes-sd: greedy and beam search = model.generate, sampled rows independent of their
neighbours, attention weights = the eager output_attentions, our denoising loop = StableDiffusionPipeline.
Speed (benchmarks/gpu_speed.py), in the app's dtype: tokens per second for 1, 4 and 16 rows on SmolLM2-135M-,
Gemma-3-270M- and 1B-sized decoders; the first heatmap at 512 tokens against a bare forward; a Stable
Diffusion 1.5-sized U-Net's steps per second at 512 x 512 with linear, TAESD and full-VAE previews against
diffusers with a VAE-decoding callback_on_step_end.
Models load through the app's own settings (PLAYGROUND_DEVICE, PLAYGROUND_DTYPE, set here per block). With
--budget-seconds a section that would not end in time is skipped and recorded as "skipped: time budget"; the
JSON is written after every section, so a run stopped from outside keeps what it finished.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks import random_models as R  # noqa: E402
from benchmarks.gpu_correctness import (ATTENTION_TOLERANCE, PIXEL_TOLERANCE, ROUNDING_NATS,  # noqa: E402
                                        check_attention, check_decoding, check_diffusion, reset_app)
from benchmarks.gpu_speed import time_attention, time_diffusion, time_sampling  # noqa: E402
from playground.device import pick_dtype  # noqa: E402


@dataclass(frozen=True)
class Sizes:
    prompt_tokens: int          # sampling prompts
    check_tokens: int           # new tokens per correctness run
    beams: int
    speed_tokens: int           # new tokens per timed run
    attention_check_tokens: int
    attention_tokens: int       # the timed heatmap
    diffusion_check_steps: int
    schedulers: int             # of SCHEDULERS, checked in each dtype
    shapes_side: int            # tiny-shapes-sd's image side in the check (its own: 64)
    diffusion_steps: int        # the timed SD 1.5-sized runs
    repeats: int                # timed runs per variant (the best counts), after one warm-up


FULL = Sizes(32, 32, 4, 64, 128, 512, 10, 3, 64, 25, 3)
QUICK = Sizes(8, 8, 3, 6, 40, 48, 2, 2, 32, 3, 1)
# Seconds a section takes (an H200 at full sizes; a shared 2-core CPU at --quick sizes): a section is skipped
# when less than this is left of --budget-seconds.
ESTIMATES = {"decoding correctness": (45, 15), "attention correctness": (15, 5), "diffusion correctness": (30, 15),
             "sampling speed": (120, 10), "attention speed": (15, 5), "diffusion speed": (90, 15)}


@dataclass(frozen=True)
class Check:
    section: str
    name: str
    model: str
    dtype: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Figure:
    section: str
    name: str
    value: float
    unit: str
    detail: str = ""


@dataclass
class Section:
    name: str
    status: str                 # "running", "done", "skipped: time budget" or "error: ..."
    seconds: float = 0.0


def dtype_name(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")


class Run:
    """One check run: its settings, scratch folder of random models, results, and time budget."""

    def __init__(self, args: argparse.Namespace):
        self.device = args.device
        self.quick = args.quick
        self.sizes = QUICK if args.quick else FULL
        if args.repeats:
            self.sizes = dataclasses.replace(self.sizes, repeats=args.repeats)
        self.budget = args.budget_seconds
        self.out = Path(args.out) if args.out else None
        self.started = time.perf_counter()
        cuda = self.device.startswith("cuda")
        self.app_dtype = dtype_name(pick_dtype(self.device))                 # what the app runs decoders in
        self.half = self.app_dtype if cuda and self.app_dtype != "float32" else "bfloat16"
        self.diffusion_dtype = "float16" if cuda else self.app_dtype          # playground.diffusion's choice
        self.build_device = self.device if cuda else "cpu"
        self.save_dtype = {"decoder": torch.bfloat16, "diffusion": torch.float16} if cuda else {}
        self.scratch = Path(tempfile.mkdtemp(prefix="gpu-check-", dir=args.scratch_dir))
        self.keep_scratch = args.keep_scratch
        self.checks: list[Check] = []
        self.figures: list[Figure] = []
        self.sections: list[Section] = []
        self.skipped: list[str] = []
        self.environment = environment(self.device)
        self._folders: dict[tuple[str, str], Path] = {}

    # -- models -------------------------------------------------------------------------------------------
    def _built(self, key: tuple[str, str], build: Callable[[Path], Path]) -> Path:
        if key not in self._folders:
            started = time.perf_counter()
            self._folders[key] = build(self.scratch / key[1])
            print(f"   built {key[1]} ({key[0]}, random weights) in {time.perf_counter() - started:.1f} s", flush=True)
        return self._folders[key]

    def _on_device(self, build: Callable[..., Path], folder: Path, **kwargs) -> Path:
        """Build on the GPU (a 1B model initialises there in a moment); should that fail, on the CPU."""
        try:
            return build(folder, device=self.build_device, **kwargs)
        except Exception as error:
            if self.build_device == "cpu":
                raise
            print(f"   building on {self.build_device} failed ({type(error).__name__}: {error}); building on the CPU",
                  flush=True)
            shutil.rmtree(folder, ignore_errors=True)
            return build(folder, device="cpu", **kwargs)

    def decoder(self, name: str) -> str:
        return str(self._built(("decoder", name), lambda folder: self._on_device(
            lambda f, **kw: R.build_decoder(name, f, **kw), folder, quick=self.quick,
            save_dtype=self.save_dtype.get("decoder"))))

    def sd_pipeline(self) -> str:
        return str(self._built(("diffusion", "sd15-random"), lambda folder: self._on_device(
            R.build_sd_pipeline, folder, quick=self.quick, save_dtype=self.save_dtype.get("diffusion"))))

    def tiny_shapes(self) -> str:
        return str(self._built(("diffusion", "tiny-shapes-sd"),
                               lambda folder: R.tiny_shapes_with_encoder(folder, quick=self.quick)))

    # -- results ------------------------------------------------------------------------------------------
    def check(self, section: str, name: str, model: str, dtype: str, passed: bool, detail: str) -> None:
        self.checks.append(Check(section, name, model, dtype, bool(passed), detail))
        print(f"   {'PASS' if passed else 'FAIL'}  {name:<40} {model:<16} {dtype:<9} {detail}", flush=True)
        self.write()

    def figure(self, section: str, name: str, value: float, unit: str, detail: str = "") -> None:
        self.figures.append(Figure(section, name, float(value), unit, detail))
        print(f"   {name:<52} {value:12.4g} {unit:<9} {detail}", flush=True)
        self.write()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def has_time(self, seconds: float, what: str) -> bool:
        """False (and `what` recorded as skipped) when fewer than `seconds` are left of the budget."""
        if self.budget is None or self.budget - self.elapsed() >= seconds:
            return True
        self.skipped.append(f"{what}: skipped: time budget")
        print(f"   {what}: skipped: time budget ({self.budget - self.elapsed():.0f} s left)", flush=True)
        return False

    def run_section(self, name: str, function: Callable[["Run"], None]) -> None:
        estimate = ESTIMATES[name][1 if self.quick else 0]
        print(f"== {name} (at {self.elapsed():.1f} s)", flush=True)
        section = Section(name, "running")
        self.sections.append(section)
        if not self.has_time(estimate, name):
            section.status = "skipped: time budget"
            self.write()
            return
        self.write()
        started = time.perf_counter()
        try:
            function(self)
            section.status = "done"
        except Exception as error:  # one broken section must not cost the others their GPU time
            traceback.print_exc()
            section.status = f"error: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        finally:
            reset_app(free_gpu=True)
        section.seconds = time.perf_counter() - started
        print(f"== {name}: {section.status} in {section.seconds:.1f} s", flush=True)
        self.write()

    def report(self) -> dict[str, Any]:
        return {
            "command": sys.argv,
            "environment": {**self.environment, "gradio_imported": "gradio" in sys.modules},
            "settings": {"device": self.device, "quick": self.quick, "budget_seconds": self.budget,
                         "sizes": asdict(self.sizes),
                         "dtypes": {"app_decoders": self.app_dtype, "half_checked": self.half,
                                    "diffusion": self.diffusion_dtype},
                         "tolerances": {"attention_max_abs": ATTENTION_TOLERANCE,
                                        "pixels_max_and_mean_abs": PIXEL_TOLERANCE, "rounding_nats": ROUNDING_NATS}},
            "sections": [asdict(s) for s in self.sections],
            "skipped": self.skipped,
            "checks": [asdict(c) for c in self.checks],
            "figures": [asdict(f) for f in self.figures],
            "passed": bool(self.checks) and all(c.passed for c in self.checks),
            "seconds": round(self.elapsed(), 2),
        }

    def write(self) -> None:
        if self.out is not None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            partial = self.out.with_suffix(self.out.suffix + ".partial")
            partial.write_text(json.dumps(self.report(), indent=2), encoding="utf-8")
            os.replace(partial, self.out)

    def close(self) -> None:
        if not self.keep_scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)


def environment(device: str) -> dict[str, Any]:
    def version(package: str) -> str | None:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return None

    env: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                           "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                           **{name: version(name) for name in ("torch", "transformers", "diffusers", "tokenizers",
                                                               "huggingface-hub", "safetensors", "numpy", "pillow")}}
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(device)
        env.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                   compute_capability=f"{props.major}.{props.minor}", cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version(), bf16_supported=torch.cuda.is_bf16_supported())
    return env


SECTIONS: list[tuple[str, Callable[[Run], None]]] = [
    ("decoding correctness", check_decoding),
    ("attention correctness", check_attention),
    ("diffusion correctness", check_diffusion),
    ("sampling speed", time_sampling),
    ("attention speed", time_attention),
    ("diffusion speed", time_diffusion),
]


# ----------------------------------------------------------------------------------------------- the table


def print_table(report: dict[str, Any]) -> None:
    env = report["environment"]
    print("\n" + "=" * 110)
    where = env.get("gpu") or f"CPU ({env['cpu_count']} cores)"
    print(f"GPU check on {where}: torch {env['torch']}, transformers {env['transformers']}, "
          f"diffusers {env['diffusers']}, Python {env['python']}; {report['seconds']:.0f} s")
    print(f"\n{'section':<24} {'status':<28} {'seconds':>8}")
    for section in report["sections"]:
        print(f"{section['name']:<24} {section['status'][:60]:<28} {section['seconds']:8.1f}")
    for line in report["skipped"]:
        print(f"  {line}")
    print(f"\n{'':4} {'check':<40} {'model':<16} {'dtype':<9} detail")
    for check in report["checks"]:
        print(f"{'PASS' if check['passed'] else 'FAIL':4} {check['name']:<40} {check['model']:<16} {check['dtype']:<9} "
              f"{check['detail']}")
    print(f"\n{'figure':<60} {'value':>12} unit")
    for figure in report["figures"]:
        print(f"{figure['name']:<60} {figure['value']:12.4g} {figure['unit']}")
    failed = sum(not c["passed"] for c in report["checks"])
    print(f"\n{len(report['checks']) - failed} checks passed, {failed} failed; {len(report['figures'])} figures")


def quiet_libraries() -> None:
    """No progress bars or load reports in the table (each library's own switches, where it has them)."""
    import diffusers.utils.logging
    import transformers.utils.logging

    for logging in (transformers.utils.logging, diffusers.utils.logging):
        for switch in ("set_verbosity_error", "disable_progress_bar"):
            if callable(getattr(logging, switch, None)):
                getattr(logging, switch)()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cuda (default when there is one) or cpu")
    parser.add_argument("--quick", action="store_true", help="toy sizes, for the CPU and the test suite")
    parser.add_argument("--out", help="write the table as JSON here (after every section)")
    parser.add_argument("--budget-seconds", type=float, help="skip sections that would not end within this")
    parser.add_argument("--repeats", type=int, help="timed runs per variant (default 3, quick 1)")
    parser.add_argument("--sections", help="comma-separated section names to run (default: all)")
    parser.add_argument("--scratch-dir", help="where the random models are saved, in a folder removed afterwards "
                        "(default: the system's temporary folder)")
    parser.add_argument("--keep-scratch", action="store_true", help="keep that folder")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own; 1 with --device cpu "
                        "--quick, since on a shared CPU two threads wait on each other for seconds)")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda, but torch sees no CUDA GPU here; use --device cpu --quick")
    names = [name for name, _ in SECTIONS]
    if args.sections:
        unknown = [s for s in args.sections.split(",") if s not in names]
        if unknown:
            parser.error(f"unknown sections {unknown}; choose from {names}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threads = args.threads or (1 if args.quick and args.device == "cpu" else None)
    if threads:
        torch.set_num_threads(threads)
    quiet_libraries()
    run = Run(args)
    print(f"GPU check: device {run.device}, decoders in {run.app_dtype} (checked in float32 and {run.half}), "
          f"diffusion in {run.diffusion_dtype}; scratch {run.scratch}; budget {args.budget_seconds or 'none'} s",
          flush=True)
    print(json.dumps(run.environment), flush=True)
    wanted = set(args.sections.split(",")) if args.sections else None
    try:
        for name, function in SECTIONS:
            if wanted is None or name in wanted:
                run.run_section(name, function)
        run.check("environment", "gradio never imported", "-", "-", "gradio" not in sys.modules,
                  "the check imports playground/ and the libraries only")
    finally:
        run.write()
        run.close()
    report = run.report()
    print_table(report)
    errors = [s for s in report["sections"] if s["status"].startswith("error")]
    return 0 if report["passed"] and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
