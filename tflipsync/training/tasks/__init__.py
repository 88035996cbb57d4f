"""The training recipes, one file each; `build` makes the one a config names."""

from tflipsync.training.tasks.expert import ExpertTask
from tflipsync.training.tasks.generator import GeneratorTask
from tflipsync.training.tasks.landmarks import LandmarkTask

TASKS = {"expert": ExpertTask, "generator": GeneratorTask, "landmarks": LandmarkTask}


def build(config, global_batch_size=None):
    """The Task of `config.model` (global batch: config.batch_size unless given)."""
    return TASKS[config.model](config, global_batch_size or config.batch_size)
