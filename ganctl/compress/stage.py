"""`compress` core: artifact in, decomposed (and fine-tuned) artifact + ranks.json + plot out."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import InitVar, asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganctl.compress import ranks as rk
from ganctl.compress.decompose import decompose_layer, dense_params, factorised_params
from ganctl.compress.finetune import FinetuneConfig, finetune, from_record
from ganctl.compress.plan import select_layers, validate_plan
from ganctl.compress.report import size_vs_quality_plot
from ganctl.core.dgl import check_teacher_shape, load_teacher
from ganctl.data import BatchStream, load_data
from ganctl.errors import InputFileError, UsageError
from ganctl.evaluate import QualityProxy
from ganctl.io.artifact import read_artifact, save_generator
from ganctl.io.atomic import atomic_write_json
from ganctl.io.configfile import load_saved_config, refuse_changed
from ganctl.io.rundir import RunDir
from ganctl.io.safeio import read_json
from ganctl.models import build_discriminator, discriminator_spec, limits
from ganctl.models.artifact import load_discriminator, load_generator
from ganctl.nn.factorised import num_params
from ganctl.recipe import AUTO, PRECISIONS, check_choice, upgrade_keys, upgrade_saved
from ganctl.runtime import derive_seed, resolve_device, resolve_precision, seed_all

GENERATOR = "generator.safetensors"
RANKS = "ranks.json"
PLAN = "plan.json"
PLOT = "size_vs_quality.png"
CHECKPOINT = "checkpoint.pt"
DISCRIMINATOR = "discriminator.safetensors"  # train's D beside its generator: the student D starts from it


@dataclass
class CompressConfig:
    artifact: str
    out: str
    rank: str = "auto"  # auto | INT | path to PLAN.json
    method: str = "cp"
    layers: list[str] = field(default_factory=list)
    penalty: float = 0.1
    target_params: float | None = None
    finetune_steps: int = 0
    checkpoint_every: int = 200
    freeze_factors: bool = False
    distill_weight: float = 0.0  # fine-tuning: L1 pull toward the uncompressed G's output (0 = off)
    teacher_d: str | None = None
    data: str | None = None
    data_root: str | None = None
    batch_size: int = 64
    # recipe overrides for fine-tuning, by the recipe's names; None: the parent's recorded recipe (the
    # bound it reached for bound_upper), else the recipe's default
    bound_upper: float | None = None
    bound_lower: float | None = None
    mmd_modified_weight: float | None = None
    lr_g: float | None = None
    lr_d: float | None = None
    dgl_weight: float | None = None
    precision: str = AUTO  # of fine-tuning and the proxy; resolved for the device, never the parent's
    probe_samples: int = 1000
    eval_extractor: str = "auto"
    fit_iters: int = 50
    device: str = "auto"
    seed: int = 0
    resume: bool = False
    force: bool = False
    # earlier spellings, still accepted as keyword arguments (the API, scripts): b_u, lr (both rates), extractor
    b_u: InitVar[float | None] = None
    lr: InitVar[float | None] = None
    extractor: InitVar[str | None] = None

    def __post_init__(self, b_u: float | None, lr: float | None, extractor: str | None) -> None:
        for key, value in upgrade_keys({"b_u": b_u, "lr": lr}).items():
            if value is not None and getattr(self, key) is None:  # the recipe's own name wins
                setattr(self, key, value)
        if extractor is not None:
            self.eval_extractor = extractor
        check_choice("precision", self.precision, (AUTO, *PRECISIONS))
        _check_config(self)  # a config that exists is valid

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompressConfig:
        """From config.json, a --config file or flags; earlier key spellings are upgraded."""
        return cls(**upgrade_keys(data))

    def recipe_overrides(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in RECIPE_OVERRIDES}


RECIPE_OVERRIDES = ("bound_upper", "bound_lower", "mmd_modified_weight", "lr_g", "lr_d", "dgl_weight")


@dataclass
class Hooks:
    echo: Callable[[str], None] | None = None
    progress: Callable[[str, int, int], None] | None = None
    quality: Callable[[nn.Module], float] | None = None  # tests inject a stand-in proxy
    quality_name: str = ""


def _rank_policy(rank: str) -> tuple[str, Any]:
    if rank == "auto":
        return "auto", None
    if rank.lstrip("-").isdigit():
        value = int(rank)
        if value < 1:
            raise UsageError(f"--rank {rank}: a fixed rank must be at least 1")
        return "fixed", value
    if rank.endswith(".json") or Path(rank).exists():
        return "file", rank
    raise UsageError(f"--rank {rank!r}: expected auto, a positive integer or a PLAN.json file")


def _check_config(cfg: CompressConfig) -> str:

    limits.check_finite_numbers(asdict(cfg))
    limits.check_sizes(asdict(cfg))
    limits.check_seed(cfg.seed)
    policy, _ = _rank_policy(cfg.rank)
    if cfg.method not in ("cp", "tucker"):
        raise UsageError(f"--method {cfg.method!r}: expected cp or tucker")
    if cfg.target_params is not None and policy != "auto":
        raise UsageError("--target-params chooses ranks itself; use it with --rank auto")
    if cfg.target_params is not None and not 0 < cfg.target_params <= 1:
        raise UsageError(f"--target-params {cfg.target_params}: expected a fraction in (0, 1]")
    if cfg.penalty < 0:
        raise UsageError(f"--penalty {cfg.penalty}: must be ≥ 0")
    if cfg.checkpoint_every < 1:
        raise UsageError(f"--checkpoint-every {cfg.checkpoint_every}: must be ≥ 1")
    if cfg.finetune_steps < 0:
        raise UsageError(f"--finetune-steps {cfg.finetune_steps}: must be ≥ 0")
    if cfg.teacher_d and cfg.finetune_steps == 0:
        raise UsageError("--teacher-d only acts during fine-tuning; add --finetune-steps N")
    if cfg.distill_weight < 0:
        raise UsageError(f"--distill-weight {cfg.distill_weight}: must be ≥ 0")
    if cfg.distill_weight > 0 and cfg.finetune_steps == 0:
        raise UsageError("--distill-weight only acts during fine-tuning; add --finetune-steps N")
    return policy


# Fields newer than some compress config.json files, by generation (oldest first), with the values those runs
# went with: checkpoints came after the first release of compress, output distillation later.
ADDED_SINCE_FIRST: tuple[dict[str, Any], ...] = (
    {"checkpoint_every": CompressConfig.checkpoint_every},
    {"distill_weight": 0.0},
)

# Flags a resume may change: where and how the run executes, not what it computes.
RUNTIME_KEYS = frozenset({"out", "device", "resume", "force", "checkpoint_every", "data_root"})


def load_saved(out: str) -> dict[str, Any]:
    """A compress run's config.json, checked (exit 3 naming the file when it is not right); an older one
    (legacy `b_u`, `lr`, `extractor`; fields added since) is brought up to date."""
    return load_saved_config(out, CompressConfig, added=ADDED_SINCE_FIRST, upgrade=upgrade_saved)


def _check_resume_flags(cfg: CompressConfig) -> None:
    """A resumed compression must use the saved flags: its plan and layers already hold the old ones."""
    saved = load_saved(cfg.out)
    now = asdict(cfg)
    keys = [k for k in now if k not in RUNTIME_KEYS]
    if os.path.exists(saved["artifact"]) and os.path.exists(cfg.artifact) \
            and os.path.samefile(saved["artifact"], cfg.artifact):
        keys.remove("artifact")  # the same file named from another folder
    refuse_changed(saved, now, keys, "resume with the saved flags, or start over with --force")


def _load_parent(cfg: CompressConfig, device: torch.device) -> tuple[nn.Module, Any]:
    info = read_artifact(cfg.artifact, expect_kind="generator", with_hash=False)  # load_generator hashes it
    if info.spec.get("decomposition"):
        raise InputFileError(
            "is already decomposed (its spec has a decomposition plan); compress the "
            "uncompressed parent instead",
            cfg.artifact,
        )
    G, info = load_generator(cfg.artifact, device)
    return G, info


def _load_data(cfg: CompressConfig, resolution: int) -> Any:
    if not cfg.data:
        raise UsageError("--data is needed for --rank auto and for fine-tuning")

    return load_data(cfg.data, root=cfg.data_root, resolution=resolution, seed=cfg.seed)


def _teacher(cfg: CompressConfig, parent: Any, resolution: int, device: torch.device) -> nn.Module | None:
    if not cfg.teacher_d:
        return None

    if cfg.teacher_d.endswith(".safetensors"):

        prov = read_artifact(cfg.teacher_d, with_hash=False).provenance
        mine, theirs = parent.provenance.get("data_fingerprint"), prov.get("data_fingerprint")
        if mine and theirs and mine != theirs:
            raise UsageError(
                f"--teacher-d {cfg.teacher_d}: this discriminator was trained on other data than "
                f"the generator (data fingerprint {theirs[:12]} vs {mine[:12]})"
            )
    teacher = load_teacher(cfg.teacher_d, resolution, device)
    check_teacher_shape(teacher, resolution, device, cfg.teacher_d)
    return teacher


def _student_d(cfg: CompressConfig, teacher: nn.Module | None, resolution: int) -> nn.Module:
    """The student D starts from the teacher, else the D saved next to the artifact, else a fresh one."""
    if teacher is not None:
        return copy.deepcopy(teacher).requires_grad_(True)
    beside = Path(cfg.artifact).with_name(DISCRIMINATOR)
    if beside.is_file():

        return load_discriminator(beside)[0]

    init = derive_seed(cfg.seed, "compress/d_init") % (1 << 31)
    return build_discriminator(discriminator_spec("resnet", width=128, resolution=resolution, init_seed=init))


def parent_record(provenance: dict[str, Any]) -> dict[str, Any]:
    """The recipe recorded in an artifact's provenance (v1 or v2; a compressed parent's own parent is
    followed); {} for artifacts written before recipes were recorded."""
    record = provenance.get("recipe")
    if isinstance(record, dict):
        return record
    parent = provenance.get("parent_provenance")
    return parent_record(parent) if isinstance(parent, dict) else {}


def _finetune_config(cfg: CompressConfig, provenance: dict, device: torch.device) -> tuple[FinetuneConfig, list[str]]:
    record = parent_record(provenance)
    if record.get("loss") is None and provenance.get("loss"):  # artifacts from before recipes were recorded
        record = {**record, "loss": provenance["loss"]}
    return from_record(
        record,
        cfg.recipe_overrides(),
        steps=cfg.finetune_steps,
        batch_size=cfg.batch_size,
        freeze_factors=cfg.freeze_factors,
        distill_weight=cfg.distill_weight,
        seed=cfg.seed,
        checkpoint_every=cfg.checkpoint_every,
        precision=resolve_precision(cfg.precision, device),
    )


def _finetune_record(ft_config: tuple[FinetuneConfig, list[str]]) -> dict[str, Any]:
    """The recipe fine-tuning ran (recipe names), and which of its values came from the parent's record."""
    ft, taken = ft_config
    return {**asdict(ft.recipe()), "from_parent": taken}


def choose_plan(job: _Job) -> Plan:
    """Ranks from --rank: one for every layer, a PLAN.json, or the ARD search scored by the proxy (methods §5)."""
    cfg, layers = job.cfg, job.layers
    policy, value = _rank_policy(cfg.rank)
    if policy == "fixed":
        return Plan(rk.fixed_plan(layers, cfg.method, value))
    if policy == "file":
        return Plan(rk.load_plan_file(value, layers, cfg.method))
    cost = rk.ProbeCost()
    results, baseline, fits = rk.ard_search(job.G, layers, cfg.method, job.quality, penalty=cfg.penalty,
                                            n_iter=cfg.fit_iters, progress=job.hooks.progress, cost=cost)
    job.echo(f"ARD: {cost.probes} probes on {cost.device}: fits {cost.fit_s:.1f} s, proxy scores {cost.score_s:.1f} s")
    if cfg.target_params is not None:
        rk.budget_choice(results, num_params(job.G), cfg.target_params)
    return Plan(rk.plan_from_search(results, layers, cfg.method), results, baseline, fits, cost)


@dataclass
class _Job:
    """What every phase of one compression reads: the config, the parent and its layers, data, proxy, run folder."""

    cfg: CompressConfig
    hooks: Hooks
    device: torch.device
    G: nn.Module
    parent: Any
    layers: dict[str, nn.Module]
    data: Any
    teacher: nn.Module | None
    ft_config: tuple[FinetuneConfig, list[str]]  # the fine-tune's recipe and the fields taken from the parent
    run: RunDir | None = None
    quality: Callable[[nn.Module], float] | None = None
    quality_name: str = ""

    def echo(self, line: str) -> None:
        if self.hooks.echo:
            self.hooks.echo(line)

    def score(self, G: nn.Module) -> float | None:
        return float(self.quality(G)) if self.quality is not None else None


@dataclass
class Plan:
    """The chosen decomposition and how it was found (ARD probes and fits, when --rank auto)."""

    entries: list[dict]
    results: list[rk.LayerSearch] = field(default_factory=list)
    baseline: float | None = None  # the dense G's proxy quality
    fits: dict = field(default_factory=dict)
    cost: rk.ProbeCost | None = None
    notes: list[dict] = field(default_factory=list)  # per-layer fit errors of layers fitted after the search


def compress(cfg: CompressConfig, hooks: Hooks | None = None) -> dict[str, Any]:
    """The compress stage (`ganctl.compress.run`): decompose, fine-tune on the core loop, write artifact + report."""
    job, early_plan = _prepare(cfg, hooks or Hooks())
    job.run = RunDir.open(cfg.out, asdict(cfg), force=cfg.force, resume=cfg.resume,
                          inputs=(cfg.artifact, cfg.teacher_d, Path(cfg.artifact).with_name(DISCRIMINATOR)))
    try:
        _attach_quality(job)
        plan = _plan(job, early_plan)
        if plan.baseline is None:
            plan.baseline = job.score(job.G)
        student = _decompose(job, plan)
        decomposed = job.score(student)
        ft_config = job.ft_config
        ft_steps = _finetune(job, student, plan, ft_config) if cfg.finetune_steps > 0 else 0
        student.eval()
        finetuned = job.score(student) if cfg.finetune_steps > 0 else None
        student.spec = {**job.parent.spec, "decomposition": plan.entries}
        save_generator(job.run.path(GENERATOR), student, _provenance(job, ft_config, ft_steps))
        report = build_ranks_report(job.G, student, job.layers, plan, (decomposed, finetuned), job.quality_name, cfg)
        return _finish(job, report, plan, ft_config)
    finally:
        job.run.close()


def _prepare(cfg: CompressConfig, hooks: Hooks) -> tuple[_Job, list[dict] | None]:
    """Everything that can fail before the run folder is claimed: flags, parent, data, teacher, ranks."""
    policy, _ = _rank_policy(cfg.rank)
    device = resolve_device(cfg.device)
    seed_all(cfg.seed)
    G, parent = _load_parent(cfg, device)
    layers = select_layers(G, cfg.layers)
    if not layers:
        raise UsageError("the generator has no decomposable layers")
    need_data = (policy == "auto" and hooks.quality is None) or cfg.finetune_steps > 0
    data = _load_data(cfg, int(G.resolution)) if need_data else None
    teacher = _teacher(cfg, parent, int(G.resolution), device)
    # the fine-tune's recipe is built (and checked) here: a bad override fails before the run folder exists
    job = _Job(cfg, hooks, device, G, parent, layers, data, teacher, _finetune_config(cfg, parent.provenance, device))
    early_plan = None
    if policy != "auto" and not cfg.resume:  # bad ranks / plan files fail before the run folder exists
        early_plan = choose_plan(job).entries
    if cfg.resume:
        _check_resume_flags(cfg)
    return job, early_plan


def _attach_quality(job: _Job) -> None:
    """The proxy that scores a generator (a test's stand-in when the hooks bring one)."""
    job.quality, job.quality_name = job.hooks.quality, job.hooks.quality_name
    if job.quality is None and job.data is not None:
        cfg = job.cfg
        proxy = QualityProxy(
            job.data,
            n_samples=cfg.probe_samples,
            extractor=cfg.eval_extractor,
            seed=derive_seed(cfg.seed, "compress/proxy") % (1 << 31),
            batch_size=min(250, cfg.probe_samples),
            device=job.device,
            precision=resolve_precision(cfg.precision, job.device),  # bf16 generation on CUDA, as in train
        )
        job.quality, job.quality_name = proxy.score, proxy.name


def _plan(job: _Job, early_plan: list[dict] | None) -> Plan:
    """The saved plan on resume, else the early (fixed/file) plan, else an ARD search; saved before any fit."""
    assert job.run is not None
    saved_plan = job.run.path(PLAN)
    if job.cfg.resume and saved_plan.is_file():
        plan = Plan(validate_plan(read_json(saved_plan, what="saved plan"), str(saved_plan)))
        job.echo(f"resuming with the saved plan ({len(plan.entries)} layers)")
        return plan
    plan = Plan(early_plan) if early_plan is not None else choose_plan(job)
    atomic_write_json(saved_plan, plan.entries)
    return plan


def _decompose(job: _Job, plan: Plan) -> nn.Module:
    """A copy of G with each planned layer replaced by its factorised fit (cached from the ARD probes if any)."""
    student = copy.deepcopy(job.G)
    used = []
    for entry in plan.entries:
        module = rk.cached_fit(plan.fits, entry["layer"], entry["rank"])
        if module is None:
            fit = decompose_layer(job.layers[entry["layer"]], entry["method"], entry["rank"],
                                  n_iter=job.cfg.fit_iters, name=entry["layer"], device=job.device)
            module, entry = fit.module, {**entry, "rank": fit.rank}
            plan.notes.append({"layer": entry["layer"], "rel_error": fit.rel_error, "retries": fit.retries})
        student.set_submodule(entry["layer"], module)
        used.append(entry)
    plan.entries = used
    return student


def _finetune(job: _Job, student: nn.Module, plan: Plan, ft_config: tuple[FinetuneConfig, list[str]]) -> int:
    """Fine-tune the student on the core loop against D (the teacher's copy, the D beside the artifact, or new)."""
    assert job.run is not None
    cfg, hooks = job.cfg, job.hooks
    D = _student_d(cfg, job.teacher, int(job.G.resolution))
    stream = BatchStream(job.data, cfg.batch_size, job.device, seed=derive_seed(cfg.seed, "compress/data"))
    ft_cfg, from_parent = ft_config
    job.echo(
        f"fine-tuning at b_u {ft_cfg.bound_upper:g}, lr {ft_cfg.lr_g:g}/{ft_cfg.lr_d:g}, {ft_cfg.loss} loss, "
        f"{ft_cfg.precision}" + (f" (from the parent's recipe: {', '.join(from_parent)})" if from_parent else "")
    )
    progress = (lambda s, t: hooks.progress("finetune", s, t)) if hooks.progress else None
    out = finetune(student, D, job.teacher, stream, ft_cfg, job.device, job.run.path(CHECKPOINT),
                   {"plan": plan.entries}, resume=cfg.resume, log=job.run.log, progress=progress,
                   g_teacher=job.G if ft_cfg.distill_weight > 0 else None)
    return int(out["steps"])


def _provenance(job: _Job, ft_config: tuple[FinetuneConfig, list[str]], ft_steps: int) -> dict[str, Any]:
    """The compressed artifact's provenance: its parent, how it was compressed, and the recipe it carries on."""
    cfg, parent = job.cfg, job.parent
    provenance: dict[str, Any] = {
        "stage": "compress",
        "parent": str(cfg.artifact),
        "parent_sha256": parent.sha256,
        "parent_provenance": parent.provenance,
        "method": cfg.method,
        "rank_policy": cfg.rank,
        "penalty": cfg.penalty,
        "target_params": cfg.target_params,
        "finetune_steps": ft_steps,
        "freeze_factors": cfg.freeze_factors,
        "teacher_d": cfg.teacher_d,
        "dgl_weight": ft_config[0].dgl_weight if cfg.teacher_d else None,
        "distill_weight": cfg.distill_weight if ft_steps else None,
        "seed": cfg.seed,
        "loss": parent.provenance.get("loss", "mmd"),
    }
    record = parent_record(parent.provenance)
    if cfg.finetune_steps > 0:  # the compressed artifact carries the recipe on, as fine-tuning ran it
        provenance["finetune"] = _finetune_record(ft_config)
        provenance["recipe"] = ft_config[0].to_record(bound_reached=ft_config[0].bound_upper)
    elif record:
        provenance["recipe"] = record
    for key in ("data", "data_fingerprint"):
        if key in parent.provenance:
            provenance[key] = parent.provenance[key]
    return provenance


def _finish(job: _Job, report: dict[str, Any], plan: Plan, ft_config: tuple[FinetuneConfig, list[str]]
            ) -> dict[str, Any]:
    """ranks.json, the plot, status.json's summary; returns the summary plus the report."""
    assert job.run is not None
    run = job.run
    if plan.cost is not None:
        report["ard"] = plan.cost.record()
    atomic_write_json(run.path(RANKS), report)
    size_vs_quality_plot(report, run.path(PLOT))
    summary = {
        "output": str(run.path(GENERATOR)),
        "ranks": str(run.path(RANKS)),
        "plot": str(run.path(PLOT)),
        **{k: report[k] for k in ("params_before", "params_after", "param_ratio", "quality_name", "quality_before",
                                  "quality_decomposed", "quality_finetuned")},
        "layers_decomposed": len(plan.entries),
    }
    if job.cfg.finetune_steps > 0:
        summary["finetune"] = _finetune_record(ft_config)
    if plan.cost is not None:
        summary["ard"] = plan.cost.record()
    run.finish(summary)
    return {**summary, "report": report}


def build_ranks_report(
    G: nn.Module,
    student: nn.Module,
    layers: dict[str, nn.Module],
    plan: Plan,
    qualities: tuple[float | None, float | None],
    quality_name: str,
    cfg: CompressConfig,
) -> dict[str, Any]:
    """ranks.json: per layer its rank and parameter counts (and ARD probes); the proxy quality before
    (`plan.baseline`), decomposed and fine-tuned (`qualities`)."""
    decomposed, finetuned = qualities
    baseline, results, notes = plan.baseline, plan.results, plan.notes
    by_layer = {e["layer"]: e for e in plan.entries}
    probes = {r.name: r for r in results}
    fit_notes = {n["layer"]: n for n in notes}
    rows = []
    for name, layer in layers.items():
        entry = by_layer.get(name)
        row: dict[str, Any] = {
            "layer": name,
            "type": entry["type"] if entry else None,
            "method": entry["method"] if entry else None,
            "rank": entry["rank"] if entry else "nc",
            "params_before": dense_params(layer),
            "params_after": factorised_params(layer, entry["method"], entry["rank"])
            if entry
            else dense_params(layer),
        }
        if name in fit_notes:
            row["fit_rel_error"] = fit_notes[name]["rel_error"]
        if name in probes:
            row["probes"] = [
                {
                    "rank": c.rank,
                    "params": c.params,
                    "quality": c.quality,
                    "score": c.score,
                    "fit_rel_error": c.rel_error,
                }
                for c in probes[name].candidates
            ]
        rows.append(row)
    before, after = num_params(G), num_params(student)
    return {
        "params_before": before,
        "params_after": after,
        "param_ratio": after / before,
        "method": cfg.method,
        "rank_policy": cfg.rank,
        "penalty": cfg.penalty,
        "target_params": cfg.target_params,
        "quality_name": quality_name or None,
        "quality_proxy": True,
        "quality_before": baseline,
        "quality_decomposed": decomposed,
        "quality_finetuned": finetuned,
        "layers": rows,
    }
