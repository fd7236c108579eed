# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""How much labelling one RGB-X pair would teach the model, and which pairs to label: the one definition.

`rxssnet bag mine` (rxssnet_ros.bag_tools.mining) scores every pair of a recording with `score_frame` and picks
with `select_pairs`; the ROS node puts the same `score_frame` result in ~/frame_timing's JSON (`labelling`), so a
recorder can keep the frames the miner would pick. Only numpy (and the Segmenter API): the node's torch-free
runtime imports this.

Per pair (all terms in [0, 1]):
  uncertainty    mean (1 - max softmax probability) / (1 - 1/K): 0 when every pixel is certain, 1 when every
                 pixel's best class is no likelier than chance (the least-confidence measure of active learning;
                 `confidence_from_logits` gives the max probability from logits)
  low_confidence share of pixels whose max probability is below `ScoreWeights.low_confidence_below`
  disagreement   share of pixels whose fused label differs from the RGB-only label (X replaced by the neutral X,
                 `preprocessing.neutral_x`, as in the node's rgb_only mode): a frame where X changes the answer
  rarity         the classes it predicts, rare ones counting more: sum over classes of w_c * min(1, share_c /
                 `present_share`), with w_c proportional to 1 / prior_c (normalised to sum to 1). The prior is the
                 checkpoint's recorded training class shares (metadata "class_shares") when it has them, else
                 uniform (then rarity is the fraction of the K classes present)
  score          the weighted mean of uncertainty, low_confidence and disagreement (`ScoreWeights`), times
                 (1 + rarity_weight * rarity): rare classes raise an informative frame, but a frame the model is
                 sure about stays uninteresting however many classes it shows. (An additive rarity term, tried
                 first, ranked confidently-wrong night frames below day frames that merely showed more classes.)

Selection (`select_pairs`): the highest scores first, skipping a pair closer than `min_gap_s` in time or
`min_distance` in a cheap embedding (`thumbnail_embedding`: a small grey RGB and X thumbnail, standardised) to
one already picked; when that leaves fewer than the budget, the spacing is halved and the rest filled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

EMBEDDING_SIZE = (8, 6)  # (width, height) of each thumbnail in the embedding
MIN_GAP_HALVINGS = 6  # spacing is relaxed at most this often before the budget is filled by score alone


@dataclass(frozen=True)
class ScoreWeights:
    """Weights of the score's terms and the thresholds they use."""

    uncertainty: float = 1.0
    low_confidence: float = 1.0
    disagreement: float = 0.25
    rarity: float = 0.5
    low_confidence_below: float = 0.6
    present_share: float = 0.01

    def __post_init__(self) -> None:
        terms = (self.uncertainty, self.low_confidence, self.disagreement)
        if any(not np.isfinite(w) or w < 0 for w in (*terms, self.rarity)) or sum(terms) <= 0:
            raise ValueError(f"score weights {(*terms, self.rarity)} must be >= 0, and uncertainty, "
                             "low_confidence and disagreement not all 0")
        if not 0.0 < self.low_confidence_below <= 1.0:
            raise ValueError(f"low_confidence_below={self.low_confidence_below!r} must be in (0, 1]")
        if not 0.0 < self.present_share <= 1.0:
            raise ValueError(f"present_share={self.present_share!r} must be in (0, 1]")


@dataclass(frozen=True)
class PairScore:
    """The terms of one pair's score (see the module docstring) and the pixel share of each predicted class."""

    score: float
    uncertainty: float
    low_confidence: float
    disagreement: float
    rarity: float
    class_shares: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {key: (list(value) if isinstance(value, tuple) else round(float(value), 6))
                for key, value in asdict(self).items()}


def confidence_from_logits(logits: np.ndarray) -> np.ndarray:
    """(K, H, W) logits -> (H, W) float32 max softmax probability (what `Segmenter` returns as confidence)."""
    logits = np.asarray(logits, dtype=np.float32)
    shifted = logits - logits.max(axis=0, keepdims=True)
    return (1.0 / np.exp(shifted).sum(axis=0)).astype(np.float32)


def rarity_weights(num_classes: int, class_shares: Sequence[float] | None = None) -> np.ndarray:
    """(K,) weights summing to 1, proportional to 1 / prior (uniform without `class_shares`)."""
    if num_classes < 1:
        raise ValueError(f"num_classes={num_classes!r} must be >= 1")
    if class_shares is None:
        return np.full(num_classes, 1.0 / num_classes)
    prior = np.asarray(class_shares, dtype=np.float64)
    if prior.shape != (num_classes,) or not np.all(np.isfinite(prior)) or np.any(prior < 0):
        raise ValueError(f"class_shares must be {num_classes} non-negative numbers, got {list(class_shares)}")
    inverse = 1.0 / np.maximum(prior / max(prior.sum(), 1e-12), 1e-4)  # a class never seen: 10^4 x rarer
    return inverse / inverse.sum()


def rarity_weights_for(num_classes: int, metadata: Mapping[str, Any] | None) -> np.ndarray:
    """`rarity_weights` from a checkpoint's metadata ("class_shares" when recorded and of the right length)."""
    shares = (metadata or {}).get("class_shares")
    if isinstance(shares, Sequence) and len(shares) == num_classes:
        return rarity_weights(num_classes, [float(s) for s in shares])
    return rarity_weights(num_classes)


def score_pair(labels: np.ndarray, confidence: np.ndarray, rgb_only_labels: np.ndarray, num_classes: int,
               class_weights: np.ndarray | None = None, weights: ScoreWeights | None = None) -> PairScore:
    """The score of one pair from its fused labels (H, W), max-softmax confidence (H, W) and RGB-only labels."""
    weights = weights or ScoreWeights()
    labels, confidence = np.asarray(labels), np.asarray(confidence, dtype=np.float32)
    rgb_only_labels = np.asarray(rgb_only_labels)
    if labels.shape != confidence.shape or labels.shape != rgb_only_labels.shape or labels.ndim != 2:
        raise ValueError(f"labels {labels.shape}, confidence {confidence.shape} and RGB-only labels "
                         f"{rgb_only_labels.shape} must be one (H, W) size")
    if labels.size == 0:
        raise ValueError("labels are empty: nothing to score")
    class_weights = rarity_weights(num_classes) if class_weights is None else np.asarray(class_weights)
    chance = 1.0 / num_classes
    uncertainty = float(np.clip((1.0 - confidence).mean() / max(1.0 - chance, 1e-6), 0.0, 1.0))
    low_confidence = float(np.count_nonzero(confidence < weights.low_confidence_below)) / labels.size
    disagreement = float(np.count_nonzero(labels != rgb_only_labels)) / labels.size
    counts = np.bincount(labels.reshape(-1).astype(np.int64), minlength=num_classes)[:num_classes]
    shares = counts / labels.size
    rarity = float(np.sum(class_weights * np.minimum(1.0, shares / weights.present_share)))
    terms = ((weights.uncertainty, uncertainty), (weights.low_confidence, low_confidence),
             (weights.disagreement, disagreement))
    score = sum(w * v for w, v in terms) / sum(w for w, _ in terms) * (1.0 + weights.rarity * rarity)
    return PairScore(float(score), uncertainty, low_confidence, disagreement, rarity,
                     tuple(float(s) for s in shares))


def score_frame(segmenter: Any, rgb: np.ndarray, labels: np.ndarray, confidence: np.ndarray | None,
                class_weights: np.ndarray | None = None, weights: ScoreWeights | None = None) -> PairScore:
    """`score_pair` for a frame the pipeline segmented (labels, confidence at the RGB size): runs the RGB-only
    prediction (`segmenter.segment(rgb, None)`, the neutral X) itself. The node and `rxssnet bag mine` call this.
    """
    if confidence is None:
        raise ValueError("the labelling score needs the frame's confidence (FrameWants(confidence=True))")
    rgb_only = segmenter.segment(rgb, None).labels
    if class_weights is None:
        class_weights = rarity_weights_for(segmenter.num_classes, getattr(segmenter, "metadata", None))
    return score_pair(labels, confidence, rgb_only, segmenter.num_classes, class_weights, weights)


def thumbnail_embedding(rgb: np.ndarray, x: np.ndarray | None) -> np.ndarray:
    """A cheap image embedding: grey RGB and X thumbnails (`EMBEDDING_SIZE`), each standardised, concatenated and
    scaled to unit length. Near-duplicate frames are close; different scenes are far (distances up to 2).
    """
    parts = []
    for image in (rgb, x):
        if image is None:
            continue
        array = np.asarray(image, dtype=np.float32)
        if array.ndim == 3:
            array = array.mean(axis=2)
        array = np.nan_to_num(array, nan=0.0, posinf=0.0, neginf=0.0)
        small = cv2.resize(array, EMBEDDING_SIZE, interpolation=cv2.INTER_AREA).reshape(-1)
        small = small - small.mean()
        parts.append(small / max(float(np.linalg.norm(small)), 1e-6))
    vector = np.concatenate(parts)
    return (vector / max(float(np.linalg.norm(vector)), 1e-6)).astype(np.float32)


def select_pairs(scores: Sequence[float], stamps_ns: Sequence[int], budget: int,
                 embeddings: np.ndarray | None = None, min_gap_s: float = 1.0, min_distance: float = 0.25
                 ) -> list[int]:
    """Indices of up to `budget` pairs: informative (highest score first) AND different from each other.

    A pair is skipped while one already picked is within `min_gap_s` of its stamp or within `min_distance` of its
    embedding; if the budget is not filled, both spacings are halved (up to `MIN_GAP_HALVINGS` times, then
    dropped) and the remaining pairs considered again. Returned in the order picked (best first).
    """
    count = len(scores)
    if len(stamps_ns) != count or (embeddings is not None and len(embeddings) != count):
        raise ValueError("scores, stamps and embeddings must have one entry per pair")
    if budget < 1:
        raise ValueError(f"budget={budget!r} must be >= 1")
    if min_gap_s < 0 or min_distance < 0:
        raise ValueError("min_gap_s and min_distance must be >= 0")
    order = sorted(range(count), key=lambda i: (-float(scores[i]), int(stamps_ns[i])))
    stamps = np.asarray(stamps_ns, dtype=np.int64)
    vectors = None if embeddings is None else np.asarray(embeddings, dtype=np.float32)
    picked: list[int] = []
    taken: set[int] = set()
    gap_ns, distance = min_gap_s * 1e9, min_distance
    for halving in range(MIN_GAP_HALVINGS + 2):
        if halving == MIN_GAP_HALVINGS + 1:
            gap_ns, distance = 0.0, 0.0
        for index in order:
            if len(picked) >= budget:
                return picked
            if index in taken:
                continue
            if picked and gap_ns > 0 and np.min(np.abs(stamps[picked] - stamps[index])) < gap_ns:
                continue
            if picked and vectors is not None and distance > 0 and \
                    np.min(np.linalg.norm(vectors[picked] - vectors[index], axis=1)) < distance:
                continue
            picked.append(index)
            taken.add(index)
        gap_ns, distance = gap_ns / 2, distance / 2
    return picked
