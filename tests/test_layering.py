"""The package layers hold: lower layers never import higher ones (an AST walk, top-level and in-function).

L0 errors · L1 recipe, runtime · L2 io/, nn/, data/ · L3 genotype, models/ · L4 core/, evaluate/ ·
L5 stages (search/, train/, compress/, sample/), inspect, report, export, logsink · L6 cli/.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "ganctl"
STAGES = ("ganctl.search", "ganctl.train", "ganctl.compress", "ganctl.evaluate", "ganctl.sample", "ganctl.cli")

# Modules not yet converted to top-level imports: file -> in-function imports without a `# lazy:` reason that
# are still tolerated (empty: every in-function import says why). A count may only shrink.
PENDING_LAZY: dict[str, int] = {}


def _imports(tree: ast.Module) -> list[tuple[int, str, bool]]:
    """(line, imported module, inside a function) for every import, skipping `if TYPE_CHECKING:` blocks."""
    out: list[tuple[int, str, bool]] = []

    def walk(node: ast.AST, in_fn: bool) -> None:
        for ch in ast.iter_child_nodes(node):
            if isinstance(ch, ast.If) and getattr(ch.test, "id", "") == "TYPE_CHECKING":
                continue  # annotations only: never executed
            if isinstance(ch, ast.ImportFrom) and ch.module and ch.module.split(".")[0] == "ganctl":
                # `from ganctl.core import losses` may name a submodule: record module.name (an attribute
                # such as `ganctl.errors.UsageError` stays under its module, so prefix checks hold)
                out.extend((ch.lineno, f"{ch.module}.{a.name}", in_fn) for a in ch.names)
            elif isinstance(ch, ast.ImportFrom) and ch.module and ch.level == 0:
                out.append((ch.lineno, ch.module, in_fn))
            elif isinstance(ch, ast.Import):
                out.extend((ch.lineno, a.name, in_fn) for a in ch.names)
            walk(ch, in_fn or isinstance(ch, (ast.FunctionDef, ast.AsyncFunctionDef)))

    walk(tree, False)
    return out


def _modules() -> dict[str, tuple[list[str], list[tuple[int, str, bool]]]]:
    mods = {}
    for path in sorted(PKG.rglob("*.py")):
        text = path.read_text()
        mods[str(path.relative_to(ROOT))] = (text.splitlines(), _imports(ast.parse(text)))
    return mods


MODULES = _modules()


def _internal(imports: list[tuple[int, str, bool]]) -> list[tuple[int, str]]:
    return [(ln, m) for ln, m, _ in imports if m == "ganctl" or m.startswith("ganctl.")]


def _under(mod: str, *packages: str) -> bool:
    return any(mod == p or mod.startswith(p + ".") for p in packages)


def test_the_walk_sees_imports():
    """Guard against a vacuous pass: the walker finds known edges, in-function ones included."""
    _, imps = MODULES["ganctl/core/step.py"]
    assert any(m == "ganctl.core.losses" for _, m, _ in imps)
    _, imps = MODULES["ganctl/cli/train.py"]
    assert any(inside and m.startswith("ganctl.train") for _, m, inside in imps)
    assert _under("ganctl.train.loop", *STAGES) and not _under("ganctl.trainer", "ganctl.train")


def test_foundation_imports_no_stage():
    """io/, nn/, models/, data/ never import a stage; io/ imports only errors and io (file formats only)."""
    bad = []
    for rel, (_, imps) in MODULES.items():
        if rel.startswith(("ganctl/io/", "ganctl/nn/", "ganctl/models/", "ganctl/data/")):
            bad += [f"{rel}:{ln} {m}" for ln, m in _internal(imps) if _under(m, *STAGES)]
        if rel.startswith("ganctl/io/"):
            # `import ganctl` reads only the package's __version__ for provenance
            bad += [f"{rel}:{ln} {m}" for ln, m in _internal(imps)
                    if m != "ganctl" and not _under(m, "ganctl.errors", "ganctl.io")]
    assert bad == [], bad


def test_core_imports_no_stage_cli_or_evaluate():
    bad = [f"{rel}:{ln} {m}" for rel, (_, imps) in MODULES.items() if rel.startswith("ganctl/core/")
           for ln, m in _internal(imps) if _under(m, *STAGES)]
    assert bad == [], bad


def test_bottom_modules_import_only_below():
    allowed = {
        "ganctl/errors.py": (),
        "ganctl/recipe.py": ("ganctl.errors",),
        "ganctl/runtime.py": ("ganctl.errors", "ganctl.recipe"),
    }
    bad = [f"{rel}:{ln} {m}" for rel, below in allowed.items()
           for ln, m in _internal(MODULES[rel][1]) if not _under(m, *below)]
    assert bad == [], bad


def test_in_function_imports_carry_a_reason():
    """An import inside a function says why on its line (or the line before): `# lazy: <reason>`."""
    unexplained: dict[str, list[str]] = {}
    for rel, (lines, imps) in MODULES.items():
        for ln in sorted({ln for ln, _, inside in imps if inside}):  # one entry per import statement
            if "# lazy:" not in lines[ln - 1] and (ln < 2 or "# lazy:" not in lines[ln - 2]):
                unexplained.setdefault(rel, []).append(f"{ln} {lines[ln - 1].strip()}")
    grown = {rel: found for rel, found in unexplained.items() if len(found) > PENDING_LAZY.get(rel, 0)}
    assert grown == {}, grown
    stale = {rel: n for rel, n in PENDING_LAZY.items() if len(unexplained.get(rel, [])) < n}
    assert stale == {}, f"fewer unexplained imports than listed; lower PENDING_LAZY: {stale}"
