"""`ganctl info`: say what any ganctl file or run folder is, without building or running anything."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file

from ganctl.errors import InputFileError
from ganctl.genotype import load_genotype
from ganctl.io.artifact import read_artifact
from ganctl.io.checkpoint import load_checkpoint
from ganctl.io.finite import first_nonfinite
from ganctl.io.rundir import CONFIG, STATUS, read_stats
from ganctl.io.safeio import check_regular, read_json, read_json_object


def describe(path: str | Path) -> dict[str, Any]:
    """A plain dict: kind, spec summary, parameter counts, provenance."""
    path = Path(path)
    if path.is_dir():
        return _describe_run(path)
    if not path.exists():
        raise InputFileError("no such file or folder", path)
    check_regular(path)
    if path.suffix == ".safetensors":
        a = read_artifact(path)
        out: dict[str, Any] = {
            "path": str(path), "kind": a.kind, "version": a.version, "sha256": a.sha256,
            "params": a.num_params, "nonzero_params": a.nonzero_params,
            "spec": _spec_summary(a.spec), "provenance": a.provenance,
        }
        if a.num_params:
            out["density"] = round(a.nonzero_params / a.num_params, 6)
        out["weights_finite"] = _weights_finite(path)  # info reports; loaders refuse (exit 3)
        return out
    if path.suffix == ".json":
        return _describe_json(path)
    state = load_checkpoint(path, finite=False)  # info reports non-finite tensors; resume refuses them
    return {
        "path": str(path), "kind": f"{state.get('kind')} checkpoint", "version": state.get("version"),
        "step": state.get("step"), "keys": sorted(k for k in state if k not in ("format", "version")),
        "weights_finite": first_nonfinite(state) is None,
    }


def _weights_finite(path: Path) -> bool:
    try:
        return first_nonfinite(load_file(str(path))) is None
    except (SafetensorError, OSError, RuntimeError) as e:
        raise InputFileError(f"artifact tensors are unreadable ({str(e)[:120]})", path) from e


def _spec_summary(spec: dict[str, Any]) -> dict[str, Any]:
    summary = {k: v for k, v in spec.items() if k not in ("genotype", "decomposition")}
    if "genotype" in spec:
        g = spec["genotype"]
        summary["genotype"] = (g.get("provenance") or {}).get("name", "inline") if isinstance(g, dict) else g
    if spec.get("decomposition"):
        plan = spec["decomposition"]
        summary["decomposed_layers"] = len(plan)
        summary["decomposition"] = {p.get("layer"): f"{p.get('method')}:{p.get('rank')}" for p in plan}
    return summary


def _describe_json(path: Path) -> dict[str, Any]:
    obj = read_json(path)
    if isinstance(obj, dict) and obj.get("format") == "ganctl.genotype":
        g = load_genotype(path)
        return {"path": str(path), "kind": "genotype", "version": obj.get("version"), "genotype": g.to_dict()}
    if isinstance(obj, dict) and "format" in obj:
        return {"path": str(path), "kind": str(obj["format"]), "content": obj}
    raise InputFileError("JSON file is not a ganctl file (no 'format' field)", path)


def _describe_run(path: Path) -> dict[str, Any]:
    if not os.path.lexists(path / CONFIG):
        raise InputFileError("folder is not a ganctl run (no config.json)", path)
    config = read_json_object(path / CONFIG, what="config.json")
    status = (read_json_object(path / STATUS, what="status.json") if os.path.lexists(path / STATUS)
              else {"finished": False})
    try:
        stats = read_stats(path)
        files = sorted(p.name for p in path.iterdir() if not p.name.startswith("."))
    except OSError as e:
        raise InputFileError(f"cannot read the run folder ({e.strerror or e})", path) from e
    return {"path": str(path), "kind": "run", "command": config.get("command"),
            "finished": bool(status.get("finished")), "last_stats": stats[-1] if stats else None, "files": files,
            "config": config}
