"""Audio: decoding speech (`io`), the Wav2Lip mel spectrogram (`mel`), mel windows per video frame
(`windows`, the one window cutter) and silent frames (`silence`)."""
