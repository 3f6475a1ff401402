"""What `train` checks before it claims --out: every input that can be checked cheaply fails first.

Data decoding and model building take seconds to minutes; the --data argument, the teacher
file, the genotype and the model's weight budget (counted on the meta device) take
milliseconds, so a typo or an absurd size never leaves a run folder behind.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ganctl.data.preflight import check_data_arg
from ganctl.io.safeio import check_regular
from ganctl.models.limits import check_param_budget
from ganctl.train.config import TrainConfig


def check_inputs(cfg: TrainConfig, specs: Callable[[TrainConfig], tuple[dict[str, Any], dict[str, Any]]] | None
                 ) -> None:
    """`specs` builds (G, D) specs from the config; None when a stand-in builder replaces the real one."""
    check_data_arg(cfg.data)
    if cfg.teacher_d:
        check_regular(cfg.teacher_d, what="--teacher-d file")
    if specs is not None:
        for kind, spec in zip(("generator", "discriminator"), specs(cfg), strict=True):
            check_param_budget(kind, spec)  # genotype errors (3/5) and size bounds (5) surface here
