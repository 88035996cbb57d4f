"""Held-out figures of trained weights: expert sync accuracy, generator L1 and sync loss.

    python -m tflipsync.training.accuracy --model=expert --weights=runs/expert/best/expert.weights.h5 \\
        --width=0.25 --data_dir=data --filelist=corpus/filelists/test.txt --batches=50
    python -m tflipsync.training.accuracy --model=generator --weights=G.weights.h5 \\
        --expert_weights=E.weights.h5 --width=0.25 --data_dir=data --filelist=corpus/filelists/test.txt

Batches come from the training pipelines with a fixed seed (uniform negatives from the same clip,
half the expert samples in sync), so the figures are deterministic for a seed.
"""

import sys

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS


def expert_figures(expert, dataset):
    """{"accuracy", "loss", "positives", "samples"} of the expert over the batches of `dataset`."""
    from tflipsync.training import losses

    correct, loss, positives, count = 0.0, 0.0, 0.0, 0
    for batch in dataset:
        per_example, probability = losses.sync_loss(expert, batch["mel"], batch["face"], batch["label"],
                                                    training=False)
        label = batch["label"].numpy() > 0.5
        correct += float(np.sum((probability.numpy() > 0.5) == label))
        loss += float(np.sum(per_example.numpy()))
        positives += float(label.sum())
        count += len(label)
    return {"accuracy": correct / count, "loss": loss / count, "positives": positives / count, "samples": count}


def generator_figures(generator, expert, dataset):
    """{"l1", "sync", "sync_real", "samples"}: L1 to the truth, the expert's sync loss on generated
    and on true frames (5-frame windows, generated from the masked truth and a reference)."""
    import tensorflow as tf

    from tflipsync.training import losses

    totals, count = {"l1": 0.0, "sync": 0.0, "sync_real": 0.0}, 0
    for batch in dataset:
        face = tf.reshape(batch["face"], [-1, *batch["face"].shape[2:]])  # (B*5, 96, 96, 6)
        mel = tf.reshape(batch["mels"], [-1, *batch["mels"].shape[2:]])  # (B*5, 80, 16, 1)
        generated = tf.reshape(generator([mel, face], training=False), batch["target"].shape)
        ones = tf.ones([batch["target"].shape[0]])
        sync, _ = losses.sync_loss(expert, batch["sync_mel"], losses.lower_half_stack(generated), ones, False)
        real, _ = losses.sync_loss(expert, batch["sync_mel"], losses.lower_half_stack(batch["target"]), ones, False)
        totals["l1"] += float(tf.reduce_sum(losses.l1(generated, batch["target"])))
        totals["sync"] += float(tf.reduce_sum(sync))
        totals["sync_real"] += float(tf.reduce_sum(real))
        count += int(ones.shape[0])
    return {**{k: v / count for k, v in totals.items()}, "samples": count}


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
