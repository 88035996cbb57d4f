"""Faces: detection (`detect`), the face mesh and its lip table (`mesh`), the main-face track of a
video (`track`), the one face crop (`crop`) and the MediaPipe model files (`assets`)."""
