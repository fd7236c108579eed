"""The fusion proof: a small RXSSNet trained by the Trainer on synthetic scenes needs X to segment them.

painted_marker is visible only in RGB and warm_person only in thermal (rxssnet_core.data.synthetic). The model
trained with config/train/synthetic_fusion.yaml must reach mIoU >= 0.9 on held-out test scenes, and the SAME
model fed an uninformative X (preprocessing.neutral_x) must lose at least 0.2 mIoU.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_trained_model_uses_both_modalities(tmp_path: Path) -> None:
    from rxssnet_core import load_model
    from rxssnet_core.data import build_dataset
    from rxssnet_core.data.synthetic import WARM_PERSON, generate_fusion_dataset
    from rxssnet_core.evaluation.evaluator import evaluate_model
    from rxssnet_core.training import Trainer, load_train_config

    started = time.perf_counter()
    root = generate_fusion_dataset(tmp_path / "data", counts={"train": 64, "val": 16, "test": 16},
                                   size=(128, 160), seed=0, progress=False)
    config = load_train_config(REPO / "config" / "train" / "synthetic_fusion.yaml",
                               [f"dataset.root={root}", f"output_dir={tmp_path / 'run'}"])
    result = Trainer(config).fit()
    trained = time.perf_counter() - started
    assert result.finished and result.best_path is not None
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    assert {"train/loss", "train/lr", "val/mIoU"} <= set(events.Tags()["scalars"])

    model = load_model(result.best_path)  # the checkpoint selected on the validation split
    test = build_dataset("synthetic_fusion", root, "test")
    fused = evaluate_model(model, test, progress=False)
    neutral = evaluate_model(model, test, neutral_x=True, progress=False)
    print(f"\nfusion proof: {result.global_step} steps, trained in {trained:.0f} s; best epoch {result.best_epoch} "
          f"(val mIoU {result.best_miou:.3f}); test mIoU {fused.miou:.3f} with X, {neutral.miou:.3f} with "
          f"neutral X; per-class {[round(v, 3) for v in fused.iou]} vs {[round(v, 3) for v in neutral.iou]}")
    assert fused.miou >= 0.9
    assert neutral.miou <= fused.miou - 0.2
    # The thermal-only class is what disappears without X.
    assert neutral.iou[WARM_PERSON] < 0.5 * fused.iou[WARM_PERSON]
