"""`ganctl info`: what is this file?"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from ganctl.cli.common import Globals, JsonOpt, QuietOpt, VerboseOpt, run
from ganctl.errors import InputFileError

# what `describe` can read; anything else gets one line instead of a torch unpickling message
KNOWN_SUFFIXES = (".safetensors", ".json", ".pt", ".pth", ".ckpt")


def command(
    paths: Annotated[list[Path], typer.Argument(help="Artifacts, genotypes, checkpoints, ranks.json or run folders.")],
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Describe ganctl files: kind, spec, parameter count (and non-zeros), provenance.

    Example:

        ganctl info runs/train/generator.safetensors runs/search/genotype.json

        ganctl info runs/train --json
    """
    g = Globals(quiet=quiet, verbose=verbose, json=json_out)

    def body() -> dict:
        from ganctl.inspect import describe  # lazy: loads torch; --help and flag errors stay fast

        for p in paths:
            if p.is_file() and p.suffix.lower() not in KNOWN_SUFFIXES and not _is_zip(p):
                raise InputFileError("not a ganctl file (info reads .safetensors artifacts, .json genotypes and "
                                     "reports, .pt checkpoints and run folders)", p)
        described = [describe(p) for p in paths]
        if not g.json and not g.quiet:
            out = Console()  # info's answer is its output: stdout
            out.on_broken_pipe = _reader_gone  # type: ignore[method-assign]  # run() exits quietly
            for d in described:
                out.print(table(d))
        return {"items": described}

    run(g, body)


def _is_zip(path: Path) -> bool:
    """torch.save files are zip archives, whatever their name."""
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def _count(n: Any) -> str:
    return f"{n:,}" if isinstance(n, int) else str(n)


# the settings of a run folder's config.json worth reading first (the whole config is in --json)
RUN_SETTINGS = ("preset", "method", "data", "resolution", "genotype", "loss", "steps", "epochs", "batch_size",
                "width", "d_width", "rank", "target_params", "precision", "seed")


def rows(d: dict[str, Any]) -> list[tuple[str, str]]:
    """Label/value pairs worth reading first; nested detail stays in --json."""
    kind = d.get("kind", "?")
    out: list[tuple[str, str]] = [("kind", str(kind))]
    if kind in ("generator", "discriminator"):
        spec, prov = d.get("spec", {}), d.get("provenance", {})
        out.append(("parameters", _count(d.get("params"))))
        if d.get("density") is not None and d["density"] < 1:
            out.append(("non-zero", f"{_count(d.get('nonzero_params'))} (density {d['density']:.4f})"))
        for key in ("resolution", "width", "latent_dim", "activation", "genotype", "decomposed_layers"):
            if key in spec:
                out.append((key.replace("_", " "), str(spec[key])))
        for key in ("data", "steps", "loss", "method", "parent", "ganctl_version"):
            if key in prov:
                out.append((key.replace("_", " "), str(prov[key])))
        out.append(("sha256", str(d.get("sha256", ""))[:16] + "…"))
    elif kind == "run":
        out += [("command", str(d.get("command") or _run_command(d))), ("finished", str(d.get("finished")))]
        config = d.get("config") or {}
        settings = [f"{key.replace('_', ' ')} {config[key]}" for key in RUN_SETTINGS if config.get(key) is not None]
        if settings:
            out.append(("settings", "  ".join(settings)))
        out.append(("files", ", ".join(d.get("files", []))))
        last = d.get("last_stats") or {}
        if last:
            out.append(("last stats", "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                for k, v in last.items() if k != "time" and not isinstance(v, list))))
    elif kind == "genotype":
        geno = d.get("genotype", {})
        out.append(("search space", str(geno.get("search_space"))))
        for net, label in (("generator", "G"), ("discriminator", "D")):
            for i, cell in enumerate((geno.get(net) or {}).get("cells", [])):
                out.append((f"{label} cell {i}", "  ".join(f"{k}:{v}" for k, v in cell.items()
                                                           if isinstance(v, str))))
    elif kind.endswith("checkpoint"):
        out += [("step", str(d.get("step"))), ("contents", ", ".join(d.get("keys", [])))]
    else:
        out.append(("keys", ", ".join(sorted((d.get("content") or {}).keys()))))
    return out


def _run_command(d: dict[str, Any]) -> str:
    files = set(d.get("files", []))
    if "genotype.json" in files or "alphas_history.jsonl" in files:
        return "search"
    if "ranks.json" in files or "compress_report.json" in files:
        return "compress"
    return "train" if "generator.safetensors" in files or "checkpoint.pt" in files else "?"


def table(d: dict[str, Any]) -> Any:
    t = Table(title=str(d.get("path", "")), title_justify="left", box=box.SIMPLE, show_header=False,
              min_width=min(len(str(d.get("path", ""))) + 4, 100))
    t.add_column("", style="bold", no_wrap=True)
    t.add_column("", overflow="fold")
    for label, value in rows(d):
        t.add_row(label, value)
    return t


def _reader_gone() -> None:
    """Rich would exit 1 on a closed pipe; hand it to run(), which stops quietly with 0 like `emit` does."""
    raise BrokenPipeError
