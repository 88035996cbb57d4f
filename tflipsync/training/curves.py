"""Plots a run's TensorBoard scalars (train and validation) into one PNG.

    python -m tflipsync.training.curves --model_dir runs/expert --out docs/expert.png
"""

import glob
import os
import sys

from absl import app, flags

from tflipsync import files


def read_scalars(directory):
    """{tag: [(step, value), ...]} from the event files of one summary folder."""
    import tensorflow as tf

    scalars = {}
    for path in sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.HasField("tensor"):
                    array = tf.make_ndarray(value.tensor)
                    if array.ndim != 0 or array.dtype.kind not in "fiu":  # images, text
                        continue
                    number = float(array)
                else:
                    number = value.simple_value
                scalars.setdefault(value.tag, []).append((event.step, number))
    return {tag: sorted(points) for tag, points in scalars.items()}


def plot(model_dir, out, title=None):
    """Writes a grid of one panel per scalar tag, train and validation overlaid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {name: read_scalars(os.path.join(model_dir, name)) for name in ("train", "validation")}
    tags = sorted(set(runs["train"]) | set(runs["validation"]))
    if not tags:
        raise ValueError(f"{model_dir}: no scalar summaries")
    columns = min(3, len(tags))
    rows = (len(tags) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(4.5 * columns, 3.2 * rows), squeeze=False)
    for axis, tag in zip(axes.flat, tags):
        for name, style in (("train", "-"), ("validation", "o-")):
            points = runs[name].get(tag)
            if points:
                steps, values = zip(*points)
                axis.plot(steps, values, style, label=name, markersize=3, linewidth=1)
        axis.set_title(tag)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
        axis.legend()
    for axis in list(axes.flat)[len(tags):]:
        axis.axis("off")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    with files.atomic_path(out) as temporary:  # keeps the extension savefig picks the format by
        figure.savefig(temporary, dpi=90)


def main(argv):
    del argv
    try:
        plot(flags.FLAGS.model_dir, flags.FLAGS.out, flags.FLAGS.title)
    except ValueError as err:
        print(f"curves: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    flags.DEFINE_string("model_dir", None, "a train.py model directory", required=True)
    flags.DEFINE_string("out", None, "the PNG to write", required=True)
    flags.DEFINE_string("title", None, "figure title")
    app.run(main)
