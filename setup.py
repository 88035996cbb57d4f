"""tflipsync: Keras lip-sync (Wav2Lip family) with TFLite and TF-Serving export."""

from setuptools import find_packages, setup

TRAIN = [
    "tensorflow==2.21.0",
    "keras>=3.10,<4",
    # Keras weights files (.weights.h5): the embedded generator, expert and landmark LSTM.
    "h5py>=3.10",
    # TensorBoard summaries of training (TF 2.21 no longer installs it).
    "tensorboard>=2.20",
    # Real face photos (astronaut) for the synthetic corpus.
    "scikit-image>=0.24",
    # Training-curve plots.
    "matplotlib>=3.8",
]

setup(
    name="tflipsync",
    version="0.1.0",
    description="Keras lip-sync (Wav2Lip family): networks, official-checkpoint import, TFLite and SavedModel export",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["tflipsync", "tflipsync.*"]),
    # the embedded default model (tflipsync/weights/bundled.py)
    package_data={"tflipsync": ["weights/*.weights.h5", "weights/*.npz", "weights/*.tflite",
                                 "weights/model.json"]},
    # The core is the runtime of `sync` and `sticker` with the landmarks and tflite engines: no
    # TensorFlow (the tflite engine runs on LiteRT, the landmarks engine on numpy, pocketsphinx and
    # MediaPipe). Training, export, evaluation and the keras/savedmodel engines need `[train]`.
    install_requires=[
        "ai-edge-litert==2.3.0",
        "av>=14,<19",
        "numpy>=1.26,<3",
        "scipy>=1.11",
        "absl-py>=2.1",
        "tqdm>=4.66",
        # Phones of speech for the articulation model (tflipsync/audio/phones.py): its wheel carries
        # the US-English acoustic model and phone language model, so nothing is downloaded.
        "pocketsphinx==5.1.1",
        # Tasks API for face detection; it brings opencv-contrib-python (cv2) and matplotlib. Model
        # files come from the 0.10.21 wheel: `tflipsync fetch-models`.
        "mediapipe==1.2.3",
        # Photos in, animated WebP and GIF stickers out.
        "pillow>=10",
    ],
    extras_require={
        # Training, export (TFLite conversion, SavedModel), evaluation and the keras/savedmodel
        # engines. `tensorflow`, not `tensorflow-cpu`: tensorflow-serving-api depends on it, and
        # both together install two copies of TensorFlow over each other.
        "train": TRAIN,
        # Request examples for TF-Serving's gRPC API (export/request_grpc.py): its protos and grpcio.
        "serving": TRAIN + ["tensorflow-serving-api==2.21.0"],
        # Apache Beam for `preprocess --runner=...` and `batch-sync` (tflipsync/batch/). It needs
        # protobuf < 7 and pillow < 13, which TensorFlow 2.21 and the core install allow.
        "beam": ["apache-beam==2.77.0"],
        # PyTorch is a test-time reference only: `pip install torch==2.13.0` takes the CPU build.
        "test": TRAIN + ["pytest>=8", "torch==2.13.0", "librosa==0.11.0", "soundfile>=0.12",
                         "tensorflow-serving-api==2.21.0", "apache-beam==2.77.0"],
    },
    entry_points={"console_scripts": ["tflipsync = tflipsync.cli:main"]},
)
