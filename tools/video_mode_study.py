"""Where does video mode lose lip motion? The diagnostic of docs/real_faces.md ("What limits the motion").

    python -m tools.video_mode_study [--filelist=../shared/corpus/real/val.txt] [--modes=photo,video] \\
        [--max_clips=0] [--out_json=runs/video_mode_study.json]

Runs the lip-motion protocol's two modes (tflipsync/evaluation/lipmotion_protocol.py: the clip's
first frame, or the clip reversed without sound, lip-synced to its own speech by the default
landmarks engine) and records, per output frame, what the warp aimed for. Per clip and mode:

- plan: the planned gap, the targets' inner-lip gap (mesh points 13 and 14) over the outer eye
  corners' distance (33 and 263) of the source frame's mesh, in pixels, as `faces.mesh.lip_gap`
  measures the output;
- r plan/truth and r output/truth: the planned and the measured output gap against the real
  speaker's (`lipmotion.best_lag_r`, +-2 frames); r output/plan: the measured gap against the
  planned one at lag 0 (how well the rendering and the mesh reproduce the plan);
- leak: the r of the output's residual (measured minus the plan, both standardised) with the
  source frame's own real gap: how much of the source's own mouth the mesh still reads (video
  mode; a photo's source never moves);
- unwarped: the output frames passed through as the source shows them (silent frames, by
  `sync`'s default --silence original, and frames without a usable mouth);
- rest gap: the planned rest mouth's inner-lip gap over the eye-centre distance (the normalised
  frame's unit), and the source's own median and least-open-quarter gaps in the same unit.

The engine is the product's, unchanged: the recording wraps its `measure` and `warp` for the
run and restores them after.
"""

import contextlib
import json
import os
import sys
import tempfile

import numpy as np
from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "..", "shared", "corpus", "real")

FLAGS = flags.FLAGS
flags.DEFINE_string("corpus_dir", CORPUS, "the real corpus")
flags.DEFINE_string("filelist", os.path.join(CORPUS, "val.txt"), "the split file of the clips studied")
flags.DEFINE_string("cache_dir", os.path.join(ROOT, "runs", "lipmotion_cache"), "the real clips' measurements")
flags.DEFINE_list("modes", ["photo", "video"], "photo, video or both")
flags.DEFINE_integer("max_clips", 0, "the first N clips of the filelist (0: all)")
flags.DEFINE_string("out_json", None, "also write the per-clip figures here")


class Recorder:
    """Records the landmarks engine's planned mouths while `recording()` is active.

    eyes[key]: the source measurement's outer-eye-corner distance in pixels; targets[j]: output
    frame j's (source frame, target pixels (K, 2)); plan: the engine's last Plan.
    """

    def __init__(self):
        self.eyes, self.targets, self.plan, self.engine = {}, {}, None, None

    @contextlib.contextmanager
    def recording(self):
        from tflipsync.faces import mesh as face_mesh
        from tflipsync.inference.engines.landmarks import LandmarkEngine

        recorder = self
        measure, warp, plan = LandmarkEngine.measure, LandmarkEngine.warp, LandmarkEngine.plan
        landmarks = face_mesh.FaceMesh.landmarks

        def landmarks_kept(mesh, rgb, detection):
            mesh.last = landmarks(mesh, rgb, detection)
            return mesh.last

        def measure_kept(engine, frame, detection):
            mouth = measure(engine, frame, detection)
            if mouth is not None:
                points = engine._mesh.last[0]  # the mesh this measurement was made from
                corners = points[list(face_mesh.EYE_CORNERS), :2]
                recorder.eyes[mouth.key] = float(np.linalg.norm(corners[1] - corners[0]))
            return mouth

        def plan_kept(engine, *args):
            recorder.plan, recorder.engine = plan(engine, *args), engine
            return recorder.plan

        def warp_kept(engine, frame, plan_, source_index, output_index):
            out, target = warp(engine, frame, plan_, source_index, output_index)
            recorder.targets[int(output_index)] = (int(source_index), np.asarray(target, np.float64))
            return out, target

        face_mesh.FaceMesh.landmarks = landmarks_kept
        LandmarkEngine.measure, LandmarkEngine.warp, LandmarkEngine.plan = measure_kept, warp_kept, plan_kept
        try:
            yield self
        finally:
            face_mesh.FaceMesh.landmarks = landmarks
            LandmarkEngine.measure, LandmarkEngine.warp, LandmarkEngine.plan = measure, warp, plan

    def planned_gap(self, count):
        """(count,) the planned gap of each output frame (NaN where it was not warped)."""
        from tflipsync.landmarks import mouth as mouth_points

        upper, lower = (list(mouth_points.MOUTH).index(i) for i in (13, 14))
        gap = np.full(count, np.nan)
        for j, (s, target) in self.targets.items():
            if j < count:
                gap[j] = np.linalg.norm(target[upper] - target[lower]) / self.eyes[self.plan.mouths[s].key]
        return gap

    def rest_gaps(self):
        """(the planned rest's gap, the source's median gap, its least-open quarter's median gap),
        inner-lip gap over the eye-centre distance (the normalised frame's unit)."""
        from tflipsync.landmarks import mouth as mouth_points

        upper, lower = (list(mouth_points.MOUTH).index(i) for i in (13, 14))
        shapes = np.stack([m.shape for m in self.plan.mouths if m is not None]).astype(np.float64)
        own = np.linalg.norm(shapes[:, upper] - shapes[:, lower], axis=-1)
        rest = next(r for r in self.plan.rest if r is not None)
        return (float(np.linalg.norm(rest[upper] - rest[lower])), float(np.median(own)),
                float(np.median(own[own <= np.percentile(own, 25)])))


def standardised(values):
    values = np.asarray(values, np.float64)
    keep = np.isfinite(values)
    out = np.full(values.shape, np.nan)
    if keep.sum() > 1 and values[keep].std() > 1e-12:
        out[keep] = (values[keep] - values[keep].mean()) / values[keep].std()
    return out


def study_clip(clip, modes, measurer, cache_dir):
    """Per mode, the figures of the module docstring for one clip."""
    from tflipsync.evaluation import lipmotion, lipmotion_protocol as protocol
    from tflipsync.inference.options import Options
    from tflipsync.inference.sync import run_sync

    real = lipmotion.measure_clip(clip, measurer, cache_dir)
    count, fps = len(real["opening"]), real["fps"]
    rows = {}
    with tempfile.TemporaryDirectory(prefix="video-mode-study-") as folder:
        for mode in modes:
            face = protocol.write_photo(clip, folder) if mode == "photo" else protocol.write_reversed(clip, folder, fps)
            out = os.path.join(folder, f"{mode}.mp4")
            recorder = Recorder()
            with recorder.recording():
                summary = run_sync(Options(face=face, audio=clip, out=out, engine="landmarks", fps=fps,
                                           progress=False))
            frames = summary["frames"]
            sources = protocol.source_frames(mode, frames, count)
            output = lipmotion.measure_video(out, measurer())["opening"]
            planned = recorder.planned_gap(frames)
            source_gap = real["opening"][sources]
            residual = standardised(output) - standardised(planned)
            rest, own_median, own_closed = recorder.rest_gaps()
            rows[mode] = {
                "frames": frames, "silent": summary["silent"],
                "unwarped": summary["silent"] + summary["no_face"] + summary["occluded"] + summary["profile"],
                "r_plan_truth": lipmotion.best_lag_r(planned, real["opening"])[0],
                "r_output_truth": lipmotion.best_lag_r(output, real["opening"])[0],
                "r_output_plan": lipmotion.pearson(output, planned),
                "leak": lipmotion.pearson(residual, source_gap) if mode == "video" else float("nan"),
                "r_output_source": lipmotion.pearson(output, source_gap) if mode == "video" else float("nan"),
                "rest_gap": rest, "source_median_gap": own_median, "source_closed_gap": own_closed,
                "planned_spread": float(np.nanstd(planned)), "output_spread": float(np.nanstd(output)),
                "truth_spread": float(np.nanstd(real["opening"]))}
            os.remove(out)
    return rows


KEYS = ("frames", "unwarped", "r_plan_truth", "r_output_truth", "r_output_plan", "leak", "r_output_source", "rest_gap",
        "source_median_gap", "source_closed_gap", "planned_spread", "output_spread", "truth_spread")


def median(values):
    """The median of the finite values; NaN where there is none."""
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else float("nan")


def table(report, modes):
    """The per-clip table and the medians as text."""
    lines = ["clip | mode | " + " | ".join(KEYS)]
    for clip, rows in report.items():
        for mode in modes:
            lines.append(f"{clip[:40]} | {mode} | " + " | ".join(f"{rows[mode][k]:.3f}" for k in KEYS))
    for mode in modes:
        medians = [median([rows[mode][k] for rows in report.values()]) for k in KEYS]
        lines.append(f"median | {mode} | " + " | ".join(f"{m:.3f}" for m in medians))
    return "\n".join(lines)


def main(argv):
    del argv
    sys.path.insert(0, ROOT)
    from tflipsync import native_logs
    from tflipsync.evaluation import lipmotion_protocol as protocol

    clips = protocol.read_filelist(FLAGS.filelist, FLAGS.corpus_dir)
    clips = clips[:FLAGS.max_clips] if FLAGS.max_clips else clips
    measurer = protocol._LazyMeasurer()
    report = {}
    try:
        with native_logs.filtered_stderr():
            for clip in clips:
                name = os.path.splitext(os.path.basename(clip))[0]
                report[name] = study_clip(clip, FLAGS.modes, measurer, FLAGS.cache_dir)
                print(name, json.dumps({m: {k: round(v, 3) for k, v in r.items()} for m, r in report[name].items()}),
                      file=sys.stderr, flush=True)
    finally:
        measurer.close()
    print(table(report, FLAGS.modes))
    if FLAGS.out_json:
        from tflipsync import files

        files.write_bytes(FLAGS.out_json, json.dumps({"filelist": FLAGS.filelist, "clips": report}, indent=1).encode())
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    app.run(main)
