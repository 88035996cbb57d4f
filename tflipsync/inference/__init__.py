"""Inference: `sync`, `sticker` and `generate` (the commands), their `options`, the job `plan`
(audio, face pass, output schedule), the threaded `pipeline`, `redraw` per batch, the `paste`-back,
the mouth `warp` and `sketch` of the landmarks engine, and the `engines` (crop and frame kinds)."""
