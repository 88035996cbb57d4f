"""Training data: packed clip records (`records`) and the tf.data pipelines that read them.

`expert_dataset`, `generator_dataset` and `landmark_dataset` are imported on first use, so that
importing `tflipsync.data.records` (preprocess workers) does not load TensorFlow.
"""

__all__ = ["expert_dataset", "generator_dataset", "landmark_dataset"]


def __getattr__(name):
    if name == "expert_dataset":
        from tflipsync.data.expert import expert_dataset
        return expert_dataset
    if name == "generator_dataset":
        from tflipsync.data.generator import generator_dataset
        return generator_dataset
    if name == "landmark_dataset":
        from tflipsync.data.landmarks import landmark_dataset
        return landmark_dataset
    raise AttributeError(f"module 'tflipsync.data' has no attribute {name!r}")
