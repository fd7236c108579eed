"""The training loop of the reference recipe, resumable bit for bit.

AdamW (one param group), per-iteration warm-up then poly 0.9, cross-entropy with ignore 255, random scale + flip
+ crop. On top of the reference: mixed precision, gradient accumulation, seeding, DDP through torchrun, atomic
checkpoints every N steps and best-model selection on the validation split only.

Exact resume: the data order of an epoch is a function of (seed, epoch) (DistributedSampler), and every sample
is augmented under RNGs seeded from (seed, epoch, rank, position), whichever worker loads it. The global RNGs
(dropout, drop-path) are saved in each checkpoint with the position in the epoch, so a resumed run replays the
same batches with the same random numbers as an uninterrupted one (`data_order`).

Output folder: config.yaml, checkpoints/last.pt (training state), best.safetensors + best.json (best
validation mIoU), final.safetensors, train_log.jsonl (one JSON object per step / validation; after a resume,
steps replayed from the checkpoint appear twice and the later line wins), tensorboard/.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import yaml
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from rxssnet_core.config import ModelConfig
from rxssnet_core.data import AugmentConfig, build_dataset
from rxssnet_core.data.augmentation import ModalityDropout
from rxssnet_core.data.registry import canonical_name
from rxssnet_core.degradation import DegradationParams
from rxssnet_core.evaluation.evaluator import accumulate_confusion
from rxssnet_core.models.checkpoints import load_convnextv2_pretrained, save_model
from rxssnet_core.models.rxssnet import build_model
from rxssnet_core.preprocessing import PreprocessConfig
from rxssnet_core.training import checkpointing as ckpt
from rxssnet_core.training import finetune
from rxssnet_core.training.config import TrainConfig, TrainConfigError, check_dataset_root
from rxssnet_core.training.data_order import (
    ResumableSampler,
    SeededSampleView,
    TrainingError,
    batches,
    holdout_indices,
    worker_init,
)
from rxssnet_core.training.distributed import (
    DistInfo,
    all_gather_objects,
    all_reduce_sum,
    barrier,
    init_distributed,
    wrap_ddp,
)
from rxssnet_core.training.mixed_precision import amp_settings, autocast, make_grad_scaler
from rxssnet_core.training.run_log import RunLog
from rxssnet_core.training.schedule import WarmupPolyLR

IGNORE_INDEX = 255
LAST_CHECKPOINT = Path("checkpoints") / "last.pt"
MAX_SKIPPED_FP16_STEPS = 25


# ------------------------------------------------------------------------------------------------- results


@dataclass
class TrainResult:
    """What `Trainer.fit` produced. step_losses: optimizer step (1-based) -> mean loss over its micro-batches
    (averaged over ranks); only the steps run by this call."""

    output_dir: Path
    global_step: int
    epoch: int
    finished: bool
    best_miou: float | None
    best_epoch: int | None
    best_path: Path | None
    final_path: Path | None
    last_checkpoint: Path | None
    step_losses: dict[int, float] = field(default_factory=dict)
    val_mious: dict[int, float] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------- trainer


class Trainer:
    """Builds data, model, optimizer and schedule from a TrainConfig and runs (or resumes) training.

    Usage: `Trainer(load_train_config(path), resume=None).fit()`. `output_dir` overrides config.output_dir;
    `resume` is a training checkpoint path (or "auto" for <output_dir>/checkpoints/last.pt). `device`: cpu,
    cuda or None (CUDA when available). Under torchrun every process builds a Trainer; rank 0 alone writes.
    """

    def __init__(self, config: TrainConfig, output_dir: str | Path | None = None, resume: str | Path | None = None,
                 device: str | None = None, config_path: str | Path | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.output_dir = Path(output_dir if output_dir is not None else config.output_dir)
        self.dist: DistInfo = init_distributed(device)
        self.device = self.dist.device
        self._resume_path = self._resolve_resume(resume)
        self.run_log = RunLog()

        cfg = config
        if cfg.train.deterministic:
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
        ckpt.seed_everything(cfg.train.seed + self.dist.rank)

        self.parent = finetune.load_parent(cfg.model.init_from) if cfg.model.init_from else None
        self._build_data()
        self._build_model()
        self.amp_enabled, self.amp_dtype, use_scaler = amp_settings(cfg.train.amp, self.device)
        self.scaler = make_grad_scaler(use_scaler)
        optim = cfg.optimizer
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=optim.lr, weight_decay=optim.weight_decay,
                                           betas=tuple(optim.betas))  # type: ignore[arg-type]
        self.total_steps = cfg.schedule.epochs * self.steps_per_epoch
        warmup_steps = min(self.total_steps, round(cfg.schedule.warmup_epochs * self.steps_per_epoch))
        self.scheduler = WarmupPolyLR(self.optimizer, self.total_steps, warmup_steps, cfg.schedule.power)
        self.criterion = nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX)

        self.global_step, self.epoch, self.step_in_epoch = 0, 0, 0
        self.best_miou, self.best_epoch = None, None  # type: float | None, int | None
        if self._resume_path is not None:
            self._load_state(self._resume_path)

    # --- construction -------------------------------------------------------------------------------------
    def _resolve_resume(self, resume: str | Path | None) -> Path | None:
        if resume is None:
            return None
        path = self.output_dir / LAST_CHECKPOINT if str(resume) == "auto" else Path(resume)
        if not path.is_file():
            raise ckpt.CheckpointError(
                f"cannot resume: training checkpoint {path} does not exist (checkpoints are written to "
                f"<output_dir>/{LAST_CHECKPOINT}; pass --resume PATH or --output-dir of the run)")
        return path

    def _build_data(self) -> None:
        cfg = self.config
        root = check_dataset_root(cfg, self.config_path)
        name = canonical_name(cfg.dataset.name)
        crop = tuple(cfg.train.crop_size) if cfg.train.crop_size is not None else None
        augment = AugmentConfig(crop_size=crop, scales=tuple(cfg.train.scales), hflip=cfg.train.hflip)
        train_full = build_dataset(name, root, cfg.dataset.train_split, preprocess=None, augment=augment)
        preprocess = train_full.preprocess  # the dataset's default (or its dataset.yaml's)
        if self.parent is not None:  # fine-tuning: the checkpoint's preprocessing and classes
            finetune.check_same_classes(self.parent, list(train_full.info.class_names), f"dataset {root}")
        if cfg.dataset.preprocess or self.parent is not None:
            try:
                preprocess = self.parent.preprocess if self.parent is not None else \
                    PreprocessConfig.from_dict({**preprocess.to_dict(), **cfg.dataset.preprocess})
            except ValueError as error:
                raise TrainConfigError(f"dataset.preprocess: {error}") from None
            train_full = build_dataset(name, root, cfg.dataset.train_split, preprocess=preprocess, augment=augment)
        drop = cfg.train.modality_dropout
        # Blank images depend on the preprocessing, known only now; the dataset holds `augment` by reference.
        augment.modality_dropout = ModalityDropout(
            preprocess, x_rate=drop.x_rate, rgb_rate=drop.rgb_rate, x_kinds=tuple(drop.x_kinds),
            rgb_kinds=tuple(drop.rgb_kinds), params=DegradationParams(drop.noise_std, drop.shift_px))
        self.info, self.preprocess, self.dataset_name = train_full.info, preprocess, name
        train_ds: Dataset = train_full
        val_ds: Dataset | None = None
        if cfg.val.every_n_epochs > 0:
            if cfg.dataset.val_split is not None:
                val_ds = build_dataset(name, root, cfg.dataset.val_split, preprocess=preprocess, augment=None)
            elif cfg.dataset.val_holdout > 0:
                train_idx, val_idx = holdout_indices(len(train_full), cfg.dataset.val_holdout, cfg.train.seed)
                plain = build_dataset(name, root, cfg.dataset.train_split, preprocess=preprocess, augment=None)
                train_ds, val_ds = Subset(train_full, train_idx), Subset(plain, val_idx)
            else:
                raise TrainConfigError(
                    "validation is on (val.every_n_epochs > 0) but dataset.val_split is null and "
                    "dataset.val_holdout is 0: name a validation split, set a holdout fraction, or set "
                    "val.every_n_epochs: 0")
        replay = finetune.replay_dataset(cfg, preprocess, augment, len(train_ds), self.parent)  # type: ignore[arg-type]
        self.replay_samples, self.data_root = 0 if replay is None else len(replay), root  # type: ignore[arg-type]
        self.train_dataset = finetune.mix(train_ds, replay)
        self.val_dataset = val_ds
        self.sampler = ResumableSampler(self.train_dataset, self.dist.world_size, self.dist.rank, cfg.train.seed)
        per_rank = self.sampler.num_samples
        batches = per_rank // cfg.train.batch_size
        self.steps_per_epoch = batches // cfg.train.grad_accum_steps
        if self.steps_per_epoch < 1:
            raise TrainingError(
                f"{cfg.dataset.train_split!r} split has {len(self.train_dataset)} training images: too few for one "  # type: ignore[arg-type]
                f"optimizer step of train.batch_size={cfg.train.batch_size} x train.grad_accum_steps="
                f"{cfg.train.grad_accum_steps} x {self.dist.world_size} process(es)")

    def _build_model(self) -> None:
        cfg = self.config
        model_cfg = ModelConfig(
            variant=cfg.model.variant, num_classes=self.info.num_classes, x_channels=self.preprocess.x_channels,
            x_stem=cfg.model.x_stem, input_order=self.preprocess.channel_order, decoder_dim=cfg.model.decoder_dim,
            dropout=cfg.model.dropout, drop_path_rate=cfg.model.drop_path_rate)
        model = build_model(model_cfg if self.parent is None else self.parent.config)
        if cfg.model.pretrained and self._resume_path is None:
            self._load_pretrained(model, cfg.model.pretrained)
        if self.parent is not None:
            model.load_state_dict(self.parent.state_dict)
        palette = (self.parent.metadata.get("palette") if self.parent is not None else None) or self.info.palette
        self.metadata = {
            "preprocess": self.preprocess.to_dict(), "class_names": list(self.info.class_names),
            "palette": [[int(v) for v in colour] for colour in palette],
            "dataset": self.dataset_name,
            # what the model was trained to survive: `rxssnet eval/bag eval --degraded-modes` print it by the table
            "recipe": {"modality_dropout": dataclasses.asdict(cfg.train.modality_dropout)},
            "lineage": finetune.lineage(cfg, self.parent, self.data_root, self.replay_samples),
            **({"input_size": list(cfg.train.crop_size)} if cfg.train.crop_size else {}),  # the node's default
        }
        with contextlib.suppress(AttributeError, TypeError):
            model.metadata = dict(self.metadata)
        self.raw_model = model.to(self.device)
        self.model = wrap_ddp(self.raw_model, self.dist)

    def _load_pretrained(self, model: nn.Module, path: str) -> None:
        if not Path(path).expanduser().is_file():
            raise TrainConfigError(
                f"model.pretrained={path!r} does not exist; download the official ConvNeXt V2 ImageNet checkpoint "
                "(e.g. convnextv2_tiny_22k_384_ema.pt) or set model.pretrained: null to train from scratch")
        report = load_convnextv2_pretrained(model, str(Path(path).expanduser()))
        if self.dist.is_main:
            print(f"pretrained encoders from {path}: {report.summary()}", file=sys.stderr)

    # --- state ----------------------------------------------------------------------------------------------
    def _state_dict(self, rng_states: list[dict[str, Any]]) -> dict[str, Any]:
        cfg = self.config
        return {
            "format": ckpt.CHECKPOINT_FORMAT,
            "version": ckpt.CHECKPOINT_VERSION,
            "model": self.raw_model.state_dict(),
            "model_config": self.raw_model.config.to_dict(),
            "metadata": self.metadata,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_states[0],
            "rng_per_rank": rng_states,
            "progress": {
                "global_step": self.global_step,
                "epoch": self.epoch,
                "step_in_epoch": self.step_in_epoch,
                # Data-order position of this rank inside the epoch (samples consumed).
                "sample_position": self.step_in_epoch * cfg.train.grad_accum_steps * cfg.train.batch_size,
                "best_miou": self.best_miou,
                "best_epoch": self.best_epoch,
                "world_size": self.dist.world_size,
                "batch_size": cfg.train.batch_size,
                "grad_accum_steps": cfg.train.grad_accum_steps,
                "steps_per_epoch": self.steps_per_epoch,
                "seed": cfg.train.seed,
            },
            "config_yaml": yaml.safe_dump(cfg.to_dict(), sort_keys=False),
        }

    def _load_state(self, path: Path) -> None:
        state = ckpt.load_training_checkpoint(path, map_location=self.device)
        progress = state["progress"]
        cfg = self.config
        expected = {"world_size": self.dist.world_size, "batch_size": cfg.train.batch_size,
                    "grad_accum_steps": cfg.train.grad_accum_steps, "steps_per_epoch": self.steps_per_epoch,
                    "seed": cfg.train.seed}
        for key, value in expected.items():
            if int(progress[key]) != value:
                raise ckpt.CheckpointError(
                    f"cannot resume from {path}: it was written with {key}={progress[key]} but this run has "
                    f"{key}={value}; resume with the same settings (data order and schedule depend on them), "
                    "or start a new run")
        try:
            self.raw_model.load_state_dict(state["model"])
        except RuntimeError as error:
            raise ckpt.CheckpointError(f"cannot resume from {path}: its weights do not fit this model "
                                       f"configuration ({str(error).splitlines()[0]})") from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        per_rank = state.get("rng_per_rank") or [state["rng"]]
        ckpt.restore_rng_state(per_rank[self.dist.rank] if self.dist.rank < len(per_rank) else state["rng"])
        self.global_step = int(progress["global_step"])
        self.epoch = int(progress["epoch"])
        self.step_in_epoch = int(progress["step_in_epoch"])
        self.best_miou = None if progress["best_miou"] is None else float(progress["best_miou"])
        self.best_epoch = None if progress["best_epoch"] is None else int(progress["best_epoch"])
        if self.dist.is_main:
            print(f"resumed from {path} at step {self.global_step} (epoch {self.epoch + 1}, step "
                  f"{self.step_in_epoch} of {self.steps_per_epoch})", file=sys.stderr)

    def save_checkpoint(self) -> Path | None:
        """Write <output_dir>/checkpoints/last.pt atomically (rank 0); every rank must call it (RNG gather)."""
        rng_states = all_gather_objects(ckpt.capture_rng_state(), self.dist)
        path = None
        if self.dist.is_main:
            path = ckpt.atomic_torch_save(self._state_dict(rng_states), self.output_dir / LAST_CHECKPOINT)
        barrier(self.dist)
        return path

    # --- logging --------------------------------------------------------------------------------------------
    def _open_logs(self) -> None:
        if not self.dist.is_main:
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        # A run killed while writing a checkpoint leaves its temp file; the checkpoint itself is intact.
        for stale in (self.output_dir / LAST_CHECKPOINT).parent.glob(f".{LAST_CHECKPOINT.name}.*"):
            stale.unlink(missing_ok=True)
        (self.output_dir / "config.yaml").write_text(yaml.safe_dump(self.config.to_dict(), sort_keys=False))
        self.run_log.open(self.output_dir, self.config.logging.tensorboard, self.global_step)

    # --- loop -----------------------------------------------------------------------------------------------
    def _loader(self, epoch: int, start_position: int) -> DataLoader:
        cfg = self.config
        self.sampler.set_epoch(epoch)
        self.sampler.set_start(start_position)
        return DataLoader(
            SeededSampleView(self.train_dataset), batch_size=cfg.train.batch_size, sampler=self.sampler,
            num_workers=cfg.train.num_workers, drop_last=True, pin_memory=self.device.type == "cuda",
            worker_init_fn=worker_init, persistent_workers=False,
            # A private generator: creating an iterator must not draw from the global RNG (exact resume).
            generator=torch.Generator().manual_seed(cfg.train.seed * 1000 + epoch))

    def _micro_step(self, batch: dict[str, torch.Tensor], sync: bool) -> float:
        rgb = batch["rgb"].to(self.device, non_blocking=True)
        x = batch["x"].to(self.device, non_blocking=True)
        label = batch["label"].to(self.device, non_blocking=True)
        context = self.model.no_sync() if (not sync and hasattr(self.model, "no_sync")) else contextlib.nullcontext()
        with context:
            with autocast(self.device, self.amp_dtype if self.amp_enabled else None):
                logits = self.model(rgb, x)
                if logits.shape[-2:] != label.shape[-2:]:
                    logits = F.interpolate(logits, size=label.shape[-2:], mode="bilinear", align_corners=False)
                loss = self.criterion(logits.float(), label)
            self.scaler.scale(loss / self.config.train.grad_accum_steps).backward()
        return float(loss.detach())

    def _optimizer_step(self) -> None:
        clip = self.config.optimizer.grad_clip_norm
        if clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()

    def _mean_over_ranks(self, value: float) -> float:
        if not self.dist.is_distributed:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        return float(all_reduce_sum(tensor, self.dist).item()) / self.dist.world_size

    def validate(self) -> float | None:
        """mIoU on the validation data (sharded over ranks, confusion matrices summed); None without it."""
        if self.val_dataset is None:
            return None

        indices = list(range(self.dist.rank, len(self.val_dataset), self.dist.world_size))  # type: ignore[arg-type]
        with autocast(self.device, self.amp_dtype if self.amp_enabled else None):
            matrix = accumulate_confusion(
                self.raw_model, self.val_dataset, self.info.num_classes, indices=indices, mode=self.config.val.mode,
                device=self.device, progress=self.config.logging.progress and self.dist.is_main, desc="validate")
        counts = torch.from_numpy(matrix.matrix).to(self.device)
        matrix.matrix = all_reduce_sum(counts, self.dist).cpu().numpy()
        return matrix.compute().miou

    def _export(self, name: str) -> Path | None:
        if not self.dist.is_main:
            return None
        path = self.output_dir / name
        save_model(self.raw_model, path, metadata=dict(self.metadata))
        return path

    def fit(self, stop_after_steps: int | None = None) -> TrainResult:
        """Train to the end of schedule.epochs (or stop once global_step reaches `stop_after_steps`, writing a
        checkpoint first, which is how tests simulate an interruption). Returns a TrainResult."""
        cfg = self.config
        result = TrainResult(self.output_dir, self.global_step, self.epoch, False, self.best_miou, self.best_epoch,
                             None, None, None)
        self._open_logs()
        try:
            self._fit(result, stop_after_steps)
        finally:
            self.run_log.close()
        result.global_step, result.epoch = self.global_step, self.epoch
        result.best_miou, result.best_epoch = self.best_miou, self.best_epoch
        best = self.output_dir / "best.safetensors"
        result.best_path = best if best.is_file() else None
        result.finished = self.epoch >= cfg.schedule.epochs
        return result

    def _fit(self, result: TrainResult, stop_after_steps: int | None) -> None:
        cfg = self.config
        accum = cfg.train.grad_accum_steps
        every = cfg.checkpoint.every_n_steps
        show = cfg.logging.progress and self.dist.is_main
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        while self.epoch < cfg.schedule.epochs:
            start_position = self.step_in_epoch * accum * cfg.train.batch_size
            loader = self._loader(self.epoch, start_position)
            micro_batches = (self.steps_per_epoch - self.step_in_epoch) * accum
            progress: Any = None
            if show:
                progress = tqdm(total=self.steps_per_epoch, initial=self.step_in_epoch, unit="step",
                                desc=f"epoch {self.epoch + 1}/{cfg.schedule.epochs}", dynamic_ncols=True)
            losses: list[float] = []
            bad_steps = 0
            started = time.perf_counter()
            for index, batch in enumerate(batches(loader)):
                if index >= micro_batches:  # leftover micro-batches that cannot fill an optimizer step
                    break
                sync = (index + 1) % accum == 0
                losses.append(self._micro_step(batch, sync))
                if not sync:
                    continue
                lr = self.scheduler.get_last_lr()[0]
                self._optimizer_step()
                self.global_step += 1
                self.step_in_epoch += 1
                loss = self._mean_over_ranks(sum(losses) / len(losses))
                losses = []
                # fp16 overflows now and then; GradScaler skips those steps and lowers its scale. Only a
                # loss that stays non-finite (or any, without a scaler) means the run diverged.
                bad_steps = 0 if math.isfinite(loss) else bad_steps + 1
                if bad_steps > (MAX_SKIPPED_FP16_STEPS if self.scaler.is_enabled() else 0):
                    raise TrainingError(
                        f"the loss became {loss} at step {self.global_step} (epoch {self.epoch + 1}); lower "
                        f"optimizer.lr (now {cfg.optimizer.lr}), set optimizer.grad_clip_norm, or use train.amp=off. "
                        f"Resume from the last good checkpoint {self.output_dir / LAST_CHECKPOINT}")
                result.step_losses[self.global_step] = loss
                if self.dist.is_main:
                    self.run_log.record({"step": self.global_step, "epoch": self.epoch + 1, "loss": loss, "lr": lr})
                    if self.global_step % cfg.logging.log_every_n_steps == 0:
                        self.run_log.scalar("train/loss", loss, self.global_step)
                        self.run_log.scalar("train/lr", lr, self.global_step)
                if progress is not None:
                    progress.update(1)
                    progress.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}")
                last_of_epoch = self.step_in_epoch >= self.steps_per_epoch
                stopping = stop_after_steps is not None and self.global_step >= stop_after_steps
                if not last_of_epoch and ((every and self.global_step % every == 0) or stopping):
                    result.last_checkpoint = self.save_checkpoint() or result.last_checkpoint
                if stopping and not last_of_epoch:
                    if progress is not None:
                        progress.close()
                    return
            if progress is not None:
                progress.close()
            if self.step_in_epoch < self.steps_per_epoch:
                raise TrainingError(f"the data loader stopped after {self.step_in_epoch} of "
                                    f"{self.steps_per_epoch} steps in epoch {self.epoch + 1}")
            self.epoch += 1
            self.step_in_epoch = 0
            self._end_of_epoch(result, time.perf_counter() - started)
            result.last_checkpoint = self.save_checkpoint() or result.last_checkpoint
            if stop_after_steps is not None and self.global_step >= stop_after_steps:
                return
        result.final_path = self._export("final.safetensors")
        barrier(self.dist)

    def _end_of_epoch(self, result: TrainResult, seconds: float) -> None:
        cfg = self.config
        every = cfg.val.every_n_epochs
        is_last = self.epoch >= cfg.schedule.epochs
        if self.dist.is_main:
            self.run_log.record({"epoch_end": self.epoch, "step": self.global_step, "seconds": round(seconds, 3)})
        if self.val_dataset is None or not every or (self.epoch % every and not is_last):
            return
        miou = self.validate()
        self.model.train()
        if miou is None or math.isnan(miou):
            return
        result.val_mious[self.epoch] = miou
        improved = self.best_miou is None or miou > self.best_miou
        if self.dist.is_main:
            self.run_log.record({"val_epoch": self.epoch, "step": self.global_step, "val_miou": miou, "best": improved})
            self.run_log.scalar("val/mIoU", miou, self.global_step)
            if self.config.logging.progress:
                print(f"epoch {self.epoch}: val mIoU {miou * 100:.2f}%"
                      + (" (best)" if improved else f" (best {self.best_miou * 100:.2f}% at epoch "
                                                    f"{self.best_epoch})"), file=sys.stderr)
        if improved:
            self.best_miou, self.best_epoch = miou, self.epoch
            path = self._export("best.safetensors")
            if path is not None:
                (self.output_dir / "best.json").write_text(json.dumps(
                    {"val_miou": miou, "epoch": self.epoch, "step": self.global_step,
                     "val_split": cfg.dataset.val_split or f"holdout {cfg.dataset.val_holdout} of "
                                                            f"{cfg.dataset.train_split}"}, indent=2) + "\n")
        barrier(self.dist)
