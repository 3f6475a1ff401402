"""Cost figures: parameter counts (incl. non-zero), FLOPs/MACs by hand formula, timings positive."""
from __future__ import annotations

import torch
from evaluate_standins import TinyGenerator

from ganctl.evaluate.cost import count_flops, count_params, measure_latency, measure_throughput


def test_param_counts_and_nonzero():
    G = TinyGenerator()
    total = sum(p.numel() for p in G.parameters())
    with torch.no_grad():
        for p in G.parameters():
            p.fill_(0.5)  # BatchNorm's bias starts at zero; make every entry non-zero first
    assert count_params(G) == {"params": total, "nonzero_params": total}
    with torch.no_grad():
        G.fc.weight[:, :4] = 0  # 128 rows × 4 zeroed columns, as a sparse mask would
    assert count_params(G)["nonzero_params"] == total - 128 * 4


def test_flops_match_hand_count_including_transposed_conv():
    G = TinyGenerator()
    linear = 2 * 8 * 128
    # transposed conv: every input pixel scatters a Cout×k×k patch: 2·Cin·Cout·k²·Hin·Win
    up = 2 * 8 * 4 * 4 * 4 * 4 * 4
    conv = 2 * 4 * 3 * 3 * 3 * 8 * 8
    got = count_flops(G)
    assert got["flops_per_image"] == linear + up + conv
    assert got["macs_per_image"] == got["flops_per_image"] // 2


def test_timings_positive_and_mode_restored():
    G = TinyGenerator().train()
    assert measure_latency(G, repeats=3, warmup=1) > 0
    assert measure_throughput(G, batch_size=4, repeats=2, warmup=1) > 0
    assert G.training
