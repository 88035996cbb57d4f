"""The evaluation report: a text table, a PNG plot, and writing the JSON and PNG together."""

import contextlib
import json

import numpy as np

from tflipsync import files
from tflipsync.evaluation.protocol import TRUTH


def format_table(report):
    """The summary rows as a fixed-width text table."""
    header = (f"{'source':<10} {'shift':>5} {'LSE-D':>7} {'LSE-C':>7} {'AVoff':>6} {'D@0':>7} {'syncacc':>8} "
              f"{'PSNR':>7} {'PSNRlow':>7} {'SSIM':>6} {'flicker':>8} {'terr':>7} {'clips':>5} {'windows':>7}")
    lines = [header, "-" * len(header)]
    for r in report["rows"]:
        image = (f"{r['psnr']:7.2f} {r['psnr_lower']:7.2f} {r['ssim']:6.3f} {r['flicker']:8.4f} "
                 f"{r['temporal_error']:7.4f}" if "psnr" in r else f"{'-':>7} {'-':>7} {'-':>6} {'-':>8} {'-':>7}")
        lines.append(f"{r['source']:<10} {r['shift']:>5d} {r['lse_d']:7.4f} {r['lse_c']:7.4f} {r['av_offset']:6.1f} "
                     f"{r['d_at_0']:7.4f} {r['sync_accuracy']:8.3f} {image} {r['clips']:5d} {r['windows']:7d}")
    return "\n".join(lines)


def plot(report, path):
    """Draws the per-offset distance curves and the sync figures per row into a PNG file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["rows"]
    offsets = np.arange(-report["max_offset"], report["max_offset"] + 1)
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    shifts = sorted({r["shift"] for r in rows})
    for r in rows:
        colour = colours[shifts.index(r["shift"]) % len(colours)]
        left.plot(offsets, r["curve"], color=colour, linestyle="-" if r["source"] == TRUTH else "--",
                  label=f"{r['source']} shift {r['shift']}")
    left.set(xlabel="audio offset o (frames)", ylabel="mean embedding distance",
             title="distance per offset (min: LSE-D; median - min: LSE-C)")
    left.legend(fontsize=8)
    x = np.arange(len(rows))
    for k, (key, label) in enumerate([("lse_d", "LSE-D"), ("d_at_0", "D@0"), ("lse_c", "LSE-C")]):
        right.bar(x + (k - 1) * 0.27, [r[key] for r in rows], width=0.27, label=label)
    right.set_xticks(x, [f"{r['source']}\nshift {r['shift']}" for r in rows], fontsize=8)
    right.set(title=f"{report['engine']}: sync figures per pair (D: lower is better)")
    right.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    plt.close(figure)


def write_outputs(report, json_path=None, png_path=None):
    """Writes the JSON report and the PNG plot (either may be None), both or neither: each goes
    to a temporary file beside its destination, and the renames happen once both are complete."""
    with contextlib.ExitStack() as stack:
        if json_path:
            stack.enter_context(files.atomic_output(json_path, "w")).write(
                json.dumps(report, indent=1, allow_nan=False) + "\n")
        if png_path:
            plot(report, stack.enter_context(files.atomic_output(png_path)))
