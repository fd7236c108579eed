# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`rxssnet datasets`: the supported datasets, their classes and expected layout; checks a folder on disk."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rxssnet_core.data import DatasetError
from rxssnet_core.data.registry import DATASETS, get_info
from rxssnet_core.data.synthetic import generate_fusion_dataset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="a dataset to show in detail (e.g. mfnet, cityscapes, generic)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")
    parser.add_argument("--root", help="with NAME: index this folder and report samples per split and every "
                                       "missing or unpaired file")
    parser.add_argument("--split", help="with --root: only this split (default: all the dataset's splits)")
    parser.add_argument("--check", action="store_true",
                        help="with --root: also decode every file (sizes, bit depths, label ids); one full pass")
    parser.add_argument("--generate", metavar="DIR",
                        help="with NAME synthetic_fusion: write the synthetic dataset to DIR")
    parser.add_argument("--seed", type=int, default=0, help="with --generate: random seed (default 0)")
    parser.add_argument("--size", type=int, nargs=2, default=(96, 128), metavar=("H", "W"),
                        help="with --generate: image size (default 96 128)")


def _format_list(infos: list[Any]) -> str:
    rows = [("name", "modality", "K", "native HxW", "splits", "description")]
    for info in infos:
        size = "x".join(str(v) for v in info.native_size) if info.native_size else "any"
        classes = str(info.num_classes) if info.num_classes else "yaml"
        rows.append((info.name, info.modality, classes, size, ",".join(info.splits), info.title))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(widths[i]) if i < 5 else cell for i, cell in enumerate(row)) for row in rows]
    lines.append("\n`rxssnet datasets NAME` shows classes, palette and the expected folder layout.")
    return "\n".join(lines)


def _format_detail(info: Any) -> str:
    pre = ", ".join(f"{k}={v}" for k, v in info.preprocess.to_dict().items())
    size = f"{info.native_size[0]}x{info.native_size[1]} (HxW)" if info.native_size else "any"
    lines = [
        f"{info.name}: {info.title}",
        f"  modality      {info.modality}",
        f"  X             {info.x_description}",
        f"  labels        {info.label_description}; 255 = ignore",
        f"  native size   {size}",
        f"  splits        {', '.join(info.splits)} (train on {info.train_split!r}, "
        f"select models on {info.val_split or 'a hold-out of ' + info.train_split!r})",
        f"  train crop    {info.crop_size[0]}x{info.crop_size[1]}",
        f"  preprocess    {pre}",
    ]
    if info.aliases:
        lines.append(f"  aliases       {', '.join(info.aliases)}")
    if info.class_names:
        lines.append(f"  classes ({info.num_classes}):")
        lines += [f"    {i:3d}  {name:<20s} rgb({r:3d}, {g:3d}, {b:3d})"
                  for i, (name, (r, g, b)) in enumerate(zip(info.class_names, info.palette))]
    else:
        lines.append("  classes       from dataset.yaml `class_names` (else the largest label id + 1)")
    lines += ["  expected layout:", *("    " + line for line in info.layout.splitlines())]
    if info.notes:
        lines.append(f"  notes: {info.notes}")
    return "\n".join(lines)


def _check_root(args: argparse.Namespace, info: Any) -> int:
    # torch: the dataset classes are torch Datasets; listing, describing and --generate run without torch
    # (requirements/core.txt, a robot with ONNX Runtime only), so only --root imports them
    from rxssnet_core.data.dataset import build_dataset

    required = {args.split} if args.split else {info.train_split, info.val_split} - {None}
    splits = [args.split] if args.split else list(info.splits)
    report: dict[str, Any] = {}
    status = 0
    for split in splits:
        try:
            ds = build_dataset(info.name, args.root, split)
            if args.check:
                ds.validate(progress=not args.json)
            report[split] = {"samples": len(ds), "checked": bool(args.check)}
        except DatasetError as error:
            if split in required or args.check:
                status = 2
                report[split] = {"error": str(error)}
            else:
                report[split] = {"skipped": str(error).splitlines()[0]}
    if args.json:
        print(json.dumps({"dataset": info.name, "root": args.root, "splits": report}, indent=2))
        return status
    print(f"{info.name} at {args.root}:")
    for split, entry in report.items():
        if "samples" in entry:
            print(f"  {split}: {entry['samples']} samples" + (", all files decoded and checked" if args.check else ""))
        elif "skipped" in entry:
            print(f"  {split}: not available ({entry['skipped']})")
        else:
            print(f"  {split}: ERROR", file=sys.stderr)
            print("    " + entry["error"].replace("\n", "\n    "), file=sys.stderr)
    return status


def run(args: argparse.Namespace) -> int:
    if args.name is None:
        if args.root or args.generate:
            raise DatasetError("--root and --generate need a dataset NAME (see `rxssnet datasets`)")
        infos = list(DATASETS.values())
        print(json.dumps([i.to_dict() for i in infos], indent=2) if args.json else _format_list(infos))
        return 0
    info = get_info(args.name)
    if args.generate:
        if info.name != "synthetic_fusion":
            raise DatasetError(f"--generate only works for synthetic_fusion, not {info.name!r}")
        root = generate_fusion_dataset(args.generate, size=tuple(args.size), seed=args.seed)
        print(f"wrote the synthetic fusion dataset to {root} (train 40, val 8, test 12 scenes, seed {args.seed})")
        return 0
    if args.root:
        return _check_root(args, info)
    print(json.dumps(info.to_dict(), indent=2) if args.json else _format_detail(info))
    return 0
