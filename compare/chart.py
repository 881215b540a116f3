#!/usr/bin/env python3
# Draws compare/per_step.png, the chart in BENCHMARKS.md: time per step (us, log scale) against
# the hidden size H (log2 scale), one line per implementation, one panel per kind (LSTM, GRU)
# and batch (B=1, 8, 64), with the empty dependent dispatch (the floor) as a dashed line.
#
#   pip install matplotlib       # if missing
#   python3 compare/chart.py     # reads compare/per_step.csv, writes compare/per_step.png
#
# The numbers are in compare/per_step.csv, copied by hand from BENCHMARKS.md; its `source`
# column names the run each one comes from and the number as that run printed it:
#   - wgpu-rnn-gpu (lavapipe), wgpu-rnn-cpu, burn-wgpu (built without fusion and autotune),
#     candle-cpu: ms per forward / T * 1000, T=64 I=64, from the compare/ run of "Current
#     numbers" (H <= 128) and, for B=1 H >= 256 and B=64 H=512, from the run of "Wide layers"
#     (no burn); both on the Intel Xeon of "Machine".
#   - pytorch-cpu: compare/gpu_check.sh, whole call at T=256 / 256 ("PyTorch on the same CPU").
#   - dispatch-floor: criterion's dispatch_floor/empty_dependent_dispatch.
# Points whose source starts with "previous machine" (another CPU) are drawn hollow.
# After a new run, edit the CSV rows it replaces (keep `source` true) and rerun this script.
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CSV = os.path.join(HERE, "per_step.csv")
PNG = os.path.join(HERE, "per_step.png")

STYLE = {  # implementation: (label, colour, marker)
    "wgpu-rnn-gpu": ("wgpu-rnn GPU (lavapipe)", "tab:red", "o"),
    "wgpu-rnn-cpu": ("wgpu-rnn CPU reference", "tab:orange", "s"),
    "candle-cpu": ("candle CPU", "tab:blue", "^"),
    "burn-wgpu": ("burn wgpu, no fusion (lavapipe)", "tab:purple", "v"),
    "pytorch-cpu": ("PyTorch CPU (T=256)", "tab:green", "D"),
}


def main():
    rows, floor = [], None
    with open(CSV, newline="") as f:
        for r in csv.DictReader(f):
            if r["implementation"] == "dispatch-floor":
                floor = float(r["us_per_step"])
                continue
            if r["implementation"] not in STYLE:
                sys.exit(f"unknown implementation {r['implementation']!r} in {CSV}")
            rows.append(r)

    batches = sorted({int(r["batch"]) for r in rows})
    kinds = ["lstm", "gru"]
    fig, axes = plt.subplots(
        len(batches), len(kinds), figsize=(12, 4.5 * len(batches)), sharex=True, sharey=True,
        squeeze=False,
    )
    for i, b in enumerate(batches):
        for j, kind in enumerate(kinds):
            ax = axes[i][j]
            for name, (label, colour, marker) in STYLE.items():
                pts = sorted(
                    (int(r["hidden"]), float(r["us_per_step"]),
                     r["source"].startswith("previous machine"))
                    for r in rows
                    if r["kind"] == kind and int(r["batch"]) == b and r["implementation"] == name
                )
                if not pts:
                    continue
                hs = [p[0] for p in pts]
                us = [p[1] for p in pts]
                face = "white" if all(p[2] for p in pts) else colour  # legend: hollow too
                ax.plot(hs, us, color=colour, linewidth=1.5, marker=marker, markersize=7,
                        markerfacecolor=face, label=label)
                for h, u, old in pts:
                    if old:
                        ax.plot(h, u, marker=marker, color=colour, markersize=7,
                                markerfacecolor="white")
            if floor is not None:
                ax.axhline(floor, color="black", linestyle="--", linewidth=1.2,
                           label=f"empty dependent dispatch ({floor:g} us)")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"{kind.upper()}, B={b}")
            ax.grid(True, which="major", alpha=0.4)
            ax.grid(True, which="minor", axis="y", alpha=0.15)
            if i == len(batches) - 1:
                ax.set_xlabel("hidden size H")
            if j == 0:
                ax.set_ylabel("time per step (us)")
    hs = sorted({int(r["hidden"]) for r in rows})
    axes[0][0].set_xticks(hs)
    axes[0][0].set_xticklabels([str(h) for h in hs])
    handles, labels = [], []  # every panel's lines, once each
    for ax in axes.flat:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False)
    fig.suptitle(
        "Time per step on 2 cores of an Intel Xeon (KVM, AVX-512), lavapipe for the GPU paths;\n"
        "T=64 I=64 (PyTorch: T=256); 2026-12-04"
    )
    fig.tight_layout(rect=(0, 0.06, 1, 0.96))
    fig.savefig(PNG, dpi=80)
    print(f"wrote {PNG}")


if __name__ == "__main__":
    main()
