"""tflipsync: Keras lip-sync (Wav2Lip family) with TFLite and TF-Serving export."""

__version__ = "0.1.0"
