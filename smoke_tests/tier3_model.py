"""Tier 3: does a tiny model build, save, load, run, generate and take LoRA in this image?

Runs inside the image with its own Python. Its own code uses the standard library only; the
steps import the image's torch, transformers, peft and bitsandbytes, which is what they test.
Each model is made from a config with tiny sizes, so nothing comes from the hub or the network.
Prints one JSON document (schema 1) on stdout and exits 0: judging the steps happens on the
host. A step either passed (ok), was skipped (with the reason) or failed (with the error's last
line); a step whose prerequisite did not pass is skipped, naming the step that failed.

    python tier3_model.py --arch gpt2 --arch llama [--require-gpu] [--timeout 300]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import json
import math
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

# Run as a script: its own directory is on sys.path, so the tiers import as top-level modules.
import tier2_imports

SCHEMA = 1
TIER = 3
DEFAULT_ARCHES = ("gpt2", "llama")
GPU_REQUIRED = "a GPU is required (--require-gpu) but none is visible"
MAX_ERROR = 500
"""Characters of an error kept: transformers lists every model type it knows in one line."""

SEED = 0
VOCAB = 128
BATCH, SEQ, NEW_TOKENS = 2, 8, 3
SPECIAL = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
GENERIC = {
    "num_hidden_layers": 2,
    "hidden_size": 64,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,  # mistral's default of 8 against 4 heads gives empty attention
    "intermediate_size": 128,
    "max_position_embeddings": 64,
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Arch:
    config: dict[str, Any]
    """Keyword arguments for AutoConfig.for_model, on top of the vocabulary and special ids."""
    lora_targets: tuple[str, ...] | None
    """None lets peft pick its default modules for the model type."""
    fan_in_fan_out: bool = False
    """True where the targets are transformers' Conv1D (weights stored transposed)."""


ARCHES = {
    "gpt2": Arch(
        config={"n_layer": 2, "n_embd": 64, "n_head": 4, "n_inner": 128, "n_positions": 64},
        lora_targets=("c_attn",),
        fan_in_fan_out=True,
    ),
    "llama": Arch(
        config={**GENERIC, "num_key_value_heads": 2},  # grouped-query attention, as real llamas
        lora_targets=("q_proj", "v_proj"),
    ),
}


def arch_for(name: str) -> Arch:
    """A known recipe, or the common sizes for any other model type transformers knows."""
    return ARCHES.get(name) or Arch(config=GENERIC, lora_targets=None)


@dataclasses.dataclass(frozen=True)
class Step:
    step: str
    ok: bool
    skipped: bool
    reason: str | None
    error: str | None
    seconds: float


class Skip(Exception):
    """Raised by a step that cannot run here; needs_gpu marks a skip that --require-gpu fails."""

    def __init__(self, reason: str, *, needs_gpu: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.needs_gpu = needs_gpu


class CheckFailed(Exception):
    """A step ran but its result is wrong."""


class StepTimeout(BaseException):
    """Raised from the alarm; a BaseException so a library's `except Exception` can't eat it."""


def _error(raised: BaseException) -> str:
    line = tier2_imports._cause_line(raised)
    if len(line) <= MAX_ERROR:
        return line
    return f"{line[:MAX_ERROR]}… ({len(line)} characters)"


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """SIGALRM after seconds. Code stuck inside a C call is interrupted only when it returns."""

    def expire(signum: int, frame: object) -> None:
        raise StepTimeout(f"timed out after {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Runner:
    """Runs named steps in order, each under a deadline, and keeps why any did not pass."""

    def __init__(self, *, timeout: float, require_gpu: bool, quiet: bool) -> None:
        self.timeout = timeout
        self.require_gpu = require_gpu
        self.quiet = quiet
        self.steps: list[Step] = []
        self._unmet: dict[str, str] = {}
        self._interrupted: str | None = None
        """Set by a timeout: the alarm may have struck mid-import, so nothing more runs here."""

    def run(self, name: str, action: Callable[[], None], after: Sequence[str] = ()) -> None:
        blocked = self._interrupted or next(
            (self._unmet[dep] for dep in after if dep in self._unmet), None
        )
        started = time.perf_counter()
        reason = error = None
        if blocked is not None:
            reason = blocked
        else:
            try:
                with _deadline(self.timeout):
                    action()
            except Skip as skip:
                if skip.needs_gpu and self.require_gpu:
                    error = GPU_REQUIRED
                else:
                    reason = skip.reason
            except StepTimeout as timeout:
                error = str(timeout)
                self._interrupted = f"{name} timed out"
            except Exception as raised:  # a failing step is a fact to report
                error = _error(raised)
        seconds = round(time.perf_counter() - started, 4)
        ok = reason is None and error is None
        step = Step(name, ok, reason is not None, reason, error, seconds)
        self.steps.append(step)
        if not step.ok:
            self._unmet[name] = reason if reason is not None else f"{name} failed"
        if not self.quiet:
            outcome = "ok" if step.ok else f"SKIPPED: {reason}" if reason else f"FAILED: {error}"
            print(f"tier3: {name} ... {outcome} ({seconds:.2f}s)", file=sys.stderr, flush=True)


@dataclasses.dataclass
class Gpu:
    available: bool = False
    name: str | None = None
    torch_cuda: str | None = None
    torch_hip: str | None = None

    def probe(self) -> None:
        """The gpu/device step: the build's CUDA/HIP versions, then a real op on the device."""
        import torch

        self.torch_cuda = torch.version.cuda
        self.torch_hip = getattr(torch.version, "hip", None)
        self.available = torch.cuda.is_available()
        if not self.available:
            raise Skip("no GPU", needs_gpu=True)
        self.name = torch.cuda.get_device_name(0)
        matrix = torch.arange(16, dtype=torch.float32).reshape(4, 4)
        on_device = (matrix.to("cuda") @ matrix.to("cuda")).cpu()
        torch.cuda.synchronize()
        if not torch.equal(on_device, matrix @ matrix):
            raise CheckFailed(f"a 4x4 matmul on {self.name} differs from the CPU's")


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


class TinyModel:
    """One architecture's steps; each uses what the earlier ones left on the instance."""

    def __init__(self, name: str, folder: Path, gpu: Gpu) -> None:
        self.name = name
        self.arch = arch_for(name)
        self.folder = folder
        self.gpu = gpu
        self.model: Any = None
        self.logits: Any = None

    def _inputs(self) -> tuple[Any, Any]:
        import torch

        generator = torch.Generator().manual_seed(SEED)
        ids = torch.randint(len(SPECIAL), VOCAB, (BATCH, SEQ), generator=generator)
        return ids, torch.ones_like(ids)

    def _check_logits(self, logits: Any) -> None:
        import torch

        if tuple(logits.shape) != (BATCH, SEQ, VOCAB):
            raise CheckFailed(f"logits shape {tuple(logits.shape)}, expected {(BATCH, SEQ, VOCAB)}")
        if not torch.isfinite(logits).all():
            raise CheckFailed("logits hold NaN or infinity")

    def _load(self, **options: Any) -> Any:
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(self.folder, **options)

    def build(self) -> None:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        config = AutoConfig.for_model(self.name, vocab_size=VOCAB, **SPECIAL, **self.arch.config)
        torch.manual_seed(SEED)
        self.model = AutoModelForCausalLM.from_config(config).eval()

    def save(self) -> None:
        self.model.save_pretrained(self.folder, safe_serialization=True)
        files = ("config.json", "model.safetensors")
        missing = [name for name in files if not (self.folder / name).is_file()]
        if missing:
            raise CheckFailed(f"save_pretrained wrote no {', '.join(missing)} in {self.folder}")

    def load(self) -> None:
        import torch

        saved, loaded = self.model.state_dict(), self._load().state_dict()
        if saved.keys() != loaded.keys():
            lost, extra = sorted(saved.keys() - loaded.keys()), sorted(loaded.keys() - saved.keys())
            raise CheckFailed(f"state dict keys changed: lost {lost}, gained {extra}")
        differ = [key for key in saved if not torch.equal(saved[key], loaded[key])]
        if differ:
            raise CheckFailed(f"{len(differ)} of {len(saved)} tensors differ, first {differ[0]}")

    def forward(self) -> None:
        import torch

        ids, mask = self._inputs()
        with torch.no_grad():
            self.logits = self.model(input_ids=ids, attention_mask=mask).logits
        self._check_logits(self.logits)

    def generate(self) -> None:
        import torch

        ids, mask = self._inputs()
        with torch.no_grad():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=NEW_TOKENS,
                min_new_tokens=NEW_TOKENS,  # a random model may pick eos first
                do_sample=False,
                pad_token_id=SPECIAL["pad_token_id"],
            )
        if tuple(out.shape) != (BATCH, SEQ + NEW_TOKENS):
            raise CheckFailed(
                f"generated shape {tuple(out.shape)}, expected {(BATCH, SEQ + NEW_TOKENS)}"
            )
        if not torch.equal(out[:, :SEQ], ids):
            raise CheckFailed("the generated sequences do not start with the prompt")

    def lora(self) -> None:
        """Wrap a fresh copy, then one training step: the loss reaches the adapters only."""
        if not _installed("peft"):
            raise Skip("peft is not installed")
        import torch
        from peft import LoraConfig, get_peft_model

        targets = self.arch.lora_targets
        config = LoraConfig(
            r=4,
            lora_alpha=8,
            lora_dropout=0.0,
            target_modules=None if targets is None else list(targets),
            fan_in_fan_out=self.arch.fan_in_fan_out,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(self._load(), config)
        params = list(model.parameters())
        trainable = sum(p.numel() for p in params if p.requires_grad)
        total = sum(p.numel() for p in params)
        if not 0 < trainable < total:
            raise CheckFailed(f"{trainable} of {total} parameters trainable")
        ids, mask = self._inputs()
        out = model(input_ids=ids, attention_mask=mask, labels=ids)
        self._check_logits(out.logits)
        if not torch.isfinite(out.loss):
            raise CheckFailed(f"loss is {out.loss.item()}")
        out.loss.backward()
        if any(p.grad is not None for p in params if not p.requires_grad):
            raise CheckFailed("a frozen base weight received a gradient")
        if not any(p.grad is not None and p.grad.abs().sum() > 0 for p in params):
            raise CheckFailed("no adapter weight received a gradient")

    def four_bit(self) -> None:
        if not _installed("bitsandbytes"):
            raise Skip("bitsandbytes is not installed")
        if not self.gpu.available:
            raise Skip("no GPU", needs_gpu=True)
        import bitsandbytes
        import torch
        from transformers import BitsAndBytesConfig

        quantization = BitsAndBytesConfig(load_in_4bit=True)
        model = self._load(quantization_config=quantization, device_map={"": 0})
        quantized = sum(isinstance(m, bitsandbytes.nn.Linear4bit) for m in model.modules())
        if not quantized:
            raise CheckFailed("no layer was loaded as bitsandbytes Linear4bit")
        ids, mask = self._inputs()
        with torch.no_grad():
            logits = model(input_ids=ids.to("cuda"), attention_mask=mask.to("cuda")).logits
        self._check_logits(logits)

    def gpu_forward(self) -> None:
        """The same weights on the device give the CPU's logits, within float tolerance."""
        if not self.gpu.available:
            raise Skip("no GPU (torch.cuda.is_available() is False)", needs_gpu=True)
        import torch

        ids, mask = self._inputs()
        model = self.model.to("cuda")
        with torch.no_grad():
            logits = model(input_ids=ids.to("cuda"), attention_mask=mask.to("cuda")).logits.cpu()
        self._check_logits(logits)
        if not torch.allclose(logits, self.logits, rtol=1e-2, atol=1e-2):
            worst = (logits - self.logits).abs().max().item()
            raise CheckFailed(f"GPU logits differ from the CPU's by up to {worst:g}")

    def run(self, runner: Runner) -> None:
        def step(name: str) -> str:
            return f"{self.name}/{name}"

        runner.run(step("build"), self.build)
        runner.run(step("save"), self.save, after=[step("build")])
        runner.run(step("load"), self.load, after=[step("save")])
        runner.run(step("forward"), self.forward, after=[step("build")])
        runner.run(step("generate"), self.generate, after=[step("build")])
        runner.run(step("lora"), self.lora, after=[step("load")])
        runner.run(step("4bit"), self.four_bit, after=[step("load")])
        runner.run(step("gpu-forward"), self.gpu_forward, after=[step("forward")])
        self.model = self.logits = None


def run(
    arches: Sequence[str],
    *,
    timeout: float,
    require_gpu: bool,
    quiet: bool,
    custom: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """The gpu/device probe first (it also pays torch's import), then each architecture,
    then the profile's own steps (`custom/NAME`), each code run in a fresh namespace."""
    runner = Runner(timeout=timeout, require_gpu=require_gpu, quiet=quiet)
    gpu = Gpu()
    runner.run("gpu/device", gpu.probe)
    for name in arches:
        with tempfile.TemporaryDirectory(prefix=f"tier3-{name}-") as folder:
            TinyModel(name, Path(folder), gpu).run(runner)
    for name, code in custom:
        compiled = compile(code, f"<step {name}>", "exec")
        runner.run(f"custom/{name}", lambda c=compiled: exec(c, {"__name__": "__step__"}))
    return {
        "schema": SCHEMA,
        "tier": TIER,
        "gpu": dataclasses.asdict(gpu),
        "steps": [dataclasses.asdict(step) for step in runner.steps],
    }


def _positive(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _step(text: str) -> tuple[str, str]:
    name, sep, code = text.partition("=")
    if not sep or not name.strip() or not code.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=CODE, got {text!r}")
    return name.strip(), code.strip()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--arch",
        dest="arches",
        action="append",
        metavar="MODEL_TYPE",
        help=f"a transformers model type, repeatable (default: {' and '.join(DEFAULT_ARCHES)})",
    )
    parser.add_argument(
        "--require-gpu", action="store_true", help="fail the GPU steps when no GPU is visible"
    )
    parser.add_argument(
        "--step",
        dest="steps",
        action="append",
        default=[],
        type=_step,
        metavar="NAME=CODE",
        help="a step of the profile's own, e.g. app=import myapp; myapp.smoke()",
    )
    parser.add_argument("--timeout", type=_positive, default=300.0, metavar="SECONDS")
    parser.add_argument("--fail-on-broken", action="store_true", help="exit 1 when a step failed")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    # What the libraries print, from Python or from C, goes to stderr: stdout holds the JSON.
    sys.stdout.flush()
    report = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    arches = list(dict.fromkeys(args.arches or DEFAULT_ARCHES))
    document = run(
        arches,
        timeout=args.timeout,
        require_gpu=args.require_gpu,
        quiet=args.quiet,
        custom=args.steps,
    )
    with report:
        report.write(json.dumps(document, indent=2) + "\n")
    failed = [step["step"] for step in document["steps"] if not step["ok"] and not step["skipped"]]
    if failed and not args.quiet:
        print(f"tier3: {len(failed)} failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed and args.fail_on_broken else 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    # The report is written and the exit code decided: a native library crashing in the
    # interpreter's teardown (torch does, after a timeout cut its import short) can't change it.
    os._exit(code)
