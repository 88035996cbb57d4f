"""Network weights: the embedded default model (`bundled`, with its files beside it), official
Wav2Lip checkpoints read without running pickles (`checkpoint`) and converted (`convert`)."""
