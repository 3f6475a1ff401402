"""The training loop: schedule, ticks, evaluation, checkpoints, exact resume, NaN stop.

The loop stays small (conventions 8): the step lives in `step.py`, sparsity in
`sparse.py`, EMA in `ema.py`. Every random stream (data order and flips, latent noise,
sparse regrowth, global RNGs) is explicit and saved, so a resumed run continues bit for
bit on the CPU with --deterministic.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from ganctl import runtime
from ganctl.core import ddp, losses
from ganctl.core.dgl import check_teacher_shape, load_teacher
from ganctl.core.ema import EMA
from ganctl.core.loop import GANLoop, LoopHooks
from ganctl.core.optim import compile_module, lr_factor, make_adam, resolve_compile, set_lr, synchronize
from ganctl.core.sparse import SparseMasks, cosine_drop
from ganctl.core.step import GANStep, StepModules
from ganctl.data import BatchStream, load_data
from ganctl.errors import GanctlError, TrainingDivergedError, UsageError
from ganctl.evaluate.sample import sample_grid
from ganctl.genotype import load_genotype
from ganctl.io.artifact import save_discriminator, save_generator
from ganctl.io.atomic import atomic_write_json
from ganctl.io.checkpoint import load_checkpoint, restoring, save_checkpoint
from ganctl.io.rundir import RunDir, read_stats
from ganctl.models import build_discriminator, build_generator, discriminator_spec, generator_spec
from ganctl.nn.activations import pmish_betas
from ganctl.runtime import derive_seed, resolve_device, rng_state, seed_all, set_rng_state
from ganctl.train.config import NO_DECAY, TrainConfig, config_changes, eval_interval, load_saved, total_steps
from ganctl.train.metrics import MetricChoice, ScheduleGate, build_train_metric
from ganctl.train.preflight import check_inputs
from ganctl.train.report import plot_curves

CHECKPOINT = "checkpoint.pt"
GENERATOR = "generator.safetensors"
DISCRIMINATOR = "discriminator.safetensors"
BEST = "best_generator.safetensors"
CURVES = "curves.png"


@dataclass
class Hooks:
    """How the CLI watches a run without the core importing Rich."""

    echo: Callable[[str], None] | None = None
    progress: Callable[[int, int], None] | None = None  # (step, total)


def build_models(cfg: TrainConfig) -> tuple[nn.Module, nn.Module]:
    """G from the genotype (a genotype for another resolution fails here), D from the flags."""
    g_spec, d_spec = model_specs(cfg)
    return build_generator(g_spec), build_discriminator(d_spec)


_REAL_BUILD_MODELS = build_models


def model_specs(cfg: TrainConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """The specs G and D are built from (the preflight checks them before any weights exist)."""
    genotype = load_genotype(cfg.genotype)
    init = derive_seed(cfg.seed, "init") % (1 << 31)
    g_spec = generator_spec(
        genotype,
        resolution=cfg.resolution,
        width=cfg.width,
        latent_dim=cfg.latent_dim,
        activation=cfg.activation,
        init_seed=init,
    )
    d_spec = discriminator_spec(
        "resnet",
        width=cfg.d_width,
        resolution=cfg.resolution,
        out_dim=cfg.d_out_dim,
        norm="sn" if cfg.d_norm == "sn" else "bssn",
        scale=1.0 if cfg.d_norm == "sn" else cfg.bssn_scale,
        init_seed=init + 1,
    )
    return g_spec, d_spec


def _configure_determinism(cfg: TrainConfig, device: torch.device) -> None:
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


class Trainer:
    """One run: built from a config, optionally restored from the run folder's checkpoint."""

    def __init__(self, cfg: TrainConfig, run: RunDir, world: runtime.World, device: torch.device, hooks: Hooks):
        self.cfg, self.run, self.world, self.device, self.hooks = cfg, run, world, device, hooks
        ddp.check_batch(cfg.batch_size, world)
        seed_all(cfg.seed)
        self.data = self._load_data()
        self.total = total_steps(cfg, len(self.data))
        self.eval_every = eval_interval(cfg, len(self.data))
        self.sample_every = cfg.sample_every or self.eval_every or cfg.checkpoint_every
        G, D, teacher = self._build_networks()
        betas = (cfg.beta1, cfg.beta2)
        self.opt_g = make_adam(G.parameters(), cfg.lr_g, betas, device)  # fused on CUDA
        self.opt_d = make_adam(D.parameters(), cfg.lr_d, betas, device)
        self.sparse_g, self.sparse_d = self._build_sparse()
        self.ema = EMA(G, cfg.ema_decay, warmup=cfg.ema_warmup)
        self.bound = losses.BoundSchedule.from_recipe(cfg, total_updates=max(1, self.total // max(self.eval_every, 1)))
        # every rank draws the same global batch and noise and keeps its slice (see ddp.py)
        self.stream = BatchStream(
            self.data, cfg.batch_size, device, seed=derive_seed(cfg.seed, "data"), flip=cfg.flip
        )
        self.noise = torch.Generator(device=device).manual_seed(derive_seed(cfg.seed, "noise"))
        self.best: float | None = None
        self.metric: MetricChoice | None = None
        self.gate = ScheduleGate()
        self.step_fn = GANStep(
            self._wrap(G, D, teacher),
            self.opt_g,
            self.opt_d,
            cfg,
            device=device,
            world=world,
            channels_last=cfg.channels_last,
        )
        self.loop = self._make_loop()
        self.compile_warmup_s: float | None = None
        self._warmup_unlogged = True

    def _load_data(self) -> Any:
        cfg = self.cfg
        data = load_data(cfg.data, cfg.data_root, cfg.resolution, seed=cfg.seed)
        if data.resolution != cfg.resolution:
            raise UsageError(f"--data {cfg.data} gave {data.resolution} px images, expected {cfg.resolution}")
        return data

    def _build_networks(self) -> tuple[nn.Module, nn.Module, nn.Module | None]:
        """G and D on the device (NHWC, synced BN under DDP), and the DGL teacher D if any."""
        cfg, device = self.cfg, self.device
        G, D = build_models(cfg)
        G, D = G.to(device), D.to(device)
        if cfg.channels_last:
            G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
        if self.world.distributed and device.type == "cuda":
            G = nn.SyncBatchNorm.convert_sync_batchnorm(G)  # BN over the global batch, as with one GPU
        self.G, self.D = G, D
        teacher = None
        if cfg.teacher_d:
            teacher = load_teacher(cfg.teacher_d, cfg.resolution, device)
            check_teacher_shape(teacher, cfg.resolution, device, cfg.teacher_d)
        return G, D, teacher

    def _build_sparse(self) -> tuple[SparseMasks | None, SparseMasks | None]:
        """Sparse-training masks for G and D (dense when the density is 1), applied once at the start."""
        cfg = self.cfg
        sparse_gen = torch.Generator().manual_seed(derive_seed(cfg.seed, "sparse"))
        sparse_g = SparseMasks(self.G, cfg.g_density, "gradient", sparse_gen) if cfg.g_density < 1 else None
        regrow = "random" if cfg.sparse_d_regrow == "random" else "static"
        sparse_d = SparseMasks(self.D, cfg.d_density, regrow, sparse_gen) if cfg.d_density < 1 else None
        for masks, module in ((sparse_g, self.G), (sparse_d, self.D)):
            if masks is not None:
                masks.apply(module)
        return sparse_g, sparse_d

    def _wrap(self, G: nn.Module, D: nn.Module, teacher: nn.Module | None) -> StepModules:
        g_train, d_train = G, D
        if self.world.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # buffers: SN vectors evolve identically on every rank; BN is synced (CUDA) — no broadcast needed,
            # and broadcasting would fight the two forwards per step
            g_train = DDP(G, device_ids=ids, broadcast_buffers=False)
            d_train = DDP(D, device_ids=ids, broadcast_buffers=False)
        g_nograd, d_frozen = G, D
        if self.cfg.compile:
            mode = self.cfg.compile_mode
            g_train, d_train = compile_module(g_train, mode), compile_module(d_train, mode)
            g_nograd, d_frozen = compile_module(G, mode), compile_module(D, mode)
        return StepModules(G, D, g_train, g_nograd, d_train, d_frozen, teacher)

    # -- randomness ---------------------------------------------------------------------
    def next_real(self) -> torch.Tensor:
        return self.world.slice(self.stream.next())

    def next_noise(self) -> torch.Tensor:
        z = torch.randn(self.cfg.batch_size, self.cfg.latent_dim, generator=self.noise, device=self.device)
        return self.world.slice(z)

    # -- state --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": "train",
            "step": self.step,
            "total_steps": self.total,
            "config": self.cfg.to_dict(),
            "g_spec": self.G.spec,
            "d_spec": self.D.spec,
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "ema": self.ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler": None,
            "bound": self.bound.state_dict(),
            "best": self.best,
            "gate": self.gate.state_dict(),
            "sparse_g": self.sparse_g.state_dict() if self.sparse_g else None,
            "sparse_d": self.sparse_d.state_dict() if self.sparse_d else None,
            "noise_rng": self.noise.get_state(),
            "rng": rng_state(),
            "data": self.stream.state_dict(),
            "sums": self.step_fn.sums.cpu(),
            "count": self.step_fn.count,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.bound.load_state_dict(state["bound"])
        self.best = state["best"]
        self.gate.load_state_dict(state.get("gate"))
        for name, masks in (("sparse_g", self.sparse_g), ("sparse_d", self.sparse_d)):
            if (masks is None) != (state[name] is None):
                raise UsageError(
                    f"--resume: the checkpoint {'has' if state[name] else 'lacks'} {name} masks "
                    f"but this config {'does not' if masks is None else 'does'} train sparse"
                )
            if masks is not None:
                masks.load_state_dict(state[name])
        self.noise.set_state(state["noise_rng"].to(self.noise.get_state().device))
        set_rng_state(state["rng"])
        self.stream.load_state_dict(state["data"])
        self.step_fn.sums = state["sums"].to(self.device)
        self.step_fn.count = int(state["count"])
        self.step = int(state["step"])
        if self.step > self.total:
            raise UsageError(
                f"--resume: the checkpoint is at step {self.step}, past the {self.total} steps "
                f"asked for (raise --steps with --allow-change steps)"
            )

    # -- the loop -----------------------------------------------------------------------
    def _make_loop(self) -> GANLoop:
        """The core loop with train's hooks: sparsity and EMA after the G step, ticks and checkpoints after."""
        return GANLoop(
            self.step_fn, self.next_real, lambda _real: self.next_noise(),
            n_critic=self.cfg.n_critic, total=self.total, bound=self.bound,
            hooks=LoopHooks(
                before_step=self._before_step, after_d=self._after_d, after_g=self._after_g,
                after_step=self._after_step,
            ),
        )

    @property
    def step(self) -> int:
        return self.loop.step

    @step.setter
    def step(self, value: int) -> None:
        self.loop.step = value

    def fit(self) -> dict[str, Any]:
        self._tick_start, self._tick_images = time.perf_counter(), 0
        self._warming = bool(self.cfg.compile) and self.step < self.total
        if self._warming and self.hooks.echo and self.world.is_main:
            self.hooks.echo(f"compiling G and D (torch.compile, mode {self.cfg.compile_mode}); the first step waits")
        self._step_start = time.perf_counter()
        self.loop.run()
        return self._finish()

    def _before_step(self, done: int) -> None:
        """The scheduled learning rates for the coming update, set every step from the config (constant unless
        --lr-decay-start), so a resumed run follows its schedule whatever rate the checkpoint's optimiser held."""
        factor = lr_factor(done, self.total, self.cfg.lr_decay_start)
        set_lr(self.opt_g, self.cfg.lr_g * factor)
        set_lr(self.opt_d, self.cfg.lr_d * factor)

    def _after_d(self) -> None:
        if self.sparse_d:
            self.sparse_d.apply(self.D)

    def _after_g(self, step: int) -> None:
        if step % self.cfg.sparse_every == 0 and step < self.total:
            self._sparse_update()
        if self.sparse_g:
            self.sparse_g.apply(self.G)
        self.ema.update(self.G, step)
        if self.sparse_g:
            self.sparse_g.apply(self.ema.module)

    def _after_step(self, step: int) -> None:
        cfg = self.cfg
        if self._warming:  # the compile warm-up is its own line, and stays out of the img/s figures
            self._warming = False
            self._report_warmup(self._step_start)
            self._tick_start = time.perf_counter()
        else:
            self._tick_images += cfg.batch_size * cfg.n_critic
        if self.hooks.progress:
            self.hooks.progress(step, self.total)
        final = step == self.total
        evaluate = self.eval_every > 0 and (step % self.eval_every == 0 or final)
        if step % cfg.log_every == 0 or evaluate or final:
            if self._tick_images:
                rate = self._tick_images / max(time.perf_counter() - self._tick_start, 1e-9)
            else:  # a tick holding only the warm-up step
                rate = cfg.batch_size * cfg.n_critic / max(self.compile_warmup_s or 0.0, 1e-9)
            self._tick(evaluate, rate)
            self._tick_start, self._tick_images = time.perf_counter(), 0
        if self.world.is_main and (step % self.sample_every == 0 or final):
            self._grid()
        if step % cfg.checkpoint_every == 0 or final:
            self._checkpoint()

    def _report_warmup(self, start: float) -> None:
        synchronize(self.device)  # the compiled kernels have run, not just been queued
        self.compile_warmup_s = time.perf_counter() - start
        if self.hooks.echo and self.world.is_main:
            self.hooks.echo(f"compile warm-up: {self.compile_warmup_s:.1f} s (step {self.step}, not in img/s)")

    def _sparse_update(self) -> None:
        drop = cosine_drop(self.step, self.total, self.cfg.sparse_drop)
        if self.sparse_g:
            self.sparse_g.update(self.G, drop)
        if self.sparse_d:
            self.sparse_d.update(self.D, drop)
            self.sparse_d.apply(self.D)

    def _check_finite(self) -> None:
        bad = self.step_fn.first_bad_step()
        if bad is not None:
            ckpt = self.run.path(CHECKPOINT)
            kept = (
                f"last good checkpoint kept at {ckpt}" if ckpt.exists() else "no checkpoint was written yet"
            )
            raise TrainingDivergedError(f"a loss became NaN/Inf at step {bad}; training stopped ({kept})")

    def _tick(self, evaluate: bool, rate: float) -> None:
        self._check_finite()
        loss_d, loss_g = self.step_fn.means()
        self.step_fn.reset_sums()
        row: dict[str, Any] = {
            "step": self.step,
            "kimg": round(self.step * self.cfg.batch_size / 1000, 3),
            "epoch": round(self.step * self.cfg.batch_size / len(self.data), 3),
            "loss_d": loss_d,
            "loss_g": loss_g,
            "b_u": self.bound.b_u,
            "img_per_s": round(rate, 1),
            "lr_g": self.opt_g.param_groups[0]["lr"],  # the rate the last update used
        }
        if self._warmup_unlogged and self.compile_warmup_s is not None:
            row["compile_warmup_s"] = round(self.compile_warmup_s, 3)
            self._warmup_unlogged = False
        if evaluate:
            metric = self._evaluate()
            proxy = self.metric is None or self.metric.is_proxy
            row.update({"metric_name": self.proxy_name, "metric": metric, "metric_is_proxy": proxy})
            if proxy:
                row.update({"proxy_name": self.proxy_name, "proxy": metric})
            if self.gate.should_update(self.ema.module):  # one judgement per distinct generator state
                self.bound.update(metric)
            row["b_u_next"] = self.bound.b_u
            if self.best is None or metric < self.best:
                self.best = metric
                if self.world.is_main:
                    self._save_generator(
                        BEST, {"proxy_metric": self.proxy_name, "proxy_value": metric, "proxy": proxy}
                    )
        for name, masks in (("g", self.sparse_g), ("d", self.sparse_d)):
            if masks is not None:
                s = masks.stats()
                row[f"{name}_density"], row[f"{name}_exploration"] = (
                    round(s["density"], 6),
                    round(s["exploration"], 6),
                )
        betas = self.pmish_betas()
        if betas:
            row["pmish_beta"] = [round(b, 4) for b in betas.values()]
        if self.world.is_main:
            self.run.log(row)
            if self.hooks.echo:
                self.hooks.echo(status_line(row, self.total))

    @property
    def proxy_name(self) -> str:
        """The in-loop metric's name (FID/KID with its protocol, or a name ending in _proxy)."""
        return self.metric.name if self.metric is not None else "proxy"

    def _evaluate(self) -> float:
        metric = float("nan")
        if self.world.is_main:
            with _rng_fork(self.device):
                if self.metric is None:
                    self.metric = build_train_metric(
                        self.cfg.metric, self.data, eval_samples=self.cfg.eval_samples,
                        eval_extractor=self.cfg.eval_extractor, weights=self.cfg.inception_weights,
                        seed=derive_seed(self.cfg.seed, "eval") % (1 << 31), device=self.device,
                        precision=self.cfg.precision,
                    )
                    if self.metric.note and self.hooks.echo:
                        self.hooks.echo(self.metric.note)
                metric = float(self.metric.scorer.score(self.ema.module))
        return ddp.broadcast_float(metric, self.world, self.device)

    def _grid(self) -> None:
        with _rng_fork(self.device):
            sample_grid(
                self.ema.module,
                self.cfg.grid_size,
                derive_seed(self.cfg.seed, "grid") % (1 << 31),
                self.run.path(f"samples/step-{self.step:06d}.png"),
                device=self.device,
            )

    def pmish_betas(self) -> dict[str, float]:
        return pmish_betas(self.ema.module)

    def _provenance(self) -> dict[str, Any]:
        prov: dict[str, Any] = {
            "stage": "train",
            "step": self.step,
            "seed": self.cfg.seed,
            "data": self.data.name,
            "data_fingerprint": self.data.fingerprint,
            "preset": self.cfg.preset,
            "loss": self.cfg.loss,
            "precision": self.cfg.precision,
            "ema_decay": self.cfg.ema_decay,
            "pmish_beta": self.pmish_betas(),
            "recipe": self.cfg.to_record(bound_reached=self.bound.b_u),
        }
        if self.cfg.lr_decay_start != NO_DECAY:
            prov["lr_decay_start"] = self.cfg.lr_decay_start
        if self.sparse_g:
            prov["g_density"] = self.cfg.g_density
            prov["g_real_density"] = self.sparse_g.stats()["density"]
        if self.cfg.teacher_d:
            prov["dgl"] = {"teacher": str(self.cfg.teacher_d), "weight": self.cfg.dgl_weight}
        return prov

    def _save_generator(self, name: str, extra: dict[str, Any] | None = None) -> None:
        save_generator(self.run.path(name), self.ema.module, {**self._provenance(), **(extra or {})})

    def _checkpoint(self) -> None:
        self._check_finite()  # a NaN state is never written over the last good one
        if self.world.is_main:
            self._save_generator(GENERATOR)
            prov = {
                "stage": "train",
                "step": self.step,
                "seed": self.cfg.seed,
                "data_fingerprint": self.data.fingerprint,
            }
            if self.sparse_d:
                prov["d_density"] = self.cfg.d_density
            save_discriminator(self.run.path(DISCRIMINATOR), self.D, prov)
            save_checkpoint(self.run.path(CHECKPOINT), self.state_dict())
            pause = os.environ.get("GANCTL_TEST_PAUSE_AFTER_CHECKPOINT")  # lets a test SIGKILL mid-run
            if pause:
                time.sleep(float(pause))
        runtime.barrier(self.world)

    def _finish(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "output": str(self.run.path(GENERATOR)),
            "steps": self.total,
            "checkpoint": str(self.run.path(CHECKPOINT)),
            "device": str(self.device),
            "precision": self.cfg.precision,
            "world_size": self.world.world_size,
            "data_fingerprint": self.data.fingerprint,
            "b_u": self.bound.b_u,
            "pmish_beta": self.pmish_betas(),
            "compile": bool(self.cfg.compile),
            "compile_warmup_s": self.compile_warmup_s,
        }
        if self.eval_every > 0:
            summary.update(
                {
                    "proxy_name": self.proxy_name,
                    "best_proxy": self.best,
                    "metric_is_proxy": self.metric is None or self.metric.is_proxy,
                    "best_output": str(self.run.path(BEST)),
                }
            )
        for name, masks in (("g", self.sparse_g), ("d", self.sparse_d)):
            if masks is not None:
                mask_stats = masks.stats()
                summary[f"{name}_density"] = mask_stats["density"]
                summary[f"{name}_exploration"] = mask_stats["exploration"]
        if self.world.is_main:
            plot_curves(read_stats(self.run.root), self.run.path(CURVES), self.proxy_name)
            summary["curves"] = str(self.run.path(CURVES))
            self.run.finish(summary)
        return summary


@contextlib.contextmanager
def _rng_fork(device: torch.device):
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield


def status_line(row: dict[str, Any], total: int) -> str:
    """The console line; the same numbers as the stats.jsonl row."""
    parts = [
        f"step {row['step']}/{total}",
        f"kimg {row['kimg']:.1f}",
        f"L_D {row['loss_d']:.4f}",
        f"L_G {row['loss_g']:.4f}",
        f"b_u {row['b_u']:g}",
        f"{row['img_per_s']:.0f} img/s",
    ]
    if "metric" in row:
        parts.append(f"{row['metric_name']} {row['metric']:.3f}")
    if "g_density" in row:
        parts.append(f"G density {row['g_density']:.4f}")
    return "  ".join(parts)


def train(
    cfg: TrainConfig, *, resume: bool = False, force: bool = False, hooks: Hooks | None = None
) -> dict[str, Any]:
    """Run (or resume) a training run in `cfg.out`; returns the summary (also in status.json)."""
    device = resolve_device(cfg.device)
    world = runtime.init_distributed(device)
    device = runtime.rank_device(device, world)
    _configure_determinism(cfg, device)
    if cfg.compile is None:  # config.json records what ran
        cfg = dataclasses.replace(cfg, compile=resolve_compile(None, device))
    if cfg.precision == "bf16" and device.type == "cpu" and not cfg.deterministic:
        pass  # allowed (slow on most CPUs); recorded in the config and summary
    # inputs fail before the run folder is claimed; a replaced builder (tests' stand-ins) brings its own specs
    check_inputs(cfg, model_specs if build_models is _REAL_BUILD_MODELS else None)
    # a finished run reopens only to be extended (--allow-change steps): an unchanged --resume is refused
    extend = resume and bool(config_changes(load_saved(cfg.out), cfg.to_dict()))
    run = RunDir.open(cfg.out, cfg.to_dict(), force=force, resume=resume, write=world.is_main, reopen=extend,
                      inputs=(cfg.genotype, cfg.teacher_d))
    try:
        trainer = Trainer(cfg, run, world, device, hooks or Hooks())
        if resume:
            ckpt_path = run.path(CHECKPOINT)
            if ckpt_path.exists():
                state = load_checkpoint(ckpt_path, expect_kind="train")
                with restoring(ckpt_path):
                    trainer.load_state_dict(state)
                if world.is_main:
                    run.truncate_stats(trainer.step)
            if world.is_main:
                atomic_write_json(run.path("config.json"), cfg.to_dict())  # allowed changes recorded
                run.mark_unfinished()  # an extended finished run: unfinished until its new end
        return trainer.fit()
    except GanctlError:
        raise
    finally:
        run.close()
        runtime.shutdown(world)


def checkpoint_path(out: str | Path) -> Path:
    return Path(out) / CHECKPOINT
