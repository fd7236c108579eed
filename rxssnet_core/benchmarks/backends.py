# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`rxssnet bench`: our inference backends against the authors' forward, in one process, as one table.

Per variant and input size, every row is built first and then timed in interleaved rounds (each round runs
every row once, `--repeat` rounds after `--warmup`), so a change in machine load hits all rows alike:
    authors' forward    the transcription of the authors' RXSSNet (`benchmarks.reference_forward`), torch eager
                        fp32, random weights: the denominator of every ratio
    ours                `Segmenter` rows: backends x precisions (torch eager, torch channels_last, ONNX Runtime,
                        OpenVINO fp32 / bf16 / int8 (NNCF, calibrated on synthetic scenes of the bench size))

Columns: model ms (the backend call; for the authors, their forward) and its ratio to the authors' forward
measured in the same rounds; end-to-end ms (`Segmenter.segment`: uint8 RGB and X in, labels out, i.e.
normalise + model + argmax + resize back) and frames per second from it. Every table carries the CPU and its
features (AVX2 / AVX-512 / AVX512-FP16 / AMX), the fp32 matmul GFLOP/s measured in the same run, torch and
runtime versions, thread counts and the load average before and after.

Accuracy of the reduced precisions (`--checkpoint` + `--dataset-root`, or `--train-fusion DIR`, which trains
the synthetic fusion model as the tests' `fusion_model` fixture does): each backend/precision against torch
fp32 on the test split: argmax agreement and mIoU difference in points (int8 calibrated on the train split).

    rxssnet bench --variants atto tiny --sizes 480x640 --train-fusion /tmp/fusion
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from rxssnet_core.benchmarks import cpu_features, cpu_name, machine_line, percentile
from rxssnet_core.benchmarks.model_cpu import matmul_gflops
from rxssnet_core.benchmarks.precision_islands import islands_table
from rxssnet_core.benchmarks.reference_forward import ReferenceRXSSNet, randomize_
from rxssnet_core.config import ENCODER_VARIANTS, ModelConfig
from rxssnet_core.data.dataset import build_dataset
from rxssnet_core.data.synthetic import generate_fusion_dataset
from rxssnet_core.errors import UsageError
from rxssnet_core.evaluation.metrics import ConfusionMatrix
from rxssnet_core.inference import Segmenter
from rxssnet_core.inference.backends.base import BackendError, check_choice
from rxssnet_core.inference.backends.openvino_backend import OpenVinoBackend
from rxssnet_core.inference.model_files import parse_size
from rxssnet_core.models.rxssnet import build_model
from rxssnet_core.preprocessing import PreprocessConfig
from rxssnet_core.training import Trainer, load_train_config

# Row backends: a Segmenter backend, or torch in channels_last layout.
BACKEND_CHOICES = ("torch", "torch_channels_last", "onnxruntime", "openvino", "tensorrt")
PRECISION_CHOICES = ("fp32", "fp16", "bf16", "int8")
AUTHORS = "authors"
CALIBRATION_SCENES = 16


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variants", nargs="+", default=["atto"], choices=sorted(ENCODER_VARIANTS),
                        help="encoder variants (default: atto)")
    parser.add_argument("--sizes", nargs="+", default=["480x640"], help="input sizes HxW (default: 480x640)")
    parser.add_argument("--backends", nargs="+", default=["torch", "torch_channels_last", "onnxruntime", "openvino"],
                        choices=BACKEND_CHOICES,
                        help="backends (default: torch torch_channels_last onnxruntime openvino)")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"], choices=PRECISION_CHOICES,
                        help="precisions (default: fp32 bf16 int8); combinations a backend or this CPU cannot "
                             "run are listed below the table with the reason")
    parser.add_argument("--no-authors", action="store_true", help="skip the authors' forward (and the ratios)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="device (default: cpu)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for torch, ONNX Runtime and OpenVINO (default: torch's default)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per row (default 1)")
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds; each round runs every row once "
                        "(default 5)")
    parser.add_argument("--num-classes", type=int, default=9, help="classes K (default 9, MFNet)")
    parser.add_argument("--decoder-dim", type=int, default=None, help="PLPD width (default: the variant's)")
    parser.add_argument("--calibration-dir", default=None,
                        help="int8: RGB/X pairs to calibrate on (default: synthetic scenes of the bench size)")
    parser.add_argument("--checkpoint", default=None, help="accuracy table: a trained checkpoint")
    parser.add_argument("--dataset-root", default=None, help="accuracy table: its dataset (needs --checkpoint)")
    parser.add_argument("--dataset", default="synthetic_fusion", help="accuracy table: dataset name "
                        "(default synthetic_fusion)")
    parser.add_argument("--split", default="test", help="accuracy table: evaluated split (default test)")
    parser.add_argument("--calibration-split", default="train", help="accuracy table: int8 calibration split")
    parser.add_argument("--train-fusion", default=None, metavar="DIR",
                        help="accuracy table: train the synthetic fusion model into DIR first (about 4 minutes on 2 "
                             "cores; reused when DIR already holds it)")
    parser.add_argument("--islands", action="store_true",
                        help="also measure what the fp16 precision plan's fp32 islands cost on --device at the first "
                             "--sizes (benchmarks/precision_islands.py; with --checkpoint, that model too)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the tables")


# ----------------------------------------------------------------------------------------------------------
# Machine


def environment(threads: int) -> dict[str, Any]:
    """CPU, features, matmul throughput, library versions and thread counts, measured now."""
    info: dict[str, Any] = {
        "machine": cpu_name(), "cpu_features": cpu_features(), "cpu_count": os.cpu_count(),
        "torch": torch.__version__, "threads": threads,
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "load_average_before": [round(v, 2) for v in os.getloadavg()],
        "matmul_gflops": round(max(matmul_gflops(2048), matmul_gflops(4096, repeat=3)), 1),
    }
    for module in ("onnxruntime", "openvino", "nncf"):
        try:
            info[module] = __import__(module).__version__
        except ImportError:
            info[module] = None
    return info


# ----------------------------------------------------------------------------------------------------------
# Rows


@dataclass
class Row:
    """One timed row: `run()` -> (model ms, end-to-end ms or None for the authors' bare forward)."""

    label: str
    backend: str
    precision: str
    run: Callable[[], tuple[float, float | None]]
    close: Callable[[], None] = lambda: None


def _authors_row(variant: str, decoder_dim: int, num_classes: int, size: tuple[int, int]) -> Row:
    if size[0] % 32 or size[1] % 32:
        raise UsageError(f"the authors' forward needs height and width multiples of 32, not {size}")
    depths, dims = ENCODER_VARIANTS[variant]
    model = randomize_(ReferenceRXSSNet(size[0], size[1], num_classes, depths, dims, decoder_dim)).eval()
    generator = torch.Generator().manual_seed(0)
    rgb, thermal = torch.randn(1, 3, *size, generator=generator), torch.randn(1, 3, *size, generator=generator)

    def forward() -> tuple[float, None]:
        start = time.perf_counter()
        with torch.inference_mode():
            model(rgb, thermal)
        return (time.perf_counter() - start) * 1e3, None

    return Row("authors' forward (torch eager)", AUTHORS, "fp32", forward)


def _segmenter_row(model: Any, backend: str, precision: str, device: str, size: tuple[int, int],
                   cache_dir: str, calibration_dir: str | None, threads: int) -> Row:
    channels_last = backend == "torch_channels_last"
    segmenter = Segmenter.from_model(
        model, backend="torch" if channels_last else backend, device=device, precision=precision,
        cache_dir=cache_dir, input_size=size, calibration_dir=calibration_dir, channels_last=channels_last,
        metadata={"preprocess": PreprocessConfig(modality="thermal").to_dict()})
    if backend == "openvino" and threads:
        current = segmenter.backend  # same IR, same precision, the bench's thread count
        segmenter.backend = OpenVinoBackend(current.path, device, precision, num_threads=threads,
                                            cache_dir=cache_dir)
        current.close()
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    x = rng.integers(0, 256, size, dtype=np.uint8)
    def segment() -> tuple[float, float]:
        start = time.perf_counter()
        model_ms = segmenter.segment(rgb, x).timing["inference_ms"]
        return model_ms, (time.perf_counter() - start) * 1e3

    label = f"ours, {'torch channels_last' if channels_last else backend} {precision}"
    return Row(label, backend, precision, segment, segmenter.close)


def synthetic_calibration_dir(directory: str | pathlib.Path, size: tuple[int, int], count: int = CALIBRATION_SCENES
                              ) -> pathlib.Path:
    """`count` synthetic RGB-thermal scenes of `size` in the generic layout (rgb/, x/), for int8 speed rows."""
    root = pathlib.Path(directory) / f"calibration-{size[0]}x{size[1]}"
    if not (root / "rgb").is_dir():
        generate_fusion_dataset(root, counts={"calibration": count}, size=size, seed=1, progress=False)
        for extra in ("labels", "splits"):  # only the image pairs are calibration input
            for path in sorted((root / extra).glob("*")):
                path.unlink()
            (root / extra).rmdir()
        (root / "dataset.yaml").unlink(missing_ok=True)
    return root


def _time_rows(rows: list[Row], warmup: int, rounds: int, tick: Callable[[], None]) -> list[dict[str, list[float]]]:
    for row in rows:
        for _ in range(warmup):
            row.run()
            tick()
    samples: list[dict[str, list[float]]] = [{"model": [], "end_to_end": []} for _ in rows]
    for _ in range(rounds):
        for row, sample in zip(rows, samples):
            model_ms, end_to_end_ms = row.run()
            sample["model"].append(model_ms)
            if end_to_end_ms is not None:
                sample["end_to_end"].append(end_to_end_ms)
            tick()
    return samples


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """The timing rows of every variant and size, the skipped combinations and the environment."""
    if args.warmup < 0 or args.repeat < 1:
        raise UsageError(f"--warmup must be >= 0 and --repeat >= 1, got {args.warmup} and {args.repeat}")
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    sizes = [parse_size(s, "--sizes") for s in args.sizes]
    env = environment(threads)
    combos = [(b, p) for b in args.backends for p in args.precisions]
    rows_out: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="rxssnet-bench-") as cache_dir:
        for variant in args.variants:
            torch.manual_seed(0)
            model = build_model(ModelConfig(variant=variant, num_classes=args.num_classes,
                                            decoder_dim=args.decoder_dim)).eval()
            for size in sizes:
                size_text = f"{size[0]}x{size[1]}"
                head = {"variant": variant, "decoder_dim": model.config.decoder_dim, "size": size_text,
                        "device": args.device}
                rows: list[Row] = []
                if not args.no_authors:
                    try:
                        rows.append(_authors_row(variant, model.config.decoder_dim, args.num_classes, size))
                    except ValueError as error:
                        skipped.append({**head, "backend": AUTHORS, "precision": "fp32", "reason": str(error)})
                for backend, precision in tqdm(combos, desc=f"build {variant} {size_text}", unit="row"):
                    calibration = args.calibration_dir
                    try:
                        check_choice("torch" if backend == "torch_channels_last" else backend, args.device,
                                     precision)
                        if precision == "int8" and calibration is None:
                            calibration = str(synthetic_calibration_dir(cache_dir, size))
                        rows.append(_segmenter_row(model, backend, precision, args.device, size, cache_dir,
                                                   calibration, threads))
                    except BackendError as error:
                        skipped.append({**head, "backend": backend, "precision": precision, "reason": str(error)})
                load_start = os.getloadavg()[0]
                with tqdm(total=len(rows) * (args.warmup + args.repeat), desc=f"time {variant} {size_text}",
                          unit="run") as progress:
                    samples = _time_rows(rows, args.warmup, args.repeat, lambda: progress.update(1))
                load_end = os.getloadavg()[0]
                authors_ms = next((percentile(s["model"], 50) for r, s in zip(rows, samples)
                                   if r.backend == AUTHORS), None)
                for row, sample in zip(rows, samples):
                    model_ms = percentile(sample["model"], 50)
                    e2e = percentile(sample["end_to_end"], 50) if sample["end_to_end"] else None
                    rows_out.append({
                        **head, "row": row.label, "backend": row.backend, "precision": row.precision,
                        "model_median_ms": model_ms, "model_p90_ms": percentile(sample["model"], 90),
                        "over_authors": model_ms / authors_ms if authors_ms else None,
                        "end_to_end_median_ms": e2e,
                        "end_to_end_p90_ms": percentile(sample["end_to_end"], 90) if e2e else None,
                        "fps": 1e3 / e2e if e2e else None, "rounds": args.repeat,
                        "load_1min": [round(load_start, 2), round(load_end, 2)]})
                    row.close()
            del model
    env["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    report: dict[str, Any] = {"environment": env, "rows": rows_out, "skipped": skipped}
    if args.checkpoint or args.train_fusion:
        report["accuracy"] = accuracy_report(args)
    return report


# ----------------------------------------------------------------------------------------------------------
# Accuracy of the reduced precisions


def train_fusion_model(directory: str | pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """(checkpoint, dataset root) of the synthetic fusion model, trained as the tests' `fusion_model` fixture
    (config/train/synthetic_fusion.yaml on 64/16/16 scenes of 128x160); reused when `directory` holds it."""
    base = pathlib.Path(directory)
    root, run_dir = base / "data", base / "run"
    final = sorted(run_dir.glob("**/final.safetensors"))  # the end of the schedule, as the fixture scores it
    if final and (root / "dataset.yaml").is_file():
        return final[0], root
    generate_fusion_dataset(root, counts={"train": 64, "val": 16, "test": 16}, size=(128, 160), seed=0,
                            progress=False)
    config_file = pathlib.Path(__file__).resolve().parents[2] / "config" / "train" / "synthetic_fusion.yaml"
    config = load_train_config(config_file, [f"dataset.root={root}", f"output_dir={run_dir}"])
    result = Trainer(config).fit()
    if not result.finished or result.final_path is None:
        raise RuntimeError(f"training the fusion model in {run_dir} did not finish")
    return pathlib.Path(result.final_path), root


def _calibration_folder(dataset: Any, directory: pathlib.Path) -> pathlib.Path:
    """A generic-layout folder (rgb/, x/) of symlinks to a split's image pairs (calibration input)."""
    for index, sample in enumerate(dataset.samples):
        if len(sample.x) != 1:
            raise UsageError(f"int8 calibration needs one X file per sample; {sample.stem} has {len(sample.x)}")
        for kind, source in (("rgb", sample.rgb), ("x", sample.x[0])):
            target = directory / kind / f"{index:05d}{source.suffix}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source.resolve())
    return directory


def accuracy_report(args: argparse.Namespace) -> dict[str, Any]:
    """Every run backend/precision against torch fp32 on `args.split`: label agreement and mIoU."""
    with tempfile.TemporaryDirectory(prefix="rxssnet-bench-accuracy-") as work:
        if args.train_fusion:
            checkpoint, root = train_fusion_model(args.train_fusion)
        else:
            if not args.dataset_root:
                raise UsageError("--checkpoint needs --dataset-root (the dataset to measure accuracy on)")
            checkpoint, root = pathlib.Path(args.checkpoint), pathlib.Path(args.dataset_root)
        evaluated = build_dataset(args.dataset, root, args.split)
        raws = [evaluated.read_raw(i) for i in range(len(evaluated))]
        size = raws[0].rgb.shape[:2]
        calibration = _calibration_folder(build_dataset(args.dataset, root, args.calibration_split),
                                          pathlib.Path(work) / "calibration")
        reference = Segmenter.from_checkpoint(checkpoint, backend="torch")
        num_classes = reference.num_classes

        def run(segmenter: Any) -> tuple[list[np.ndarray], float]:
            labels = [segmenter.segment(raw.rgb, raw.x).labels for raw in raws]
            matrix = ConfusionMatrix(num_classes)
            for raw, label in zip(raws, labels):
                matrix.update(label, raw.label)
            return labels, float(matrix.compute().miou)

        reference_labels, reference_miou = run(reference)
        reference.close()
        rows = [{"backend": "torch", "precision": "fp32", "agreement": 1.0, "miou": reference_miou,
                 "miou_delta_points": 0.0, "status": "ok (reference)"}]
        for backend in args.backends:
            for precision in args.precisions:
                if (backend, precision) == ("torch", "fp32"):
                    continue
                row: dict[str, Any] = {"backend": backend, "precision": precision}
                try:
                    name = "torch" if backend == "torch_channels_last" else backend
                    check_choice(name, args.device, precision)
                    segmenter = Segmenter.from_checkpoint(
                        checkpoint, backend=name, device=args.device, precision=precision,
                        channels_last=backend == "torch_channels_last", cache_dir=work, input_size=size,
                        calibration_dir=str(calibration) if precision == "int8" else None)
                    labels, miou = run(segmenter)
                    segmenter.close()
                except BackendError as error:
                    rows.append({**row, "status": f"not run: {error}"})
                    continue
                agreement = float(np.mean([np.mean(a == b) for a, b in zip(labels, reference_labels)]))
                rows.append({**row, "agreement": agreement, "miou": miou,
                             "miou_delta_points": 100.0 * (miou - reference_miou), "status": "ok"})
    return {"checkpoint": str(checkpoint), "dataset_root": str(root), "split": args.split,
            "images": len(raws), "size": f"{size[0]}x{size[1]}", "calibration_split": args.calibration_split,
            "rows": rows}


# ----------------------------------------------------------------------------------------------------------
# Output


def _ms(value: float | None, digits: int = 0) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def format_table(report: dict[str, Any]) -> str:
    """The report as Markdown: the machine, the speed table, what was not run and why, the accuracy table."""
    env = report["environment"]
    lines = [f"machine: {machine_line()}; fp32 matmul {env['matmul_gflops']} GFLOP/s measured in this run "
             f"({env['threads']} threads); torch {env['torch']}, onnxruntime {env['onnxruntime']}, openvino "
             f"{env['openvino']}, nncf {env['nncf']}; GPU {env['cuda']}; load average before "
             f"{env['load_average_before']}, after {env['load_average_after']}; random weights", "",
             "| variant | size | forward | model median ms | model p90 ms | / authors' forward | end-to-end "
             "median ms | FPS end to end | load (start, end) |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for r in report["rows"]:
        ratio = "" if r["over_authors"] is None else f"{r['over_authors']:.2f}"
        lines.append(f"| {r['variant']} (decoder {r['decoder_dim']}) | {r['size']} | {r['row']} | "
                     f"{_ms(r['model_median_ms'])} | {_ms(r['model_p90_ms'])} | {ratio} | "
                     f"{_ms(r['end_to_end_median_ms'])} | {_ms(r['fps'], 2)} | {r['load_1min']} |")
    rounds = report["rows"][0]["rounds"] if report["rows"] else 0
    lines.append(f"\nmedians of {rounds} interleaved rounds; model = the backend call (the authors: their "
                 "forward); end to end = Segmenter.segment, uint8 images in, labels out")
    for s in report["skipped"]:
        lines.append(f"not run: {s['variant']} {s['size']} {s['backend']} {s['precision']}: {s['reason']}")
    accuracy = report.get("accuracy")
    if accuracy:
        lines += ["", f"Accuracy against torch fp32 on {accuracy['images']} images of the {accuracy['split']} "
                  f"split ({accuracy['size']}, {accuracy['checkpoint']}); int8 calibrated on the "
                  f"{accuracy['calibration_split']} split",
                  "", "| backend | precision | label agreement % | mIoU % | mIoU - fp32 (points) |",
                  "|---|---|---:|---:|---:|"]
        for r in accuracy["rows"]:
            if not r["status"].startswith("ok"):
                lines.append(f"| {r['backend']} | {r['precision']} | {r['status']} | | |")
                continue
            lines.append(f"| {r['backend']} | {r['precision']} | {100 * r['agreement']:.2f} | "
                         f"{100 * r['miou']:.2f} | {r['miou_delta_points']:+.2f} |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    report = run_benchmark(args)
    print(json.dumps(report, indent=1) if args.json else format_table(report))
    if args.islands:
        size = parse_size(args.sizes[0], "--sizes") or (480, 640)
        print("\n" + islands_table(torch.device(args.device), size, args.checkpoint, args.repeat))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rxssnet bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
