"""The engines of `sync`, `sticker` and `evaluate.py`, of two kinds, and their registry.

Crop engines (keras, tflite, savedmodel) redraw the lower half of face crops:

    engine(mel (b, 80, 16) float32, crops (b, 96, 96, 3) uint8 RGB) -> (b, 96, 96, 3) uint8 RGB

for any b <= batch_size. Each crop is both the masked target and the identity reference (the
fixed-reference protocol of inference). The pipeline hands over the crops as it cuts them from
decoded frames; each engine converts them once to its own input form (tflipsync/inference/
engines/network.py for the BGR float network, nothing for the SavedModel's uint8 RGB
signature). `engine.generate(mel (b, 80, 16), face (b, 96, 96, 6) BGR float32 in [0, 1])` ->
(b, 96, 96, 3) BGR float32 is the same network in its own form, for evaluation on clip records.

Frame engines (landmarks) redraw whole frames: `measure(frame, detection)` on every detected face
in pass 1, `plan(mouths, shots, wav, fps, count)` once, then `warp(frame, plan, source_index,
output_index)` per output frame (tflipsync/inference/engines/landmarks.py).

Every engine is built as ENGINES[name].build(weights, width, batch_size) and has `.description`
saying which weights run and what they were trained on, and `.short_description`, the same in a
few words for the command's one `model:` line; without weights it runs the embedded default model. The registry
imports no engine module until one is built, so naming and checking engines costs nothing.
"""

import dataclasses
import importlib
import importlib.util
import typing

CROP = "crop"
FRAME = "frame"


class CropEngine(typing.Protocol):
    """Redraws the lower half of face crops (see the module docstring for the forms)."""
    description: str
    short_description: str
    batch_size: int

    def __call__(self, mel, crops):
        """(b, 96, 96, 3) uint8 RGB crops with a new lower half, from uint8 RGB crops and mel windows."""

    def generate(self, mel, face):
        """(b, 96, 96, 3) BGR float32 in [0, 1] from the network's (b, 96, 96, 6) BGR float32 input."""


class FrameEngine(typing.Protocol):
    """Measures faces in pass 1, plans every output frame, then warps whole frames in pass 2."""
    description: str
    short_description: str
    mouth: object  # the face-mesh indices of the points `warp` returns (for the sketch)

    def begin(self, wav, fps, count):
        """Starts reading speech `wav` for `count` output frames at `fps` before pass 1 (it may run
        alongside); `plan` is then called with the same speech."""

    def measure(self, frame, detection):
        """A record of one detected face in an RGB frame, or None where it is unusable."""

    def plan(self, records, shots, wav, fps, count):
        """What pass 2 needs for `count` output frames of speech `wav`, from the main face's records."""

    def warp(self, frame, plan, source_index, output_index):
        """(the redrawn RGB frame, the points drawn in the sketch)."""


def short_description(weights, network):
    """The given `weights`, or the embedded `network` ("generator" or "landmarks") in a few words,
    pointing at the manifest that says the rest."""
    if weights:
        return str(weights)
    from tflipsync.weights import bundled

    info = bundled.manifest()
    if network == "landmarks" and info.get("landmarks_default") == "articulation":
        network = "articulation"
    corpus = info["files"][network].get("trained_on", info["trained_on"]).split(" (")[0]
    what = {"generator": f"embedded default, width {info['width']:g}", "landmarks": "embedded landmark LSTM",
            "articulation": "embedded articulation model"}[network]
    return f"{what}, trained on {corpus} (tflipsync/weights/model.json)"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One registered engine: its kind (CROP or FRAME) and where its class lives."""
    kind: str
    module: str
    name: str
    runtime: tuple = ("tensorflow",)  # the libraries it can run on, the one it prefers first

    def load_runtime(self):
        """Imports the first installed library the engine runs on, so that a job's clock (frames/s
        end to end) counts the job's work and not Python's import of the library."""
        for name in self.runtime:
            if importlib.util.find_spec(name.split(".")[0]) is not None:
                importlib.import_module(name)
                return

    def build(self, weights, width, batch_size):
        """The engine for `weights` (None: the embedded model) made for `width`, called with <= batch_size."""
        return getattr(importlib.import_module(self.module), self.name)(weights, width, batch_size)


ENGINES = {
    "keras": Entry(CROP, "tflipsync.inference.engines.keras", "KerasEngine"),
    # TensorFlow's tf.lite where it is installed, else LiteRT (tflipsync.deploy.runtime.default_runtime)
    "tflite": Entry(CROP, "tflipsync.inference.engines.tflite", "TFLiteEngine",
                    ("tensorflow", "ai_edge_litert.interpreter")),
    "savedmodel": Entry(CROP, "tflipsync.inference.engines.savedmodel", "SavedModelEngine"),
    # the face mesh runs on LiteRT; the embedded articulation model on numpy and pocketsphinx
    "landmarks": Entry(FRAME, "tflipsync.inference.engines.landmarks", "LandmarkEngine",
                       ("ai_edge_litert.interpreter",)),
}
