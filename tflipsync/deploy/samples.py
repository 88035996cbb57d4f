"""Real network inputs drawn from a preprocessed corpus: the calibration samples of the int8 files
and the held-out samples their quality is measured on."""

import numpy as np


def real_samples(kind, data_dir, filelist, count, seed=0, per_clip=4):
    """`count` inputs from a preprocessed corpus, as the training pipelines draw them, `per_clip`
    windows from each clip drawn (fewer spreads the samples over more clips and speakers).

    Args:
      kind: "generator" or "expert".
      data_dir: the folder of clip records (`tflipsync preprocess`).
      filelist: the clips to draw from (None: all of data_dir).
      count: how many samples.
      seed: the draw's seed (the pipelines' randomness is stateless).

    Returns:
      generator: {"mel" (N, 80, 16, 1), "face" (N, 96, 96, 6), "target" (N, 96, 96, 3),
      "sync_mel" (N // 5, 80, 16, 1)}: 5-frame windows flattened, N a multiple of 5;
      expert: {"mel" (N, 80, 16, 1), "face" (N, 48, 96, 15), "label" (N,)}.
    """
    from tflipsync.data import expert_dataset, generator_dataset

    if kind == "generator":
        windows = -(-count // 5)
        dataset = generator_dataset(data_dir, 8, filelist, seed=seed, samples_per_clip=per_clip, shuffle_buffer=32)
        parts = {"mel": [], "face": [], "target": [], "sync_mel": []}
        taken = 0
        for batch in dataset:
            parts["mel"].append(batch["mels"].numpy().reshape(-1, 80, 16, 1))  # (B*5, ...)
            parts["face"].append(batch["face"].numpy().reshape(-1, 96, 96, 6))
            parts["target"].append(batch["target"].numpy().reshape(-1, 96, 96, 3))
            parts["sync_mel"].append(batch["sync_mel"].numpy())
            taken += len(batch["sync_mel"])
            if taken >= windows:
                break
        samples = {k: np.concatenate(v) for k, v in parts.items()}
        return {k: v[:windows * (5 if k != "sync_mel" else 1)] for k, v in samples.items()}
    dataset = expert_dataset(data_dir, 32, filelist, seed=seed, samples_per_clip=8, shuffle_buffer=64)
    parts = {"mel": [], "face": [], "label": []}
    for batch in dataset:
        for key in parts:
            parts[key].append(batch[key].numpy())
        if sum(len(p) for p in parts["label"]) >= count:
            break
    return {k: np.concatenate(v)[:count] for k, v in parts.items()}
