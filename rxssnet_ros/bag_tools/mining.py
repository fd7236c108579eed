# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`rxssnet bag mine`: the pairs of a recording worth labelling, written as a dataset to label and train on.

The bag is replayed exactly as `rxssnet bag eval` replays it (`replay_eval.evaluate_bag`: the node's pairing rule
and frame pipeline; raw and compressed topics, ROS 1 bags, tf extrinsics), without ground truth. Every segmented
pair is scored by `rxssnet_core.labelling_score.score_frame` (the function the node's ~/frame_timing uses), and
`select_pairs` picks `budget` pairs that score high AND lie apart in time and in a thumbnail embedding. The
picks are chosen among the `pool_factor * budget` best-scoring pairs, which are the only ones kept in memory.

Output folder (must be new or empty):
  rgb/<stem>.png, x/<stem>.png|.npy (X registered to RGB, as the network saw it), labels/<stem>.png (the model's
  prediction as a pre-label: P-mode PNG, index = class id), splits/train.txt, dataset.yaml (the checkpoint's
  classes, palette and preprocessing): the generic layout `rxssnet train` reads (dataset: generic)
  cvat/ + cvat_prelabels.zip: the pre-labels in CVAT's "Segmentation mask 1.1" import format (labelmap.txt,
  ImageSets/Segmentation/default.txt, SegmentationClass/<stem>.png; `write_cvat_masks`)
  scores.csv (every pair: stamps, score terms, class shares, pick rank), contact_sheet.png (RGB | X | pre-label
  per pick, with its scores), mining.json (bag, checkpoint, options, picks)
Stems are `t<RGB stamp in ns>`, so a pick can be found in the bag.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import heapq
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from rxssnet_core.data import io
from rxssnet_core.frame_pipeline import FrameOutput
from rxssnet_core.labelling_score import (
    PairScore,
    ScoreWeights,
    rarity_weights_for,
    score_frame,
    select_pairs,
    thumbnail_embedding,
)
from rxssnet_core.visualization import as_palette, colorize, voc_palette
from rxssnet_ros.bag_tools import BagError
from rxssnet_ros.bag_tools.replay_eval import BagEvalConfig, evaluate_bag

CVAT_DIR = "cvat"
CVAT_ZIP = "cvat_prelabels.zip"
SHEET_TILE_WIDTH = 200
MAX_SHEET_ROWS = 64


@dataclass
class MineConfig:
    """What to pick: `budget` pairs, at least `min_gap_s` apart in time and `min_distance` in the embedding
    (`labelling_score.select_pairs`), from the `pool_factor * budget` best-scoring pairs.
    """

    budget: int
    min_gap_s: float = 1.0
    min_distance: float = 0.25
    pool_factor: int = 8
    weights: ScoreWeights = field(default_factory=ScoreWeights)

    def __post_init__(self) -> None:
        if not isinstance(self.budget, int) or self.budget < 1:
            raise BagError(f"--budget={self.budget!r} must be an integer >= 1 (how many pairs to label)")
        if not (np.isfinite(self.min_gap_s) and self.min_gap_s >= 0):
            raise BagError(f"--min-gap={self.min_gap_s!r} must be >= 0 seconds")
        if not (np.isfinite(self.min_distance) and self.min_distance >= 0):
            raise BagError(f"--min-distance={self.min_distance!r} must be >= 0 (embedding distances are 0..2)")
        if self.pool_factor < 1:
            raise BagError(f"pool_factor={self.pool_factor!r} must be >= 1")


@dataclass
class MineResult:
    """What a mining run found and wrote."""

    out: Path
    pairs: int
    picks: list[dict[str, Any]]
    paths: dict[str, Path]
    issues: Any
    counts: dict[str, Any]


@dataclass(order=True)
class _Candidate:
    score: float
    index: int
    rgb: np.ndarray = field(compare=False)
    x: np.ndarray | None = field(compare=False)
    labels: np.ndarray = field(compare=False)


class _Scorer:
    """The on_frame callback of the replay: scores each pair, keeps the best `pool` pairs' images."""

    def __init__(self, segmenter: Any, config: MineConfig) -> None:
        self.segmenter, self.config = segmenter, config
        self.class_weights = rarity_weights_for(segmenter.num_classes, segmenter.metadata)
        self.pool_size = config.budget * config.pool_factor
        self.rows: list[dict[str, Any]] = []
        self.scores: list[PairScore] = []
        self.embeddings: list[np.ndarray] = []
        self.pool: list[_Candidate] = []  # a min-heap on score

    def __call__(self, rgb_stamp: int, x_stamp: int, rgb: np.ndarray, output: FrameOutput) -> None:
        score = score_frame(self.segmenter, rgb, output.labels, output.confidence, self.class_weights,
                            self.config.weights)
        index = len(self.rows)
        self.rows.append({"index": index, "rgb_stamp_ns": rgb_stamp, "x_stamp_ns": x_stamp})
        self.scores.append(score)
        self.embeddings.append(thumbnail_embedding(rgb, output.x_aligned))
        candidate = _Candidate(score.score, index, rgb, output.x_aligned, output.labels)
        if len(self.pool) < self.pool_size:
            heapq.heappush(self.pool, candidate)
        elif candidate.score > self.pool[0].score:
            heapq.heapreplace(self.pool, candidate)


def check_output_folder(out: Path) -> None:
    """`out` must not exist or be an empty folder: mining never replaces a user's files."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BagError(f"--out {out} exists and is not an empty folder; choose a new folder (mining never "
                       "overwrites files)")


def labelmap_colours(palette: np.ndarray) -> np.ndarray:
    """The colours of the CVAT label map: the checkpoint's palette when its colours are distinct (CVAT maps a
    mask colour to one label), else the VOC map.
    """
    if len({tuple(int(v) for v in colour) for colour in palette}) == len(palette):
        return palette
    return voc_palette(len(palette))


def write_cvat_masks(folder: Path, stems: list[str], masks: list[np.ndarray], class_names: list[str],
                     colours: np.ndarray) -> Path:
    """Pre-labels in CVAT's "Segmentation mask 1.1" import format (Pascal VOC segmentation with a label map).

    labelmap.txt: a `# label:color_rgb:parts:actions` header, then one `name:r,g,b::` line per class (class id
    order); ImageSets/Segmentation/default.txt: the image names without extension, one per line;
    SegmentationClass/<name>.png: P-mode PNG whose index is the class id and whose palette entry is the label
    map's colour, so it reads the same as an index mask (1 channel) or a colour mask (3 channels). Returns the
    zip of the three, which CVAT's "Upload annotations" accepts.
    """
    for name in class_names:
        if ":" in name or "\n" in name:
            raise BagError(f"class name {name!r} contains ':' or a newline, which labelmap.txt cannot hold")
    lines = ["# label:color_rgb:parts:actions"]
    lines += [f"{name}:{int(c[0])},{int(c[1])},{int(c[2])}::" for name, c in zip(class_names, colours)]
    (folder / "ImageSets" / "Segmentation").mkdir(parents=True, exist_ok=True)
    (folder / "labelmap.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "ImageSets" / "Segmentation" / "default.txt").write_text("".join(f"{s}\n" for s in stems),
                                                                       encoding="utf-8")
    for stem, mask in zip(stems, masks):
        io.write_label(folder / "SegmentationClass" / f"{stem}.png", mask, colours)
    archive = folder.parent / CVAT_ZIP
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(folder).as_posix())
    return archive


def _x_suffix(x: np.ndarray) -> str:
    return ".png" if x.dtype in (np.uint8, np.uint16) and (x.ndim == 2 or x.shape[2] in (1, 3)) else ".npy"


def _x_preview(x: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """X as a grey RGB image for the contact sheet (min-max scaled; black when absent)."""
    if x is None:
        return np.zeros((*shape, 3), dtype=np.uint8)
    grey = np.asarray(x, dtype=np.float32)
    grey = grey.mean(axis=2) if grey.ndim == 3 else grey
    grey = np.nan_to_num(grey, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(grey.min()), float(grey.max())
    scaled = np.zeros_like(grey) if high <= low else (grey - low) / (high - low) * 255.0
    return np.repeat(scaled.astype(np.uint8)[:, :, None], 3, axis=2)


def write_contact_sheet(path: Path, picks: list[dict[str, Any]], candidates: dict[int, _Candidate],
                        palette: np.ndarray) -> Path:
    """One row per pick (at most MAX_SHEET_ROWS): RGB | X | pre-label, under a line with its rank and scores."""
    rows = []
    for pick in picks[:MAX_SHEET_ROWS]:
        candidate = candidates[pick["index"]]
        height, width = candidate.rgb.shape[:2]
        tiles = [candidate.rgb, _x_preview(candidate.x, (height, width)), colorize(candidate.labels, palette)]
        scale = SHEET_TILE_WIDTH / width
        size = (SHEET_TILE_WIDTH, max(1, round(height * scale)))
        strip = np.concatenate([cv2.resize(t, size, interpolation=cv2.INTER_NEAREST) for t in tiles], axis=1)
        band = np.full((22, strip.shape[1], 3), 255, dtype=np.uint8)
        text = (f"#{pick['rank']} {pick['stem']} score {pick['score']:.3f} unc {pick['uncertainty']:.2f} "
                f"lowc {pick['low_confidence']:.2f} dis {pick['disagreement']:.2f} rare {pick['rarity']:.2f}")
        cv2.putText(band, text, (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        rows.append(np.concatenate([band, strip], axis=0))
    sheet = np.concatenate(rows, axis=0) if rows else np.full((22, 3 * SHEET_TILE_WIDTH, 3), 255, np.uint8)
    io.write_image(path, sheet)
    return path


def _write_csv(path: Path, scorer: _Scorer, ranks: dict[int, int], class_names: list[str]) -> Path:
    terms = ("score", "uncertainty", "low_confidence", "disagreement", "rarity")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "rgb_stamp_ns", "x_stamp_ns", *terms, "pick_rank",
                         *(f"share_{name}" for name in class_names)])
        for row, score in zip(scorer.rows, scorer.scores):
            rank = ranks.get(row["index"])
            writer.writerow([row["index"], row["rgb_stamp_ns"], row["x_stamp_ns"],
                             *(f"{getattr(score, t):.6f}" for t in terms), "" if rank is None else rank,
                             *(f"{s:.6f}" for s in score.class_shares)])
    return path


def _dataset_yaml(segmenter: Any, bag: Path, shape: tuple[int, int], palette: np.ndarray) -> dict[str, Any]:
    preprocess = segmenter.preprocess_config.to_dict()
    return {"name": f"mined_{bag.stem or bag.name}", "modality": preprocess["modality"],
            "class_names": [str(n) for n in segmenter.class_names],
            "palette": [[int(v) for v in c] for c in palette], "ignore_index": 255,
            "preprocess": {k: v for k, v in preprocess.items() if k != "modality"},
            "native_size": [int(shape[0]), int(shape[1])]}


def mining_manifest_hash(out: str | Path) -> str:
    """sha256 of a mined set's mining.json (what a fine-tuned checkpoint records as its mined set)."""
    return hashlib.sha256((Path(out) / "mining.json").read_bytes()).hexdigest()


def mine_bag(bag: str | Path, segmenter: Any, out: str | Path, config: MineConfig,
             eval_config: BagEvalConfig | None = None, checkpoint: str | None = None) -> MineResult:
    """Replay `bag`, score every pair, pick `config.budget` and write the dataset and review files into `out`."""
    out, bag = Path(out), Path(bag)
    check_output_folder(out)
    eval_config = dataclasses.replace(eval_config or BagEvalConfig(labels=False), labels=False,
                                      write_predictions=None)
    scorer = _Scorer(segmenter, config)
    replay = evaluate_bag(bag, segmenter, eval_config, on_frame=scorer)
    if not scorer.rows:
        problems = "; ".join(replay.issues.texts()) or "no RGB-X pair formed"
        raise BagError(f"bag {bag}: no pair was segmented, nothing to mine ({problems}); check --rgb-topic, "
                       "--x-topic, --slop and --x-alignment")
    candidates = {c.index: c for c in scorer.pool}
    pool = sorted(candidates)
    chosen = select_pairs([scorer.scores[i].score for i in pool], [scorer.rows[i]["rgb_stamp_ns"] for i in pool],
                          config.budget, np.stack([scorer.embeddings[i] for i in pool]), config.min_gap_s,
                          config.min_distance)
    palette = as_palette(segmenter.metadata.get("palette"), segmenter.num_classes)
    class_names = [str(n) for n in segmenter.class_names]
    out.mkdir(parents=True, exist_ok=True)
    picks, stems, masks = [], [], []
    for rank, position in enumerate(chosen, start=1):
        index = pool[position]
        candidate, row = candidates[index], scorer.rows[index]
        stem = f"t{row['rgb_stamp_ns']}"
        io.write_image(out / "rgb" / f"{stem}.png", candidate.rgb)
        if candidate.x is not None:
            io.write_image(out / "x" / f"{stem}{_x_suffix(candidate.x)}", candidate.x)
        io.write_label(out / "labels" / f"{stem}.png", candidate.labels, palette)
        stems.append(stem)
        masks.append(candidate.labels)
        picks.append({"rank": rank, "stem": stem, **row, **scorer.scores[index].to_dict()})
    (out / "splits").mkdir(exist_ok=True)
    (out / "splits" / "train.txt").write_text("".join(f"{s}\n" for s in stems), encoding="utf-8")
    shape = candidates[pool[chosen[0]]].rgb.shape[:2]
    (out / "dataset.yaml").write_text(yaml.safe_dump(_dataset_yaml(segmenter, bag, shape, palette),
                                                     sort_keys=False), encoding="utf-8")
    paths = {"dataset": out, "cvat": write_cvat_masks(out / CVAT_DIR, stems, masks, class_names,
                                                      labelmap_colours(palette)),
             "csv": _write_csv(out / "scores.csv", scorer, {p["index"]: p["rank"] for p in picks}, class_names),
             "contact_sheet": write_contact_sheet(out / "contact_sheet.png", picks, candidates, palette)}
    counts = dict(replay.counts)
    manifest = {"bag": str(bag), "checkpoint": checkpoint, "budget": config.budget, "pairs_scored": len(scorer.rows),
                "min_gap_s": config.min_gap_s, "min_distance": config.min_distance,
                "weights": dataclasses.asdict(config.weights), "picks": picks,
                "issues": replay.issues.texts(), "counts": counts}
    (out / "mining.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    paths["manifest"] = out / "mining.json"
    return MineResult(out, len(scorer.rows), picks, paths, replay.issues, counts)
