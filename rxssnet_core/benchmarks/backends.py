"""`rxssnet bench`: inference latency per backend, precision, input size and variant, as a table.

Timings are `Segmenter.segment` on random uint8 images with random weights (weights do not change the speed
of this network): `inference` is the backend call alone, `total` adds preprocessing and the argmax. The table
ends with the ONNX Runtime / torch eager ratio measured in the same run, and the machine load around it.

    python -m rxssnet_core.benchmarks.backends --variants atto tiny --sizes 480x640
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from collections.abc import Sequence
from typing import Any

BACKEND_CHOICES = ("torch", "onnxruntime", "tensorrt")
PRECISION_CHOICES = ("fp32", "fp16", "bf16", "int8")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rxssnet_core.config import ENCODER_VARIANTS

    parser.add_argument("--variants", nargs="+", default=["atto"], choices=sorted(ENCODER_VARIANTS),
                        help="encoder variants (default: atto)")
    parser.add_argument("--sizes", nargs="+", default=["480x640"], help="input sizes HxW (default: 480x640)")
    parser.add_argument("--backends", nargs="+", default=["torch", "onnxruntime"], choices=BACKEND_CHOICES,
                        help="backends (default: torch onnxruntime)")
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=PRECISION_CHOICES,
                        help="precisions (default: fp32); unsupported combinations are listed as skipped")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="device (default: cpu)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per row (default 2)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per row (default 5)")
    parser.add_argument("--num-classes", type=int, default=9, help="classes K (default 9, MFNet)")
    parser.add_argument("--decoder-dim", type=int, default=None, help="PLPD width (default: the variant's)")
    parser.add_argument("--calibration-dir", default=None,
                        help="int8 (tensorrt): RGB/X pairs to calibrate on")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")


def _percentile(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _environment() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "machine": _cpu_name(), "cpu_count": os.cpu_count(),
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "load_average_before": [round(v, 2) for v in os.getloadavg()],
    }
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        info["onnxruntime"] = None
    return info


def bench_one(model: Any, backend: str, precision: str, device: str, size: tuple[int, int], warmup: int,
              repeat: int, cache_dir: str, calibration_dir: str | None, tick: Any) -> dict[str, Any]:
    """Time `repeat` segment() calls of one backend/precision/size: medians and 90th percentiles (ms)."""
    import numpy as np

    from rxssnet_core.inference import Segmenter
    from rxssnet_core.preprocessing import PreprocessConfig

    segmenter = Segmenter.from_model(
        model, backend=backend, device=device, precision=precision, cache_dir=cache_dir, input_size=size,
        calibration_dir=calibration_dir,
        metadata={"preprocess": PreprocessConfig(modality="thermal").to_dict()})
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    x = rng.integers(0, 256, size, dtype=np.uint8)
    timings = []
    for index in range(warmup + repeat):
        result = segmenter.segment(rgb, x)
        if index >= warmup:
            timings.append(result.timing)
        tick()
    segmenter.close()
    inference = [t["inference_ms"] for t in timings]
    total = [t["total_ms"] for t in timings]
    median_total = _percentile(total, 50)
    return {"inference_median_ms": _percentile(inference, 50), "inference_p90_ms": _percentile(inference, 90),
            "total_median_ms": median_total, "total_p90_ms": _percentile(total, 90),
            "fps": 1000.0 / median_total if median_total > 0 else float("inf")}


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """All rows of the table plus the environment and the ONNX Runtime / torch ratios."""
    import torch
    from tqdm import tqdm

    from rxssnet_core.config import ModelConfig
    from rxssnet_core.inference.backends.base import BackendError, check_choice
    from rxssnet_core.inference.segmenter import parse_size
    from rxssnet_core.models.rxssnet import build_model

    if args.warmup < 0 or args.repeat < 1:
        raise ValueError(f"--warmup must be >= 0 and --repeat >= 1, got {args.warmup} and {args.repeat}")
    sizes = [parse_size(s, "--sizes") for s in args.sizes]
    environment = _environment()
    combos = [(v, s, b, p) for v in args.variants for s in sizes
              for b in args.backends for p in args.precisions]
    rows: list[dict[str, Any]] = []
    progress = tqdm(total=len(combos) * (args.warmup + args.repeat), desc="bench", unit="run")
    with tempfile.TemporaryDirectory(prefix="rxssnet-bench-") as cache_dir:
        for variant in args.variants:
            torch.manual_seed(0)
            model = build_model(ModelConfig(variant=variant, num_classes=args.num_classes,
                                            decoder_dim=args.decoder_dim)).eval()
            for size, backend, precision in ((s, b, p) for v, s, b, p in combos if v == variant):
                row = {"variant": variant, "decoder_dim": model.config.decoder_dim,
                       "size": f"{size[0]}x{size[1]}", "backend": backend, "precision": precision,
                       "device": args.device, "load_1min": round(os.getloadavg()[0], 2)}
                progress.set_postfix_str(f"{variant} {row['size']} {backend} {precision}")
                try:
                    check_choice(backend, args.device, precision)
                    row.update(bench_one(model, backend, precision, args.device, size, args.warmup,
                                         args.repeat, cache_dir, args.calibration_dir,
                                         lambda: progress.update(1)))
                    row["status"] = "ok"
                except BackendError as error:
                    row["status"] = f"skipped: {error}"
                    progress.update(args.warmup + args.repeat)
                rows.append(row)
            del model
    progress.close()
    environment["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    return {"environment": environment, "rows": rows, "ratios": _ratios(rows)}


def _ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ONNX Runtime / torch eager median inference latency for each (variant, size, precision, device)."""
    ok = {(r["variant"], r["size"], r["precision"], r["device"], r["backend"]): r for r in rows
          if r["status"] == "ok"}
    ratios = []
    for (variant, size, precision, device, backend), row in ok.items():
        torch_row = ok.get((variant, size, precision, device, "torch"))
        if backend != "onnxruntime" or torch_row is None:
            continue
        ratio = row["inference_median_ms"] / torch_row["inference_median_ms"]
        ratios.append({"variant": variant, "size": size, "precision": precision, "device": device,
                       "onnxruntime_over_torch": ratio})
    return ratios


def format_table(report: dict[str, Any]) -> str:
    """The report as a Markdown table, then the ratios and the environment."""
    lines = ["| variant | decoder | size | backend | precision | device | inference median ms "
             "| inference p90 ms | total median ms | total p90 ms | FPS | load |",
             "|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        head = f"| {r['variant']} | {r['decoder_dim']} | {r['size']} | {r['backend']} | {r['precision']} | " \
               f"{r['device']} |"
        if r["status"] != "ok":
            lines.append(f"{head} {r['status']} | | | | | {r['load_1min']} |")
            continue
        lines.append(f"{head} {r['inference_median_ms']:.1f} | {r['inference_p90_ms']:.1f} | "
                     f"{r['total_median_ms']:.1f} | {r['total_p90_ms']:.1f} | {r['fps']:.2f} | "
                     f"{r['load_1min']} |")
    lines.append("")
    for ratio in report["ratios"]:
        value = ratio["onnxruntime_over_torch"]
        verdict = f"ONNX Runtime {1 / value:.2f}x faster" if value < 1 else f"torch {value:.2f}x faster"
        lines.append(f"ONNX Runtime / torch eager, {ratio['device']} {ratio['variant']} {ratio['size']} "
                     f"{ratio['precision']} (median inference): {value:.2f} ({verdict})")
    env = report["environment"]
    lines.append(f"machine: {env['machine']}, {env['cpu_count']} CPUs, torch {env['torch']} "
                 f"({env['torch_threads']} threads), onnxruntime {env['onnxruntime']}, GPU {env['cuda']}; "
                 f"load average before {env['load_average_before']}, after {env['load_average_after']} "
                 "(load column: 1-min load average when the row started); random weights")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    report = run_benchmark(args)
    print(json.dumps(report, indent=1) if args.json else format_table(report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rxssnet bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
