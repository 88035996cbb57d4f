"""Held-out figures of trained weights: expert sync accuracy, generator L1 and sync loss.

    python -m tflipsync.training.accuracy --model=expert --weights=runs/expert/best/expert.weights.h5 \\
        --width=0.25 --data_dir=data --filelist=corpus/filelists/test.txt --batches=50
    python -m tflipsync.training.accuracy --model=generator --weights=G.weights.h5 \\
        --expert_weights=E.weights.h5 --width=0.25 --data_dir=data --filelist=corpus/filelists/test.txt

The figures are the recipes' own validation figures (the tasks' `evaluation_sums`, what the
training loop's evaluation reports), over batches of the training pipelines at a fixed seed, so
they are deterministic for a seed.
"""

import sys

from absl import app, flags

FLAGS = flags.FLAGS


def _figures(sums, dataset):
    import tensorflow as tf

    from tflipsync.training import loop

    means, count = loop.measure(tf.function(sums), dataset)
    return {**means, "samples": count}


def expert_figures(expert, dataset):
    """{"accuracy", "loss", "positives", "samples"} of the expert over the batches of `dataset`."""
    from tflipsync.training.tasks import expert as recipe

    return _figures(lambda batch: recipe.evaluation_sums(expert, batch), dataset)


def generator_figures(generator, expert, dataset):
    """{"l1", "sync", "sync_accuracy", "sync_real", "samples"}: L1 to the truth, the expert's sync
    loss and accuracy on generated frames and its sync loss on true ones (5-frame windows,
    generated from the masked truth and a reference)."""
    from tflipsync.training.tasks import generator as recipe

    return _figures(lambda batch: recipe.evaluation_sums(generator, expert, batch), dataset)


def main(argv):
    del argv
    from tflipsync import models
    from tflipsync.data import expert_dataset, generator_dataset

    expert = models.build_expert(FLAGS.width)
    if FLAGS.model == "expert":
        expert.load_weights(FLAGS.weights)
        dataset = expert_dataset(FLAGS.data_dir, FLAGS.batch_size, FLAGS.filelist, seed=FLAGS.seed)
        figures = expert_figures(expert, dataset.take(FLAGS.batches))
    else:
        if not FLAGS.expert_weights:
            print("accuracy: error: --expert_weights is needed for a generator", file=sys.stderr)
            return 1
        expert.load_weights(FLAGS.expert_weights)
        generator = models.build_generator(FLAGS.width)
        generator.load_weights(FLAGS.weights)
        dataset = generator_dataset(FLAGS.data_dir, FLAGS.batch_size, FLAGS.filelist, seed=FLAGS.seed)
        figures = generator_figures(generator, expert, dataset.take(FLAGS.batches))
    print(", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    flags.DEFINE_enum("model", "expert", ["expert", "generator"], "what the weights are")
    flags.DEFINE_string("weights", None, ".weights.h5 to measure", required=True)
    flags.DEFINE_string("expert_weights", None, "the expert judging a generator's sync")
    flags.DEFINE_float("width", 1.0, "network width")
    flags.DEFINE_string("data_dir", None, "clip records (tflipsync preprocess)", required=True)
    flags.DEFINE_string("filelist", None, "held-out filelist")
    flags.DEFINE_integer("batch_size", 64, "samples per batch")
    flags.DEFINE_integer("batches", 50, "batches measured")
    flags.DEFINE_integer("seed", 123, "sampling seed")
    app.run(main)
