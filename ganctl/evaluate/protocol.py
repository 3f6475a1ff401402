"""Metric names that carry their protocol: fid50k_train, kid10k_train, is50k, pr50k_train.

A bare kind ("fid") takes the sample count from --num-samples; a full name fixes it. Features
from anything other than the FID Inception are labelled: fid2k_train_randconv_proxy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ganctl.errors import UsageError
from ganctl.evaluate.extractors import INCEPTION

KINDS = ("fid", "kid", "is", "pr")
DEFAULT_NUM_SAMPLES = 50_000
KNOWN_SPLITS = ("train", "test", "full")
VALID_HELP = (
    "fid, kid, is, pr, or with protocol like fid50k_train, kid50k_train, is50k, pr50k_train "
    "(count: digits with optional k; split must match the reference set)"
)
_NAME = re.compile(r"^(fid|kid|is|pr)(\d+k?)?(?:_([a-z0-9]+))?$")


def format_count(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def _parse_count(text: str) -> int:
    return int(text[:-1]) * 1000 if text.endswith("k") else int(text)


@dataclass(frozen=True)
class MetricRequest:
    kind: str
    num_samples: int
    split: str

    def name(self, extractor: str = INCEPTION) -> str:
        base = f"{self.kind}{format_count(self.num_samples)}"
        if self.kind != "is":
            base += f"_{self.split}"
        return base if extractor == INCEPTION else f"{base}_{extractor}_proxy"


def parse_metrics(
    metrics: Sequence[str], num_samples: int | None = None, reference_split: str = "train"
) -> list[MetricRequest]:
    """Validate metric names into requests; raise UsageError listing the valid forms on a typo."""
    if num_samples is not None and num_samples <= 0:
        raise UsageError(f"--num-samples must be positive, got {num_samples}")
    if not metrics:
        raise UsageError(f"no metrics requested; valid: {VALID_HELP}")
    requests: list[MetricRequest] = []
    for raw in metrics:
        m = _NAME.match(raw.strip().lower())
        if not m:
            raise UsageError(f"unknown metric {raw!r}; valid: {VALID_HELP}")
        kind, count_text, split = m.groups()
        if split and split not in (*KNOWN_SPLITS, reference_split):
            raise UsageError(f"unknown metric {raw!r} (split {split!r}); valid: {VALID_HELP}")
        count = _parse_count(count_text) if count_text else (num_samples or DEFAULT_NUM_SAMPLES)
        if count <= 0:
            raise UsageError(f"metric {raw!r}: sample count must be positive")
        if count_text and num_samples is not None and count != num_samples:
            raise UsageError(f"metric {raw!r} fixes {count} samples but --num-samples is {num_samples}")
        if kind == "is" and split:
            raise UsageError(
                f"metric {raw!r}: Inception Score uses no reference set; write is{count_text or ''}"
            )
        if split and split != reference_split:
            raise UsageError(
                f"metric {raw!r} asks for the {split!r} reference but the reference set is "
                f"{reference_split!r}"
            )
        req = MetricRequest(kind, count, reference_split)
        if req not in requests:
            requests.append(req)
    return requests
