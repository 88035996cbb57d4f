"""Mouth landmarks from speech: the normalised mouth frame (mouth.py) and the Predictor (predictor.py)."""
