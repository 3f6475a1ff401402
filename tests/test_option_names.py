"""One knob, one name: every subcommand's options spell a knob as the recipe (and train) do.

Walks the real Typer application, so a new flag with an older spelling (``--width-g``, ``--lr``,
``--mmd-bound-upper``) fails here unless it is only a secondary alias or listed below with its reason.
"""

from __future__ import annotations

import dataclasses
import typing
from collections import defaultdict

import pytest
import typer

from ganctl.cli.app import app
from ganctl.compress.stage import CompressConfig
from ganctl.recipe import LEGACY_KEYS, RECIPE_FIELDS
from ganctl.search.config import SearchConfig
from ganctl.train.config import TrainConfig

# Names that spell a knob the way the recipe does not. They may appear only as secondary names of an option.
LEGACY_NAMES = set(LEGACY_KEYS) | {"width_g", "width_d", "mmd_bound_lower", "mmd_bound_upper", "b_l", "b_u",
                                   "modified_weight", "lr", "betas"}

# (subcommand, parameter) -> why this knob keeps a name the recipe spells differently.
ALLOWED_NAMES = {
    ("compress", "lr"): "a hidden option kept for scripts written before --lr-g/--lr-d: it sets both rates, so it "
                        "cannot be a secondary name of either one",
    ("evaluate", "extractor"): "evaluate's --extractor picks the FID/KID feature network of the evaluation itself, "
                               "a different knob from the training proxy's --eval-extractor",
}
# Python parameter names that cannot be the flag's name (a builtin or a module in scope), flag given explicitly.
PARAM_FLAG = {"json_out": "--json", "fmt": "--format"}
# (subcommand, parameter) -> why its type differs from the same knob elsewhere.
ALLOWED_TYPES = {
    ("train", "resume"): "train's --resume DIR is the documented shorthand for --out DIR --resume "
                         "(the run folder to continue); search and compress take --out and a --resume switch",
}


def _commands() -> dict[str, list]:
    root = typer.main.get_command(app)
    return {name: [p for p in cmd.params if type(p).__name__.endswith("Option")]
            for name, cmd in root.commands.items()}


COMMANDS = _commands()


def test_walk_sees_every_subcommand():
    assert set(COMMANDS) >= {"search", "train", "compress", "evaluate", "sample", "info", "import", "export"}
    names = {p.name for p in COMMANDS["train"]}
    assert {"bound_upper", "lr_g", "dgl_weight", "resume"} <= names  # the walk reaches real options
    assert len(names & RECIPE_FIELDS) >= 15


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_primary_flag_is_the_parameter_name(command):
    bad = []
    for p in COMMANDS[command]:
        want = PARAM_FLAG.get(p.name, "--" + p.name.replace("_", "-"))
        primary = next(o for o in p.opts if o.startswith("--"))
        if primary != want:
            bad.append(f"{command} {p.name}: primary flag {primary}, expected {want}")
    assert bad == [], bad


def test_no_knob_is_spelled_the_old_way():
    """A legacy spelling is never a parameter name or a primary flag, only a secondary alias."""
    bad = []
    for command, params in COMMANDS.items():
        for p in params:
            if (command, p.name) in ALLOWED_NAMES:
                continue
            primary = next(o for o in p.opts if o.startswith("--"))
            if p.name in LEGACY_NAMES or primary[2:].replace("-", "_") in LEGACY_NAMES:
                bad.append(f"{command}: {primary} (use the recipe's name)")
    assert bad == [], bad


def test_legacy_aliases_still_parse():
    """The old spellings stay accepted as secondary names of the renamed options."""
    opts = {(c, p.name): set(p.opts) for c, ps in COMMANDS.items() for p in ps}
    assert {"--width", "--width-g"} <= opts[("search", "width")]
    assert {"--d-width", "--width-d"} <= opts[("search", "d_width")]
    assert {"--eval-extractor", "--extractor"} <= opts[("compress", "eval_extractor")]


def _annotation(p) -> str:
    """The option's Python type without `| None` (None only means "not given": take the preset's value)."""
    tp = p.type_descriptor.annotation
    args = [a for a in typing.get_args(tp) if a is not type(None)] if typing.get_args(tp) else [tp]
    return " | ".join(sorted(getattr(a, "__name__", str(a)) for a in args))


def test_a_knob_has_one_type_across_subcommands():
    types: dict[str, dict[str, str]] = defaultdict(dict)
    for command, params in COMMANDS.items():
        for p in params:
            if (command, p.name) not in ALLOWED_TYPES:
                types[p.name][command] = _annotation(p)
    bad = {name: seen for name, seen in types.items() if len(set(seen.values())) > 1}
    assert bad == {}, bad


def test_allowed_exceptions_are_real():
    """Every listed exception still exists (a stale entry would hide a future regression)."""
    present = {(c, p.name) for c, ps in COMMANDS.items() for p in ps}
    assert set(ALLOWED_NAMES) <= present and set(ALLOWED_TYPES) <= present


# Options that steer one invocation rather than set a value of the stage's config (what config.json records).
CLI_ONLY = {"config", "print_config", "log", "quiet", "verbose", "json", "force", "resume", "allow_change"}
STAGE_ONLY = {
    ("search", "budget"): "parsed into the config's budget_s (90s, 30m, 2h)",
    ("compress", "lr"): ALLOWED_NAMES[("compress", "lr")],
}


def test_every_stage_flag_is_a_config_field():
    """A stage's flags are its config's fields (one name from flag to config.json), apart from run control."""
    bad = []
    for command, cls in (("train", TrainConfig), ("search", SearchConfig), ("compress", CompressConfig)):
        fields = {f.name for f in dataclasses.fields(cls)}
        params = {p.name for p in typer.main.get_command(app).commands[command].params}
        bad += [f"{command} --{name.replace('_', '-')}" for name in sorted(params - fields - CLI_ONLY)
                if (command, name) not in STAGE_ONLY]
        recipe_knobs = params & RECIPE_FIELDS
        assert recipe_knobs <= fields, (command, recipe_knobs - fields)
    assert bad == [], bad
