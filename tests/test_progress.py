"""Progress of work buried in a stage: data decoding reports through the installed reporter, the CLI's
lazy bars appear on the first report and close when every stage is complete (or on an error)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from rich.console import Console

from ganctl.cli.runinfo import LazyBars
from ganctl.data.folder import decode_files
from ganctl.runtime import progress_reporter, report_progress


def _folder(tmp_path, n):
    files = []
    for i in range(n):
        path = tmp_path / f"{i:04d}.png"
        Image.fromarray(np.full((8, 8, 3), i % 256, dtype=np.uint8)).save(path)
        files.append(path)
    return files


def test_decoding_reports_every_512_and_the_end(tmp_path):
    files = _folder(tmp_path, 1100)
    calls = []
    with progress_reporter(lambda stage, done, total: calls.append((stage, done, total))):
        images, failures = decode_files(files, 8, workers=2)
    assert images.shape[0] == 1100 and not failures
    assert [c[1] for c in calls] == [512, 1024, 1100]
    assert {c[0] for c in calls} == {"decode 1,100 images"} and {c[2] for c in calls} == {1100}
    assert int(images[300, 0, 0, 0]) == 300 % 256  # order kept


def test_no_reporter_no_calls():
    report_progress("anything", 1, 2)  # nobody listening: silently ignored


def test_lazy_bars_start_on_first_report_and_stop_when_all_complete():
    console = Console(file=io.StringIO(), force_terminal=True, width=80)
    bars = LazyBars(console)
    assert bars.bar is None
    bars("decode", 1, 3)
    bars("resize", 2, 2)
    assert bars.bar is not None  # "decode" still running
    bars("decode", 3, 3)
    assert bars.bar is None  # every stage complete: the live display is gone
    bars("decode again", 1, 2)
    bars.stop()  # an error path ends it early
    assert bars.bar is None


def test_quiet_console_never_draws():
    bars = LazyBars(Console(file=io.StringIO(), quiet=True))
    bars("decode", 1, 2)
    assert bars.bar is None
