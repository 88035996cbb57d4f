"""Training speed: Keras steps/s beside the PyTorch re-statement, same recipe, same machine.

Expert: batch 64, BCE on the embeddings' cosine, Adam. Generator: batch 16 windows of 5 frames
(80 frames a step), (1 - 0.03) L1 + 0.03 sync through the frozen expert in inference mode, Adam.
Both at --width (1.0 by default) on --threads CPU threads, random inputs, one process; each figure
is the median of timed blocks after warm-up, and each ratio is Keras over PyTorch in this run.

    python benchmarks/train.py [--threads 2] [--width 1.0] [--steps 4] [--json out.json]
"""

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

SYNC_WEIGHT = 0.03


def steps_per_second(step, steps, blocks=3):
    for _ in range(2):
        step()
    rates = []
    for _ in range(blocks):
        started = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(steps / (time.perf_counter() - started))
    return statistics.median(rates)


def keras_steps(width, rng):
    import tensorflow as tf

    from tflipsync.training import config as training_config
    from tflipsync.training.tasks.expert import ExpertTask
    from tflipsync.training.tasks.generator import GeneratorTask

    def config(model):
        return training_config.Config(model=model, data_dir="", model_dir="", width=width,
                                      sync_weight=SYNC_WEIGHT)

    expert = ExpertTask(config("expert"), 64)
    expert_batch = {"mel": tf.constant(rng.normal(size=(64, 80, 16, 1)), tf.float32),
                    "face": tf.constant(rng.uniform(size=(64, 48, 96, 15)), tf.float32),
                    "label": tf.constant(rng.integers(0, 2, 64), tf.float32)}
    generator = GeneratorTask(config("generator"), 16)
    generator_batch = {"face": tf.constant(rng.uniform(size=(16, 5, 96, 96, 6)), tf.float32),
                       "mels": tf.constant(rng.normal(size=(16, 5, 80, 16, 1)), tf.float32),
                       "sync_mel": tf.constant(rng.normal(size=(16, 80, 16, 1)), tf.float32),
                       "target": tf.constant(rng.uniform(size=(16, 5, 96, 96, 3)), tf.float32)}
    expert_step = tf.function(expert.train_step)
    generator_step = tf.function(generator.train_step)
    return (lambda: expert_step(expert_batch)["loss"].numpy(),
            lambda: generator_step(generator_batch)["loss"].numpy())


def torch_steps(width, rng):
    import torch
    import torch.nn.functional as F

    import torch_reference

    expert = torch_reference.build("expert", width)
    expert_optimizer = torch.optim.Adam(expert.parameters(), lr=1e-4)
    mel = torch.tensor(rng.normal(size=(64, 1, 80, 16)), dtype=torch.float32)
    face = torch.tensor(rng.uniform(size=(64, 15, 48, 96)), dtype=torch.float32)
    label = torch.tensor(rng.integers(0, 2, 64), dtype=torch.float32)

    def expert_step():
        expert.train()
        expert_optimizer.zero_grad()
        a, v = expert(mel, face)
        loss = F.binary_cross_entropy(F.cosine_similarity(a, v).clamp(0, 1), label)
        loss.backward()
        expert_optimizer.step()
        return loss.item()

    generator = torch_reference.build("generator", width)
    frozen = torch_reference.build("expert", width).eval()
    for p in frozen.parameters():
        p.requires_grad_(False)
    generator_optimizer = torch.optim.Adam(generator.parameters(), lr=1e-4)
    g_face = torch.tensor(rng.uniform(size=(16, 6, 5, 96, 96)), dtype=torch.float32)
    g_mels = torch.tensor(rng.normal(size=(16, 5, 1, 80, 16)), dtype=torch.float32)
    sync_mel = torch.tensor(rng.normal(size=(16, 1, 80, 16)), dtype=torch.float32)
    target = torch.tensor(rng.uniform(size=(16, 3, 5, 96, 96)), dtype=torch.float32)
    ones = torch.ones(16)

    def generator_step():
        generator.train()
        generator_optimizer.zero_grad()
        out = generator(g_mels, g_face)  # (B, 3, 5, 96, 96)
        lower = torch.cat([out[:, :, t, 48:] for t in range(5)], dim=1)  # (B, 15, 48, 96)
        a, v = frozen(sync_mel, lower)
        sync = F.binary_cross_entropy(F.cosine_similarity(a, v).clamp(0, 1), ones)
        loss = (1 - SYNC_WEIGHT) * F.l1_loss(out, target) + SYNC_WEIGHT * sync
        loss.backward()
        generator_optimizer.step()
        return loss.item()

    return expert_step, generator_step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=4, help="steps per timed block")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf
    import torch

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    engines = {"PyTorch fp32": torch_steps(args.width, rng), "Keras fp32": keras_steps(args.width, rng)}
    results = []
    for index, (recipe, batch) in enumerate([("expert", 64), ("generator", 16)]):
        baseline = None
        for engine, steps in engines.items():
            rate = steps_per_second(steps[index], args.steps)
            baseline = baseline or rate
            results.append({"recipe": recipe, "batch": batch, "engine": engine, "steps_per_s": rate,
                            "vs_pytorch": rate / baseline})
            print(f"{recipe:9s} batch {batch:2d}  {engine:13s} {rate:7.3f} steps/s "
                  f"({rate * batch:6.1f} samples/s)  {rate / baseline:5.2f}x PyTorch", flush=True)
    print(f"\nwidth {args.width:g}, {args.threads} threads, {os.cpu_count()} CPUs, "
          f"TF {tf.__version__}, torch {torch.__version__}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "width": args.width, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
