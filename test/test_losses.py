"""The training loss: cross-entropy, plus the soft Dice term of `loss.dice_weight`."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rxssnet_core.training.config import TrainConfig, TrainConfigError
from rxssnet_core.training.losses import SegmentationLoss, soft_dice_loss

IGNORE = 255


def confident_logits(label: torch.Tensor, num_classes: int, scale: float = 40.0) -> torch.Tensor:
    """(N, K, H, W) logits whose argmax is `label` with a softmax of ~1 (ignored pixels: class 0)."""
    return F.one_hot(torch.where(label == IGNORE, 0, label), num_classes).permute(0, 3, 1, 2).float() * scale


def test_dice_term_is_zero_for_a_perfect_prediction_and_known_for_a_uniform_one() -> None:
    label = torch.tensor([[[0, 1], [2, IGNORE]]])
    assert float(soft_dice_loss(confident_logits(label, 3), label, IGNORE)) == pytest.approx(0.0, abs=1e-6)
    # Uniform softmax (1/3 each) over the 3 labelled pixels: per class overlap 1/3, predicted mass 1, truth 1,
    # so Dice = (2/3 + 1) / (1 + 1 + 1) = 5/9 for each of the three classes present.
    assert float(soft_dice_loss(torch.zeros(1, 3, 2, 2), label, IGNORE)) == pytest.approx(1 - 5 / 9)


def test_dice_term_ignores_unlabelled_pixels_and_absent_classes() -> None:
    label = torch.tensor([[[0, 0], [1, IGNORE]]])
    logits = confident_logits(label, 4)
    changed = logits.clone()
    changed[0, :, 1, 1] = torch.tensor([0.0, 0.0, 0.0, 90.0])  # the ignored pixel now says class 3
    for candidate in (logits, changed):
        assert float(soft_dice_loss(candidate, label, IGNORE)) == pytest.approx(0.0, abs=1e-6)
    # A mistake on a labelled pixel does count: class 1's only pixel predicted as class 0.
    wrong = confident_logits(torch.tensor([[[0, 0], [0, IGNORE]]]), 4)
    assert float(soft_dice_loss(wrong, label, IGNORE)) > 0.3
    everything_ignored = torch.full((1, 2, 2), IGNORE)
    assert float(soft_dice_loss(torch.randn(1, 4, 2, 2), everything_ignored, IGNORE)) == 0.0


def test_segmentation_loss_adds_the_weighted_dice_term_to_cross_entropy() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 8, 8, requires_grad=True)
    label = torch.randint(0, 4, (2, 8, 8))
    label[0, 0, :] = IGNORE
    cross_entropy = F.cross_entropy(logits, label, ignore_index=IGNORE)
    assert torch.equal(SegmentationLoss(IGNORE)(logits, label), cross_entropy)  # the paper's loss by default
    dice = soft_dice_loss(logits, label, IGNORE)
    combined = SegmentationLoss(IGNORE, dice_weight=0.5)(logits, label)
    assert float(combined.detach()) == pytest.approx(float((cross_entropy + 0.5 * dice).detach()))
    combined.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_negative_dice_weight_is_refused_naming_the_key() -> None:
    with pytest.raises(TrainConfigError, match=r"loss\.dice_weight=-1\.0 must be >= 0"):
        TrainConfig.from_dict({"dataset": {"name": "mfnet"}, "loss": {"dice_weight": -1.0}})
    with pytest.raises(ValueError, match="dice_weight"):
        SegmentationLoss(IGNORE, dice_weight=-0.1)
