"""`tflipsync export savedmodel` (also `python export/saved_model.py`): the generator for TF-Serving.

    tflipsync export savedmodel --base_dir models --name tflipsync --version 1 [--weights G --width 1]
    tensorflow_model_server --port=8500 --rest_api_port=8501 --model_name=tflipsync \\
        --model_base_path=$PWD/models/tflipsync

Without --weights the embedded default model is exported. Writes models/tflipsync/1/ and an
example models/models.config whose base_path is /models/tflipsync, the folder inside the
tensorflow/serving container (`docker run -v $PWD/models/tflipsync:/models/tflipsync ...`); for a
bare tensorflow_model_server, set base_path to the host folder (the command prints it). Request
examples: export/request_rest.py, export/request_grpc.py.
"""

import os


def define_flags(flag_values):
    from absl import flags

    fv = {"flag_values": flag_values}
    flags.DEFINE_string("weights", None, "Generator .weights.h5 (default: the embedded model).", **fv)
    flags.DEFINE_float("width", None, "Width of --weights (default 1.0).", **fv)
    flags.DEFINE_string("base_dir", None, "Model base folder (TF-Serving's parent of <name>).", **fv)
    flags.DEFINE_string("name", "tflipsync", "Model name: the folder under --base_dir.", **fv)
    flags.DEFINE_integer("version", 1, "Version folder (a positive integer).", **fv)
    flags.DEFINE_boolean("overwrite", False, "Replace an existing version folder.", **fv)


def run(f):
    from tflipsync.errors import InputError, require_file

    if not f.base_dir:
        raise InputError("--base_dir", "is required")
    if f.weights:
        require_file(f.weights, "a .weights.h5 file")

    from tflipsync.deploy import saved_model
    from tflipsync.weights import bundled

    model, description = bundled.network("generator", f.weights, f.width)
    path = saved_model.export(model, f.base_dir, f.name, f.version, f.overwrite)
    print(f"{path}: SavedModel of {description}; signatures serving_default, from_pcm")
    print(f"{os.path.join(f.base_dir, 'models.config')}: base_path /models/{f.name}, the tensorflow/serving "
          f"image's folder; for a bare tensorflow_model_server, set it to {os.path.abspath(os.path.dirname(path))}")
    return 0
