"""Training flags, defined in one place, and the frozen config a run is built from.

Every flag is optional with the original's value as default where it has one; a flagfile per
experiment under configs/ sets the rest (`python train.py --flagfile=configs/expert.flags`), and
flags given after it on the command line override it. A run never changes its config: schedules,
such as the sync-loss weight switching on, are state in the checkpoint.
"""

import dataclasses
import os

from absl import flags

MODELS = ("expert", "generator", "landmarks")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass(frozen=True)
class Config:
    """Resolved training configuration; fields are the flags of the same name."""
    model: str
    data_dir: str
    model_dir: str
    train_list: str = None
    val_list: str = None
    width: float = 1.0
    batch_size: int = 64
    learning_rate: float = 1e-4
    beta_1: float = 0.9
    beta_2: float = 0.999
    disc_learning_rate: float = 1e-4
    sync_weight: float = 0.0
    sync_weight_after_switch: float = 0.01
    sync_switch_below: float = 0.75
    disc_weight: float = 0.0
    expert_weights: str = None
    init_weights: str = None
    hard_negative_prob: float = 0.0
    samples_per_clip: int = 16
    shuffle_buffer: int = None
    max_steps: int = 1000
    eval_interval: int = 3000
    eval_batches: int = 700
    checkpoint_interval: int = 3000
    log_interval: int = 50
    image_interval: int = 3000
    keep_checkpoints: int = 3
    strategy: str = "default"
    tpu: str = None
    mixed_precision: str = "float32"
    sync_batch_norm: bool = False
    seed: int = 0
    progress: bool = True
    delay: int = 16
    units: int = 60
    pca_dims: int = 8
    bidirectional: bool = False
    sequence_steps: int = 128

    @property
    def gan(self):
        return self.model == "generator" and self.disc_weight > 0


def define_flags(flag_values=flags.FLAGS):
    """Defines every training flag on `flag_values`."""
    d = Config.__dataclass_fields__
    fv = dict(flag_values=flag_values)
    flags.DEFINE_enum("model", None, MODELS, "network to train", **fv)
    flags.DEFINE_string("data_dir", None, "folder of clip records from `tflipsync preprocess`", **fv)
    flags.DEFINE_string("model_dir", None, "checkpoints, summaries, weights and the resolved flags", **fv)
    flags.DEFINE_string("train_list", None, "filelist of training clips (<group>/<id> lines); "
                        "default: every record in data_dir", **fv)
    flags.DEFINE_string("val_list", None, "filelist of validation clips; default: the training clips", **fv)
    flags.DEFINE_float("width", d["width"].default, "channel-width multiplier (0.5, 0.25: mobile)", **fv)
    flags.DEFINE_integer("batch_size", d["batch_size"].default, "global batch size (all replicas)", **fv)
    flags.DEFINE_float("learning_rate", d["learning_rate"].default, "Adam learning rate", **fv)
    flags.DEFINE_float("beta_1", d["beta_1"].default, "Adam beta_1", **fv)
    flags.DEFINE_float("beta_2", d["beta_2"].default, "Adam beta_2", **fv)
    flags.DEFINE_float("disc_learning_rate", d["disc_learning_rate"].default,
                       "discriminator Adam learning rate (GAN)", **fv)
    flags.DEFINE_float("sync_weight", d["sync_weight"].default,
                       "generator: initial weight of the expert's sync loss", **fv)
    flags.DEFINE_float("sync_weight_after_switch", d["sync_weight_after_switch"].default,
                       "generator: sync weight once validation sync loss < sync_switch_below", **fv)
    flags.DEFINE_float("sync_switch_below", d["sync_switch_below"].default,
                       "generator: validation sync loss that switches the sync weight on", **fv)
    flags.DEFINE_float("disc_weight", d["disc_weight"].default,
                       "generator: weight of the visual-quality discriminator loss (0: no GAN)", **fv)
    flags.DEFINE_string("expert_weights", None, "generator: the frozen expert's .weights.h5", **fv)
    flags.DEFINE_string("init_weights", None, "start from these .weights.h5 (e.g. converted "
                        "official weights) for the trained network", **fv)
    flags.DEFINE_float("hard_negative_prob", d["hard_negative_prob"].default,
                       "expert: share of negatives taken 2-10 frames from the positive", **fv)
    flags.DEFINE_integer("samples_per_clip", d["samples_per_clip"].default,
                         "windows drawn from each clip read", **fv)
    flags.DEFINE_integer("shuffle_buffer", None, "samples mixed across clips (default: the "
                         "pipeline's, 1024 expert / 512 generator / 256 landmarks)", **fv)
    flags.DEFINE_integer("max_steps", d["max_steps"].default, "train until this global step", **fv)
    flags.DEFINE_integer("eval_interval", d["eval_interval"].default, "steps between evaluations", **fv)
    flags.DEFINE_integer("eval_batches", d["eval_batches"].default, "batches per evaluation", **fv)
    flags.DEFINE_integer("checkpoint_interval", d["checkpoint_interval"].default,
                         "steps between checkpoints", **fv)
    flags.DEFINE_integer("log_interval", d["log_interval"].default, "steps between scalar summaries", **fv)
    flags.DEFINE_integer("image_interval", d["image_interval"].default,
                         "steps between image-grid summaries (generator)", **fv)
    flags.DEFINE_integer("keep_checkpoints", d["keep_checkpoints"].default, "checkpoints kept", **fv)
    flags.DEFINE_enum("strategy", d["strategy"].default, STRATEGIES, "tf.distribute strategy", **fv)
    flags.DEFINE_string("tpu", None, "TPU name or address (strategy tpu)", **fv)
    flags.DEFINE_enum("mixed_precision", d["mixed_precision"].default, PRECISIONS,
                      "Keras dtype policy", **fv)
    flags.DEFINE_boolean("sync_batch_norm", d["sync_batch_norm"].default,
                         "batch-norm statistics over all replicas (default: per replica, as the "
                         "original's DataParallel)", **fv)
    flags.DEFINE_integer("seed", d["seed"].default, "seed of initialisation and data order", **fv)
    flags.DEFINE_boolean("progress", True, "show a progress bar", **fv)
    flags.DEFINE_integer("delay", d["delay"].default, "landmarks: output delay in steps of "
                         "12.5 ms (the LSTM sees this much of the future)", **fv)
    flags.DEFINE_integer("units", d["units"].default, "landmarks: LSTM units (per direction)", **fv)
    flags.DEFINE_integer("pca_dims", d["pca_dims"].default,
                         "landmarks: PCA coefficients of the mouth predicted", **fv)
    flags.DEFINE_boolean("bidirectional", d["bidirectional"].default,
                         "landmarks: the bidirectional baseline instead of the delayed LSTM "
                         "(needs --delay=0)", **fv)
    flags.DEFINE_integer("sequence_steps", d["sequence_steps"].default,
                         "landmarks: steps per training sequence (80 per second)", **fv)
    flags.mark_flags_as_required(["model", "data_dir", "model_dir"], flag_values=flag_values)


def from_flags(flag_values=flags.FLAGS):
    """The Config of parsed flags (paths made absolute)."""
    values = {name: flag_values[name].value for name in Config.__dataclass_fields__}
    for name in ("data_dir", "model_dir", "train_list", "val_list", "expert_weights", "init_weights"):
        if values[name]:
            values[name] = os.path.abspath(values[name])
    config = Config(**values)
    if config.model == "generator" and not config.expert_weights and config.sync_weight_after_switch > 0:
        raise flags.ValidationError("--model=generator needs --expert_weights (the frozen expert)")
    if config.model == "landmarks" and config.bidirectional and config.delay:
        raise flags.ValidationError("--bidirectional needs --delay=0 (it sees the whole sequence)")
    if config.model == "generator" and config.sync_weight + config.disc_weight >= 1:
        raise flags.ValidationError("--sync_weight + --disc_weight must stay below 1")
    return config
