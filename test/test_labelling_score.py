# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The labelling score and the pick of informative, different pairs (rxssnet_core.labelling_score; numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from rxssnet_core.labelling_score import (
    ScoreWeights,
    confidence_from_logits,
    rarity_weights,
    rarity_weights_for,
    score_pair,
    select_pairs,
    thumbnail_embedding,
)

K = 4


def test_terms_of_a_hand_made_pair() -> None:
    labels = np.zeros((4, 5), dtype=np.uint8)
    labels[0, :2] = 3  # 2 of 20 pixels vehicle (10 %)
    confidence = np.full((4, 5), 0.9, dtype=np.float32)
    confidence[1] = 0.4  # 5 pixels below the 0.6 threshold
    rgb_only = labels.copy()
    rgb_only[0, :2] = 0  # RGB alone misses the 2 vehicle pixels
    score = score_pair(labels, confidence, rgb_only, K)
    assert score.low_confidence == pytest.approx(5 / 20)
    assert score.disagreement == pytest.approx(2 / 20)
    # mean(1 - conf) = (15 * 0.1 + 5 * 0.6) / 20 = 0.225, over the chance level 1 - 1/4
    assert score.uncertainty == pytest.approx(0.225 / 0.75, rel=1e-5)
    # uniform prior: 2 of 4 classes present above 1 % of the pixels
    assert score.rarity == pytest.approx(0.5)
    assert score.class_shares == pytest.approx((0.9, 0.0, 0.0, 0.1))
    w = ScoreWeights()
    expected = (w.uncertainty * 0.3 + w.low_confidence * 0.25 + w.disagreement * 0.1) / (
        w.uncertainty + w.low_confidence + w.disagreement) * (1 + w.rarity * 0.5)
    assert score.score == pytest.approx(expected, rel=1e-5)


def test_certain_agreeing_frame_scores_lower_than_an_uncertain_one() -> None:
    labels = np.zeros((8, 8), dtype=np.uint8)
    sure = score_pair(labels, np.ones((8, 8), np.float32), labels, K)
    unsure = score_pair(labels, np.full((8, 8), 0.3, np.float32), np.ones((8, 8), np.uint8), K)
    assert sure.uncertainty == 0.0 and sure.disagreement == 0.0 and sure.low_confidence == 0.0
    assert sure.score == 0.0 and unsure.score > 0.5
    # a certain frame stays at 0 however many (rare) classes it shows
    many = np.arange(64, dtype=np.uint8).reshape(8, 8) % K
    assert score_pair(many, np.ones((8, 8), np.float32), many, K).score == 0.0


def test_rare_classes_count_more() -> None:
    weights = rarity_weights(K, [0.7, 0.2, 0.09, 0.01])
    assert weights.sum() == pytest.approx(1.0)
    assert list(np.argsort(weights)) == [0, 1, 2, 3]
    common, rare = np.zeros((10, 10), np.uint8), np.zeros((10, 10), np.uint8)
    common[:5] = 1
    rare[:5] = 3
    conf = np.ones((10, 10), np.float32)
    assert score_pair(rare, conf, rare, K, weights).rarity > score_pair(common, conf, common, K, weights).rarity
    assert rarity_weights_for(K, {"class_shares": [0.7, 0.2, 0.09, 0.01]}) == pytest.approx(weights)
    assert rarity_weights_for(K, {}) == pytest.approx(np.full(K, 0.25))


def test_confidence_from_logits_is_the_max_softmax() -> None:
    logits = np.random.default_rng(0).normal(size=(K, 3, 3)).astype(np.float32)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=0)
    assert confidence_from_logits(logits) == pytest.approx(probabilities.max(axis=0), rel=1e-5)


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="one \\(H, W\\) size"):
        score_pair(np.zeros((2, 2)), np.zeros((2, 3)), np.zeros((2, 2)), K)
    with pytest.raises(ValueError, match="weights"):
        ScoreWeights(uncertainty=-1)
    with pytest.raises(ValueError, match="budget"):
        select_pairs([1.0], [0], 0)


def _burst_recording() -> tuple[list[float], list[int], np.ndarray]:
    """Six scenes of five near-duplicate frames each, 10 Hz; the best scene's frames score highest."""
    rng = np.random.default_rng(1)
    scores, stamps, embeddings = [], [], []
    for scene in range(6):
        rgb = rng.integers(0, 256, (24, 32, 3)).astype(np.uint8)
        for frame in range(5):
            noisy = np.clip(rgb.astype(int) + rng.integers(-3, 4, rgb.shape), 0, 255).astype(np.uint8)
            scores.append(1.0 - 0.1 * scene - 0.001 * frame)
            stamps.append((scene * 5 + frame) * 100_000_000)
            embeddings.append(thumbnail_embedding(noisy, noisy[:, :, 0]))
    return scores, stamps, np.stack(embeddings)


def test_picks_are_spread_in_time_and_in_appearance() -> None:
    scores, stamps, embeddings = _burst_recording()
    # by time: one frame per 0.5 s burst at most
    by_time = select_pairs(scores, stamps, 4, None, min_gap_s=0.5, min_distance=0.0)
    assert [i // 5 for i in by_time] == [0, 1, 2, 3]
    # by appearance only (no time gap): near-duplicates are closer than 0.25, different scenes farther
    by_look = select_pairs(scores, stamps, 4, embeddings, min_gap_s=0.0, min_distance=0.25)
    assert [i // 5 for i in by_look] == [0, 1, 2, 3]
    # score alone would take the first burst
    assert [i // 5 for i in select_pairs(scores, stamps, 4, None, 0.0, 0.0)] == [0, 0, 0, 0]


def test_spacing_is_relaxed_until_the_budget_is_filled() -> None:
    scores, stamps, embeddings = _burst_recording()
    picks = select_pairs(scores, stamps, 10, embeddings, min_gap_s=0.5, min_distance=0.25)
    assert len(picks) == 10 and len(set(picks)) == 10
    assert sorted({i // 5 for i in picks[:6]}) == list(range(6))  # every scene before any second frame
    assert len(select_pairs(scores, stamps, 100, embeddings)) == len(scores)
