"""The training loss: cross-entropy (the paper's), plus an optional soft Dice term.

Cross-entropy weighs every pixel alike, so on small objects a boundary off by one output pixel costs little loss
but much IoU. The soft Dice term (Milletari et al., V-Net, 2016) scores each class by its overlap instead, which
is what mIoU measures; `loss.dice_weight` turns it on (0, the default, is the paper's recipe).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DICE_SMOOTH = 1.0  # keeps the ratio finite and smooth for a class with few pixels in the batch


class SegmentationLoss(nn.Module):
    """cross_entropy(logits, label) + dice_weight * (1 - mean soft Dice over the classes present in `label`).

    logits: (N, K, H, W) float; label: (N, H, W) int64 class ids, `ignore_index` where unlabelled. Ignored
    pixels count in neither term. Returns a scalar.
    """

    def __init__(self, ignore_index: int, dice_weight: float = 0.0) -> None:
        super().__init__()
        if dice_weight < 0:
            raise ValueError(f"dice_weight={dice_weight} must be >= 0")
        self.ignore_index = ignore_index
        self.dice_weight = float(dice_weight)

    def forward(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        loss = F.cross_entropy(logits, label, ignore_index=self.ignore_index)
        if self.dice_weight == 0.0:
            return loss
        return loss + self.dice_weight * soft_dice_loss(logits, label, self.ignore_index)


def soft_dice_loss(logits: torch.Tensor, label: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """1 - mean over the classes present in `label` of 2|P∩T| / (|P| + |T|), with P the softmax probabilities
    and T the one-hot truth, summed over the whole batch. (N, K, H, W), (N, H, W) -> scalar in [0, 1]."""
    num_classes = logits.shape[1]
    valid = (label != ignore_index).unsqueeze(1)  # (N, 1, H, W)
    probs = logits.softmax(dim=1) * valid
    truth = F.one_hot(torch.where(valid.squeeze(1), label, 0), num_classes).permute(0, 3, 1, 2) * valid
    dims = (0, 2, 3)
    overlap = (probs * truth).sum(dims)
    truth_pixels = truth.sum(dims)
    dice = (2.0 * overlap + DICE_SMOOTH) / (probs.sum(dims) + truth_pixels + DICE_SMOOTH)
    present = truth_pixels > 0
    if not bool(present.any()):  # every pixel ignored: cross-entropy is NaN-free only through its own rule
        return logits.sum() * 0.0
    return 1.0 - dice[present].mean()
