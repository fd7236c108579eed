# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Score a model on a dataset: confusion matrix over every labelled pixel, reference protocol by default.

The dataset yields normalised tensors at native size ({"rgb", "x", "label"}); logits come from one of the
inference modes and are argmax'ed at label resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from rxssnet_core.degradation import DegradationParams, check_kind, degrade
from rxssnet_core.errors import UsageError
from rxssnet_core.evaluation.inference_modes import class_argmax, infer
from rxssnet_core.evaluation.metrics import ConfusionMatrix, MetricsError, SegmentationMetrics
from rxssnet_core.frame_pipeline import FramePipeline
from rxssnet_core.models.checkpoints import load_model
from rxssnet_core.preprocessing import PreprocessConfig


def load_eval_model(path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """`rxssnet_core.models.checkpoints.load_model` (model files and training checkpoints), ready for eval."""
    return load_model(path, map_location=map_location)


def _dataset_info(dataset: Any) -> Any:
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return getattr(dataset, "info", None)


def dataset_class_names(dataset: Any, num_classes: int) -> list[str]:
    """The dataset's class names when it has a registry entry, else class_0..class_{K-1}."""
    info = _dataset_info(dataset)
    names = list(getattr(info, "class_names", []) or [])
    return names if len(names) == num_classes else [f"class_{i}" for i in range(num_classes)]


def _model_num_classes(model: nn.Module) -> int | None:
    config = getattr(model, "config", None)
    return getattr(config, "num_classes", None)


def dataset_preprocess(dataset: Any, x_channels: int) -> PreprocessConfig:
    """The dataset's preprocessing (what a blank image normalises to), or the default for `x_channels`."""
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    preprocess = getattr(dataset, "preprocess", None)
    return preprocess if isinstance(preprocess, PreprocessConfig) else PreprocessConfig(x_channels=x_channels)


def degrade_batch(rgb: torch.Tensor, x: torch.Tensor, kind: str, preprocess: PreprocessConfig,
                  params: DegradationParams | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`degradation.degrade` on every sample of a batch; x_noise draws from a per-image seed (repeatable)."""
    rgb_out, x_out = [], []
    for index in range(rgb.shape[0]):
        one_rgb, one_x = degrade(rgb[index].cpu().numpy(), x[index].cpu().numpy(), kind, preprocess,
                                 rng=np.random.default_rng([seed, index]), params=params)
        rgb_out.append(torch.from_numpy(np.ascontiguousarray(one_rgb)))
        x_out.append(torch.from_numpy(np.ascontiguousarray(one_x)))
    return (torch.stack(rgb_out).to(device=rgb.device, dtype=rgb.dtype),
            torch.stack(x_out).to(device=x.device, dtype=x.dtype))


@torch.no_grad()
def accumulate_confusion(model: nn.Module, dataset: Dataset, num_classes: int | None = None, *,
                         indices: Sequence[int] | None = None, mode: str = "single",
                         scales: Sequence[float] = (0.75, 1.0, 1.25), flip: bool = False,
                         window: Sequence[int] | None = None, stride: Sequence[int] | None = None,
                         device: torch.device | str | None = None, neutral: bool = False,
                         num_workers: int = 0, progress: bool = False, desc: str = "eval",
                         degradation: str | None = None,
                         degradation_params: DegradationParams | None = None) -> ConfusionMatrix:
    """Confusion matrix of `model` on `dataset` (optionally only `indices`, e.g. one DDP shard).

    degradation: a kind of `rxssnet_core.degradation` applied to every input (x_missing, x_blank, x_noise,
    x_shift, rgb_missing), to score a degraded mode. neutral: the same as degradation="x_missing" (X replaced
    by `preprocessing.neutral_x`, to measure what X contributes).
    The model is put in eval mode and restored to its previous mode afterwards.
    """
    if neutral:
        if degradation not in (None, "x_missing"):
            raise UsageError(f"neutral=True means degradation='x_missing', not {degradation!r}; pass one of them")
        degradation = "x_missing"
    if degradation is not None:
        check_kind(degradation)
    if num_classes is None:
        info = _dataset_info(dataset)
        num_classes = getattr(info, "num_classes", None) or _model_num_classes(model)
    if num_classes is None:
        raise MetricsError("num_classes is unknown: pass it, or use a dataset/model that defines it")
    if device is None:
        device = next(model.parameters()).device
    device = torch.device(device)
    subset = Subset(dataset, list(indices)) if indices is not None else dataset
    matrix = ConfusionMatrix(num_classes, class_names=dataset_class_names(dataset, num_classes))
    if len(subset) == 0:
        return matrix
    loader = DataLoader(subset, batch_size=1, shuffle=False, num_workers=num_workers,
                        generator=torch.Generator(),  # never draw from the global RNG (exact resume)
                        pin_memory=device.type == "cuda")
    preprocess = dataset_preprocess(dataset, getattr(getattr(model, "config", None), "x_channels", 3))
    was_training = model.training
    model.eval()
    try:
        iterator: Any = loader
        if progress:
            iterator = tqdm(loader, desc=desc, unit="img", dynamic_ncols=True, leave=False)
        for position, batch in enumerate(iterator):
            rgb, x = batch["rgb"], batch["x"]
            if degradation is not None:
                rgb, x = degrade_batch(rgb, x, degradation, preprocess, degradation_params, seed=position)
            rgb = rgb.to(device, non_blocking=True)
            x = x.to(device, non_blocking=True)
            label = batch["label"].to(device, non_blocking=True)
            logits = infer(model, rgb, x, mode=mode, scales=scales, flip=flip, window=window, stride=stride)
            if logits.shape[1] != num_classes:
                raise MetricsError(f"the model predicts {logits.shape[1]} classes but the dataset has "
                                   f"{num_classes}; use a checkpoint trained for this dataset")
            if logits.shape[-2:] != label.shape[-2:]:
                logits = torch.nn.functional.interpolate(logits.float(), size=label.shape[-2:], mode="bilinear",
                                                         align_corners=False)
            matrix.update(class_argmax(logits), label)
    finally:
        model.train(was_training)
    return matrix


def evaluate_model(model: nn.Module, dataset: Dataset, mode: str = "single",
                   scales: Sequence[float] = (0.75, 1.0, 1.25), flip: bool = False,
                   window: Sequence[int] | None = None, stride: Sequence[int] | None = None,
                   device: torch.device | str | None = None, neutral_x: bool = False, num_workers: int = 0,
                   progress: bool = True, degradation: str | None = None,
                   degradation_params: DegradationParams | None = None) -> SegmentationMetrics:
    """mIoU, per-class IoU, pixel and mean accuracy of `model` on every image of `dataset`.

    mode: single (the reference protocol) | multiscale (`scales`, `flip`) | sliding (`window`, `stride`).
    neutral_x: feed an uninformative X instead of the real one (fusion ablation; = degradation "x_missing").
    degradation: score a degraded mode (a kind of `rxssnet_core.degradation`, e.g. "rgb_missing").
    """
    matrix = accumulate_confusion(model, dataset, mode=mode, scales=scales, flip=flip, window=window,
                                  stride=stride, device=device, neutral=neutral_x, num_workers=num_workers,
                                  progress=progress, degradation=degradation,
                                  degradation_params=degradation_params)
    return matrix.compute()


def evaluate_pipeline(pipeline: FramePipeline, dataset: Any, progress: bool = True,
                      desc: str = "eval") -> SegmentationMetrics:
    """MIoU etc. of the frame pipeline (the node's per-frame path, on its Segmenter's backend) on every image of
    `dataset` (a `build_dataset` split): its decoded RGB and X arrays in, labels out, scored against the label
    image. X must be registered to RGB (datasets are) unless the pipeline has an aligner.
    """
    num_classes = int(pipeline.segmenter.num_classes)
    info = _dataset_info(dataset)
    if info is not None and info.num_classes != num_classes:
        raise MetricsError(f"the model predicts {num_classes} classes but the dataset has {info.num_classes}; "
                           "use a checkpoint trained for this dataset")
    matrix = ConfusionMatrix(num_classes, class_names=dataset_class_names(dataset, num_classes))
    indices: Any = range(len(dataset))
    if progress:
        indices = tqdm(indices, desc=desc, unit="img", dynamic_ncols=True, leave=False)
    for index in indices:
        raw = dataset.read_raw(index)
        if raw.label is None:
            continue  # nothing to score; `rxssnet predict` writes its labels
        matrix.update(pipeline.run(raw.rgb, raw.x).labels, raw.label)
    return matrix.compute()
