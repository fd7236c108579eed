"""The fusion proof: a small RXSSNet trained by the Trainer on synthetic scenes needs X to segment them.

painted_marker is visible only in RGB and warm_person only in thermal (rxssnet_core.data.synthetic). The model
trained with config/train/synthetic_fusion.yaml must reach mIoU >= 0.9 on held-out test scenes, and the SAME
model fed an uninformative X (preprocessing.neutral_x) must lose at least 0.2 mIoU.
"""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_trained_model_uses_both_modalities(fusion_model) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from rxssnet_core import load_model
    from rxssnet_core.data import build_dataset
    from rxssnet_core.data.synthetic import WARM_PERSON
    from rxssnet_core.evaluation.evaluator import evaluate_model

    result = fusion_model.result
    events = EventAccumulator(str(fusion_model.run_dir / "tensorboard"))
    events.Reload()
    assert {"train/loss", "train/lr", "val/mIoU"} <= set(events.Tags()["scalars"])

    model = load_model(fusion_model.checkpoint)  # the checkpoint selected on the validation split
    test = build_dataset("synthetic_fusion", fusion_model.dataset_root, "test")
    fused = evaluate_model(model, test, progress=False)
    neutral = evaluate_model(model, test, neutral_x=True, progress=False)
    print(f"\nfusion proof: {result.global_step} steps, trained in {fusion_model.train_seconds:.0f} s; best epoch "
          f"{result.best_epoch} (val mIoU {result.best_miou:.3f}); test mIoU {fused.miou:.3f} with X, "
          f"{neutral.miou:.3f} with neutral X; per-class {[round(v, 3) for v in fused.iou]} vs "
          f"{[round(v, 3) for v in neutral.iou]}")
    assert fused.miou >= 0.9
    assert neutral.miou <= fused.miou - 0.2
    # The thermal-only class is what disappears without X.
    assert neutral.iou[WARM_PERSON] < 0.5 * fused.iou[WARM_PERSON]
