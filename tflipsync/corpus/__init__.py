"""Corpus making: the synthetic talking-face corpus (`synth` with its `speech` and `synth_face`)
and `preprocess`, which turns any videos (LRS2 layout, a filelist, a folder) into clip records."""
