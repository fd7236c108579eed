"""Score a model on a dataset: confusion matrix over every labelled pixel, reference protocol by default.

The dataset yields normalised tensors at native size ({"rgb", "x", "label"}); logits come from one of the
inference modes and are argmax'ed at label resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from rxssnet_core.evaluation.inference_modes import infer
from rxssnet_core.evaluation.metrics import ConfusionMatrix, MetricsError, SegmentationMetrics
from rxssnet_core.preprocessing import PreprocessConfig, neutral_x


def load_eval_model(path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """A model file (`save_model` output) or a training checkpoint (`checkpoints/last.pt`), ready for eval.

    Training checkpoints carry the model configuration and metadata, so a run can be scored before it ends.
    """
    from rxssnet_core import build_model, load_model
    from rxssnet_core.config import ModelConfig
    from rxssnet_core.training.checkpointing import CHECKPOINT_FORMAT, CheckpointError, load_training_checkpoint

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if path.suffix in (".pt", ".pth"):
        try:
            state = load_training_checkpoint(path, map_location="cpu")
        except CheckpointError:
            state = None  # not a training checkpoint: a plain model file, handled by load_model below
        if state is not None and state.get("format") == CHECKPOINT_FORMAT and state.get("model_config"):
            model = build_model(ModelConfig.from_dict(dict(state["model_config"])))
            model.load_state_dict(state["model"])
            model.metadata = dict(state.get("metadata") or {})
            return model.to(map_location).eval()
    return load_model(path, map_location=map_location).eval()


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


def _uninformative_x(x: torch.Tensor) -> torch.Tensor:
    # preprocessing.neutral_x: every pixel at the normalisation mean (0 in network space).
    batch, channels, height, width = x.shape
    one = torch.from_numpy(neutral_x(height, width, PreprocessConfig(x_channels=channels)))
    return one.to(device=x.device, dtype=x.dtype).unsqueeze(0).expand(batch, -1, -1, -1).contiguous()


@torch.no_grad()
def accumulate_confusion(model: nn.Module, dataset: Dataset, num_classes: int | None = None, *,
                         indices: Sequence[int] | None = None, mode: str = "single",
                         scales: Sequence[float] = (0.75, 1.0, 1.25), flip: bool = False,
                         window: Sequence[int] | None = None, stride: Sequence[int] | None = None,
                         device: torch.device | str | None = None, neutral: bool = False,
                         num_workers: int = 0, progress: bool = False, desc: str = "eval") -> ConfusionMatrix:
    """Confusion matrix of `model` on `dataset` (optionally only `indices`, e.g. one DDP shard).

    neutral: replace X by `preprocessing.neutral_x` (an uninformative X) to measure what X contributes.
    The model is put in eval mode and restored to its previous mode afterwards.
    """
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
    was_training = model.training
    model.eval()
    try:
        iterator: Any = loader
        if progress:
            from tqdm import tqdm

            iterator = tqdm(loader, desc=desc, unit="img", dynamic_ncols=True, leave=False)
        for batch in iterator:
            rgb = batch["rgb"].to(device, non_blocking=True)
            x = batch["x"].to(device, non_blocking=True)
            label = batch["label"].to(device, non_blocking=True)
            if neutral:
                x = _uninformative_x(x)
            logits = infer(model, rgb, x, mode=mode, scales=scales, flip=flip, window=window, stride=stride)
            if logits.shape[1] != num_classes:
                raise MetricsError(f"the model predicts {logits.shape[1]} classes but the dataset has "
                                   f"{num_classes}; use a checkpoint trained for this dataset")
            if logits.shape[-2:] != label.shape[-2:]:
                logits = torch.nn.functional.interpolate(logits.float(), size=label.shape[-2:], mode="bilinear",
                                                         align_corners=False)
            matrix.update(logits.argmax(dim=1), label)
    finally:
        model.train(was_training)
    return matrix


def evaluate_model(model: nn.Module, dataset: Dataset, mode: str = "single",
                   scales: Sequence[float] = (0.75, 1.0, 1.25), flip: bool = False,
                   window: Sequence[int] | None = None, stride: Sequence[int] | None = None,
                   device: torch.device | str | None = None, neutral_x: bool = False, num_workers: int = 0,
                   progress: bool = True) -> SegmentationMetrics:
    """mIoU, per-class IoU, pixel and mean accuracy of `model` on every image of `dataset`.

    mode: single (the reference protocol) | multiscale (`scales`, `flip`) | sliding (`window`, `stride`).
    neutral_x: feed an uninformative X instead of the real one (fusion ablation).
    """
    matrix = accumulate_confusion(model, dataset, mode=mode, scales=scales, flip=flip, window=window,
                                  stride=stride, device=device, neutral=neutral_x, num_workers=num_workers,
                                  progress=progress)
    return matrix.compute()
