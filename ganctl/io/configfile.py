"""A run folder's saved config.json, checked against the config dataclass before a resume uses it.

A hand-edited or damaged config.json (a missing key, a string where a number belongs) is a bad
input file (exit 3, naming it), not a crash deep inside the resumed run.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

from ganctl.errors import InputFileError, UsageError
from ganctl.io.rundir import CONFIG, RunDir


def _accepts(tp: Any, value: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(t, value) for t in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin in (list, tuple):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return isinstance(value, (list, tuple)) and all(any(_accepts(a, v) for a in args) or not args
                                                        for v in value)
    if tp is Any:
        return True
    return isinstance(value, tp) if isinstance(tp, type) else True


def check_saved_config(saved: dict[str, Any], cls: type, path: str | Path) -> None:
    """Every field of `cls` present with a value of its declared type (extra keys are the caller's call)."""
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    missing = [k for k in fields if k not in saved]
    if missing:
        raise InputFileError(f"saved config lacks {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}; "
                             "it was not written by this ganctl", path)
    for name in fields:
        if not _accepts(hints[name], saved[name]):
            raise InputFileError(f"saved config has {name} = {saved[name]!r:.60}, expected {hints[name]}", path)
    unknown = sorted(set(saved) - set(fields))
    if unknown:
        raise InputFileError(f"saved config has unknown keys: {', '.join(unknown[:5])}", path)


def load_saved_config(out: str | Path, cls: type, validate: typing.Callable[[Any], None] | None = None,
                      from_dict: typing.Callable[[dict[str, Any]], Any] | None = None,
                      added: typing.Sequence[dict[str, Any]] = (),
                      upgrade: typing.Callable[[dict[str, Any], type], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Read `out/config.json` (bounded reader), bring an older file up to date, check it against `cls`, and
    validate its values. Every stage's resume reads its saved config here.

    `added`: the generations of fields newer than some config.json files, oldest first, each with the values
    the older ganctl ran with. A file that lacks every field of a generation and of all later ones was written
    before that generation, so those are filled; a field missing on its own is a damaged file (exit 3), never
    filled. `upgrade(saved, cls)` then renames legacy key spellings (the stages pass `recipe.upgrade_saved`; io
    knows file formats, not the recipe).
    """
    saved = RunDir.load_config(out)
    path = Path(out) / CONFIG
    for i in range(len(added)):
        newer = {k: v for generation in added[i:] for k, v in generation.items()}
        if not any(key in saved for key in newer):
            saved = {**saved, **newer}
            break
    try:
        saved = upgrade(saved, cls) if upgrade is not None else saved
    except UsageError as e:  # a legacy key whose value cannot be split (betas of three numbers)
        raise InputFileError(f"saved config is not valid ({e})", path) from e
    check_saved_config(saved, cls, path)
    if validate is not None:
        try:
            validate((from_dict or cls.from_dict)(saved))
        except (UsageError, TypeError, ValueError) as e:
            raise InputFileError(f"saved config is not valid ({e})", path) from e
    return saved


def refuse_changed(saved: dict[str, Any], now: dict[str, Any], keys: typing.Iterable[str], advice: str) -> None:
    """A resume continues the saved run: values of `keys` that differ from it are a usage error naming each
    change (silently keeping or silently taking the new value would both mislead)."""
    changed = sorted(k for k in keys if saved.get(k) != now.get(k))
    if changed:
        detail = ", ".join(f"{k} ({saved.get(k)!r} -> {now.get(k)!r})" for k in changed)
        raise UsageError(f"--resume: the flags differ from the saved run in {detail}; {advice}")
