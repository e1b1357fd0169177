"""Plots the load harness's cost curve (CPU-seconds per GiB and peak RSS against streams).

    python3 benches/plot_load.py target/load/cost_curve.csv target/load/cost_curve.png

Needs matplotlib (pip install matplotlib).
"""
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

source, target = sys.argv[1], sys.argv[2]
rows = defaultdict(list)
with open(source) as f:
    for row in csv.DictReader(f):
        rows[row["tool"]].append(row)

fig, (cpu, rss) = plt.subplots(1, 2, figsize=(11, 4.5))
for tool, points in sorted(rows.items()):
    streams = [int(p["streams"]) for p in points]
    cpu.plot(streams, [float(p["cpu_s_per_gib"]) for p in points], "o-", label=tool)
    rss.plot(streams, [float(p["peak_rss_mib"]) for p in points], "o-", label=tool)
    # A run stopped before every line arrived: CPU is per GiB that did arrive.
    partial = [p for p in points if p["complete"] != "true"]
    if partial:
        xs = [int(p["streams"]) for p in partial]
        cpu.plot(xs, [float(p["cpu_s_per_gib"]) for p in partial], "kx", markersize=10, label=f"{tool}: partial (timed out)")
        rss.plot(xs, [float(p["peak_rss_mib"]) for p in partial], "kx", markersize=10)
for ax, title, unit in [(cpu, "CPU per GiB", "CPU-seconds per GiB"), (rss, "Peak RSS", "MiB")]:
    ax.set_xscale("log")
    ax.set_xlabel("concurrent follow streams")
    ax.set_ylabel(unit)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
rss.axhline(250, color="red", linestyle="--", linewidth=0.8)
fig.tight_layout()
fig.savefig(target, dpi=100)
print(f"wrote {target}")
