# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""fp32 islands for fp16 inference, chosen from activation ranges measured on calibration images.

Whether an RXSSNet stays inside fp16's range (65504) depends on its trained weights, not only on its
architecture: CGPI's linear attention divides by q . mean_m k_m + 1e-6, which a model can drive towards 0 while
RoPE still couples q and k in the numerator, and its output then reaches 1e6..1e8 in fp32. Which modules need
fp32 is therefore measured, per model:

1. measure (`measure_ranges`): the fp32 model runs on calibration images; forward hooks record the largest
   |input| and |output| of every module (a module called several times keeps the maximum over its calls).
2. decide (`plan_fp32_islands`): a module that holds parameters and whose input or output passes `bound`
   (`FP16_SAFE_BOUND` = 2^13, 8x headroom under 65504) computes in fp32, weights included. While its output is
   large it stays fp32, so the additions after it run in fp32 by type promotion and the next modules that read
   it are islands themselves; the first module whose output is small again (a LayerNorm, a normalised output)
   hands fp16 back. The reductions over all pixels or tokens (`onnx_precision.FP32_SCOPES`, LayerNorm) compute
   in fp32 whatever the plan says.
3. verify (`calibrate_precision`): the fp16 model with these islands runs on the same images. If a value goes
   non-finite, the module where it first happened (or, when a module's input arrives non-finite, the module
   whose own code made it) is added whole and the check repeats. The plan records the fp16-vs-fp32 agreement.

A plan is plain data (`PrecisionPlan.to_dict`): it goes into an exported file's metadata, and the torch fp16
path (`half_precision_model`) and the fp16 ONNX graph (`onnx_precision.plan_fp32_node_names`) both follow it, so
what runs on the robot is what was measured on the desktop. `readiness_report` prints it.
"""

from __future__ import annotations

import copy
import dataclasses
import pathlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from rxssnet_core.calibration_images import calibration_inputs
from rxssnet_core.errors import RXSSNetError
from rxssnet_core.preprocessing import PreprocessConfig

FP16_MAX = float(torch.finfo(torch.float16).max)
# A module whose input or output passes this computes in fp32: 8x under fp16's largest value, room for the
# inputs a calibration set did not contain.
FP16_SAFE_BOUND = 2.0 ** 13
# An fp16 artefact whose labels agree with fp32 on fewer calibration pixels than this is refused.
MIN_FP16_AGREEMENT = 0.995
# Calibration images of a plan made by `precision_plan_for` (each runs in fp32 and in fp16).
PLAN_IMAGES = 8
# Rounds of "a value went non-finite: keep that module in fp32 too" before the plan gives up.
MAX_VERIFY_ROUNDS = 8
PLAN_FORMAT = 1


class PrecisionPlanError(RXSSNetError, ValueError):
    """A model that fp16 cannot run to the required agreement, or a plan that does not fit the model."""


@dataclasses.dataclass(frozen=True)
class ActivationRange:
    """Largest |input| and |output| a module saw over the calibration images (floating tensors only)."""

    max_input: float
    max_output: float

    def exceeds(self, bound: float) -> bool:
        return self.max_input > bound or self.max_output > bound


@dataclasses.dataclass(frozen=True)
class PrecisionPlan:
    """Which modules of one model compute in fp32 when the rest runs in fp16, and why.

    fp32_modules: module paths (`cgpi.3.block.attn`) computing in fp32 with fp32 weights, whole subtrees.
    fp32_outputs: those whose output stays fp32 (still past `bound`); the others hand fp16 back.
    ranges: the calibration's ActivationRange of every module (path -> range); "" is the whole model.
    calibration: where the images came from ({"source", "images", "size"}).
    finite, agreement: the fp16 model's share of finite logits and of labels equal to fp32's on those images.
    """

    bound: float
    fp32_modules: tuple[str, ...]
    fp32_outputs: tuple[str, ...]
    ranges: dict[str, ActivationRange]
    calibration: dict[str, Any]
    finite: float
    agreement: float
    precision: str = "fp16"

    def to_dict(self, all_ranges: bool = False) -> dict[str, Any]:
        """JSON-ready; the ranges of the islands and of the report's blocks unless `all_ranges`."""
        keep = set(self.ranges) if all_ranges else {*self.fp32_modules, *(b for b, _ in report_blocks(self))}
        return {
            "format": PLAN_FORMAT, "precision": self.precision, "bound": self.bound,
            "fp32_modules": list(self.fp32_modules), "fp32_outputs": list(self.fp32_outputs),
            "ranges": {path: [r.max_input, r.max_output] for path, r in self.ranges.items() if path in keep},
            "calibration": dict(self.calibration), "finite": self.finite, "agreement": self.agreement,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PrecisionPlan:
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            raise PrecisionPlanError(f"not a precision plan of format {PLAN_FORMAT}: {str(data)[:80]!r}; "
                                     "export the model again with this version")
        return cls(bound=float(data["bound"]), fp32_modules=tuple(data["fp32_modules"]),
                   fp32_outputs=tuple(data["fp32_outputs"]),
                   ranges={p: ActivationRange(float(r[0]), float(r[1])) for p, r in data["ranges"].items()},
                   calibration=dict(data["calibration"]), finite=float(data["finite"]),
                   agreement=float(data["agreement"]), precision=str(data.get("precision", "fp16")))


# ----------------------------------------------------------------------------------------------------------
# Measuring


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        if value.is_floating_point():
            yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


def _max_abs(value: Any) -> float:
    # nan_to_num: a non-finite value counts as past every bound, not as a comparison that is always false
    return max((float(t.detach().float().nan_to_num(posinf=np.inf, neginf=-np.inf).abs().max())
                for t in _tensors(value) if t.numel()), default=0.0)


def measure_ranges(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
                   ) -> dict[str, ActivationRange]:
    """Largest |input| and |output| of every module of the fp32 `model` over `batches` of (rgb, x)."""
    seen: dict[str, list[float]] = {}

    def record(name: str) -> Any:
        def hook(_module: nn.Module, inputs: Any, output: Any) -> None:
            entry = seen.setdefault(name, [0.0, 0.0])
            entry[0] = max(entry[0], _max_abs(inputs))
            entry[1] = max(entry[1], _max_abs(output))
        return hook

    handles = [module.register_forward_hook(record(name)) for name, module in model.named_modules()]
    try:
        with torch.no_grad():
            for rgb, x in batches:
                model(rgb, x)
    finally:
        for handle in handles:
            handle.remove()
    return {name: ActivationRange(*values) for name, values in seen.items()}


# ----------------------------------------------------------------------------------------------------------
# Deciding and applying


def module_structure(model: nn.Module) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """(module path -> {child name: child}, paths of the modules holding parameters): what
    `onnx_precision.plan_fp32_node_names` needs to type an exported graph like `half_precision_model`.
    """
    named = dict(model.named_modules())
    return ({path: dict(module.named_children()) for path, module in named.items()},
            {path for path, module in named.items() if owns_parameters(module)})


def owns_parameters(module: nn.Module) -> bool:
    """A module whose own forward multiplies by its weights: its inputs must have its weights' dtype."""
    return any(True for _ in module.parameters(recurse=False))


def _covered(path: str, roots: Iterable[str]) -> bool:
    return any(path == root or path.startswith(root + ".") for root in roots)


def plan_fp32_islands(model: nn.Module, ranges: dict[str, ActivationRange], bound: float = FP16_SAFE_BOUND,
                      extra: Sequence[str] = ()) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(fp32_modules, fp32_outputs) from measured ranges: every parameter-holding module whose input or output
    passes `bound`, plus `extra` (modules the verification added), reduced to the outermost of nested ones.
    """
    def hot_output(name: str) -> bool:
        return name in ranges and ranges[name].max_output > bound

    modules = dict(model.named_modules())
    # A module with weights computes in fp32 when it reads or writes large values; one without weights only
    # when its own code makes them (none of its submodules' outputs explains its large output).
    chosen = {name for name, module in modules.items() if name and name in ranges and (
        ranges[name].exceeds(bound) if owns_parameters(module) else
        hot_output(name) and not any(hot_output(f"{name}.{child}") for child, _ in module.named_modules()
                                     if child))}
    chosen |= set(extra)
    roots = tuple(sorted(name for name in chosen if not any(name.startswith(other + ".") for other in chosen)))
    outputs = tuple(name for name in roots if name in ranges and ranges[name].max_output > bound)
    return roots, outputs


def _cast_floats(value: Any, dtype: torch.dtype) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(dtype) if value.is_floating_point() and value.dtype != dtype else value
    if isinstance(value, tuple):
        return tuple(_cast_floats(item, dtype) for item in value)
    if isinstance(value, list):
        return [_cast_floats(item, dtype) for item in value]
    return value


def _cast_inputs_to_own_dtype(module: nn.Module, inputs: tuple[Any, ...]) -> tuple[Any, ...]:
    return _cast_floats(inputs, next(module.parameters(recurse=False)).dtype)


def _output_caster(dtype: torch.dtype) -> Any:
    def hook(_module: nn.Module, _inputs: Any, output: Any) -> Any:
        return _cast_floats(output, dtype)
    return hook


def half_precision_model(model: nn.Module, dtype: torch.dtype = torch.float16,
                         fp32_modules: Sequence[str] = (), fp32_outputs: Sequence[str] = ()) -> nn.Module:
    """A copy of `model` in `dtype` whose `fp32_modules` compute in fp32 (the one torch half-precision path).

    Each island module casts its inputs to fp32; those not in `fp32_outputs` cast their output back to `dtype`.
    When an island's output stays fp32, every parameter-holding module casts its inputs to its weights' dtype,
    so fp32 values reach fp16 weights only where the plan found them small. Inputs may be fp32 or `dtype`.
    The caller's model is not changed.
    """
    half = copy.deepcopy(model).eval().to(dtype)
    modules = dict(half.named_modules())
    unknown = [path for path in (*fp32_modules, *fp32_outputs) if path not in modules]
    if unknown:
        raise PrecisionPlanError(f"the precision plan names modules this model does not have: {unknown[:3]}; "
                                 "was it made for another model? Export again from this checkpoint")
    for path in fp32_modules:
        modules[path].float()
    stays_fp32 = set(fp32_outputs)
    for name, module in modules.items():
        island_root = name in fp32_modules
        if island_root:
            module.register_forward_pre_hook(lambda _m, inputs: _cast_floats(inputs, torch.float32))
        elif owns_parameters(module) and (stays_fp32 or _covered(name, fp32_modules)):
            module.register_forward_pre_hook(_cast_inputs_to_own_dtype)
        if island_root and name not in stays_fp32:
            module.register_forward_hook(_output_caster(dtype))
    half.register_forward_pre_hook(lambda _m, inputs: _cast_floats(inputs, dtype))  # fp32 from the caller
    return half


# ----------------------------------------------------------------------------------------------------------
# Verifying


def _first_nonfinite(model: nn.Module, rgb: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, str | None]:
    """Logits of `model`, and the module whose own computation first produced a non-finite value (None: none).

    A module whose inputs are finite and whose output is not made it; a module whose input arrives non-finite
    got it from its parent's own code (an addition between children, say), so the parent is named.
    """
    names = {module: name for name, module in model.named_modules()}
    found: list[str] = []
    running: list[str] = []  # the modules whose forward is under way, outermost first

    def before(module: nn.Module, inputs: Any) -> None:
        if not found and running and any(not bool(torch.isfinite(t).all()) for t in _tensors(inputs)):
            found.append(running[-1])
        running.append(names[module])

    def after(module: nn.Module, inputs: Any, output: Any) -> None:
        running.pop()
        if not found and any(not bool(torch.isfinite(t).all()) for t in _tensors(output)):
            found.append(names[module])

    handles = [h for m in names for h in (m.register_forward_pre_hook(before), m.register_forward_hook(after))]
    try:
        with torch.no_grad():
            logits = model(rgb, x)
    finally:
        for handle in handles:
            handle.remove()
    return logits, (found[0] if found else None)


def agreement_with(reference: Sequence[torch.Tensor], logits: Sequence[torch.Tensor]) -> tuple[float, float]:
    """(share of finite logits, share of argmax labels equal to the reference's) over all images."""
    finite = [torch.isfinite(out).float().mean().item() for out in logits]
    equal = [(out.float().argmax(1) == ref.argmax(1)).float().mean().item() for out, ref in zip(logits, reference)]
    return float(np.mean(finite)), float(np.mean(equal))


def calibrate_precision(model: nn.Module, batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
                        calibration: dict[str, Any], bound: float = FP16_SAFE_BOUND,
                        progress: Any = None) -> PrecisionPlan:
    """Measure, decide and verify (module docstring) on `batches` of fp32 (rgb, x); the fp32 `model` is not
    changed. `calibration` describes the images for the record. `progress(message)` hears each step.
    """
    say = progress or (lambda _message: None)
    model = model.eval()
    say(f"measuring activation ranges on {len(batches)} calibration batch(es)")
    ranges = measure_ranges(model, batches)
    with torch.no_grad():
        reference = [model(rgb, x) for rgb, x in batches]
    extra: list[str] = []
    for _ in range(MAX_VERIFY_ROUNDS):
        roots, outputs = plan_fp32_islands(model, ranges, bound, extra)
        half = half_precision_model(model, torch.float16, roots, outputs)
        say(f"checking fp16 with {len(roots)} fp32 island(s)")
        logits, culprit = [], None
        for rgb, x in batches:
            out, where = _first_nonfinite(half, rgb, x)
            logits.append(out)
            culprit = culprit or where
        say(f"  first non-finite value: {culprit or 'none'}")
        if culprit is None or culprit == "" or _covered(culprit, roots):
            break  # finite; or nothing smaller than the whole model, or than an island, is left to add
        extra.append(culprit)
    finite, agreement = agreement_with(reference, logits)
    return PrecisionPlan(bound=bound, fp32_modules=roots, fp32_outputs=outputs, ranges=ranges,
                         calibration=dict(calibration), finite=finite, agreement=agreement)


# ----------------------------------------------------------------------------------------------------------
# Reporting


def report_blocks(plan: PrecisionPlan) -> list[tuple[str, ActivationRange]]:
    """The network's blocks (encoder stages, CRM, CGPI and LAM per stage, decoder) with their largest ranges."""
    blocks: list[tuple[str, ActivationRange]] = []
    prefixes = ("encoder_rgb.stem", "encoder_x.stem", "encoder_rgb.stages.", "encoder_x.stages.", "crm",
                "cgpi.", "lam.", "decoder")
    for path in plan.ranges:
        if any(path == p or (p.endswith(".") and path.startswith(p) and path.count(".") == p.count("."))
               for p in prefixes):
            inside = [r for other, r in plan.ranges.items() if other == path or other.startswith(path + ".")]
            blocks.append((path, ActivationRange(max(r.max_input for r in inside),
                                                 max(r.max_output for r in inside))))
    return blocks


def readiness_report(plan: PrecisionPlan, min_agreement: float = MIN_FP16_AGREEMENT) -> str:
    """The fp16 readiness report: per-block max |activation| against fp16's range, the fp32 islands, and the
    measured fp16-vs-fp32 agreement.
    """
    calib = plan.calibration
    lines = [f"fp16 readiness (bound {plan.bound:g} = fp16 max / {FP16_MAX / plan.bound:.0f}; calibration: "
             f"{calib.get('images', '?')} image(s) at {'x'.join(map(str, calib.get('size', ())))} from "
             f"{calib.get('source', '?')})",
             f"{'block':<28}{'max |activation|':>18}{'of fp16 max':>14}  fp32 islands"]
    for block, rng in report_blocks(plan):
        peak = max(rng.max_input, rng.max_output)
        islands = [p for p in plan.fp32_modules if p == block or p.startswith(block + ".")]
        lines.append(f"{block:<28}{peak:>18.4g}{100 * peak / FP16_MAX:>13.2f}%  "
                     f"{', '.join(p[len(block) + 1:] or '(whole)' for p in islands) or '-'}")
    if plan.fp32_modules:
        lines.append("fp32 islands (max |in| / max |out|; 'stays fp32': its output is still past the bound):")
        for path in plan.fp32_modules:
            rng = plan.ranges.get(path, ActivationRange(float("nan"), float("nan")))
            tail = "  stays fp32" if path in plan.fp32_outputs else ""
            lines.append(f"  {path:<40}{rng.max_input:>12.4g} /{rng.max_output:>12.4g}{tail}")
    else:
        lines.append("fp32 islands: none (beyond the reductions that always run in fp32)")
    verdict = "ok" if plan.finite == 1.0 and plan.agreement >= min_agreement else "REFUSED"
    lines.append(f"fp16 vs fp32 on the calibration images: {100 * plan.finite:.3f} % finite, label agreement "
                 f"{100 * plan.agreement:.3f} % (required >= {100 * min_agreement:.1f} %): {verdict}")
    return "\n".join(lines)


def check_ready(plan: PrecisionPlan, min_agreement: float = MIN_FP16_AGREEMENT) -> None:
    """Raise PrecisionPlanError unless the plan's fp16 model is finite and agrees with fp32 well enough."""
    if plan.finite < 1.0 or plan.agreement < min_agreement:
        raise PrecisionPlanError(
            f"fp16 refused: on the calibration images the fp16 model is {100 * plan.finite:.3f} % finite and agrees "
            f"with fp32 on {100 * plan.agreement:.3f} % of the labels (required 100 % and >= "
            f"{100 * min_agreement:.1f} %). Deploy in fp32 or bf16, or calibrate on images from the robot "
            "(--calibration-dir)")


def precision_plan_for(model: Any, size: tuple[int, int], calibration_dir: str | pathlib.Path | None = None,
                       images: int = PLAN_IMAGES, progress: bool = True, bound: float = FP16_SAFE_BOUND
                       ) -> PrecisionPlan:
    """The fp16 precision plan of `model` at `size` (`rxssnet_core.precision_plan`), calibrated on the pairs in
    `calibration_dir`, else on synthetic scenes; preprocessed with the model's own preprocessing.
    """
    preprocess = PreprocessConfig.from_dict((getattr(model, "metadata", None) or {}).get("preprocess") or {})
    x_channels = int(getattr(getattr(model, "config", None), "x_channels", 3))
    arrays, described = calibration_inputs(preprocess, size, x_channels, calibration_dir, images, progress)
    device = next(model.parameters()).device  # calibrate where the model runs (a GPU does it in a second)
    batches = [(torch.from_numpy(arrays["rgb"][i:i + 1]).to(device), torch.from_numpy(arrays["x"][i:i + 1]).to(device))
               for i in range(len(arrays["rgb"]))]
    return calibrate_precision(model.eval(), batches, described, bound, progress=print if progress else None)
