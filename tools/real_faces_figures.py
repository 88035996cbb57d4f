"""The figures of docs/real_faces.md: real speakers side by side with the engines, the demo, curves.

    python -m tools.real_faces_figures --strips OUT.png [--engines landmarks,keras]
        [--clips NAME,...] [--weights ENGINE=PATH,...] [--corpus_dir DIR] [--filelist test.txt]
    python -m tools.real_faces_figures --demo_strip OUT.png [--demo_video out/demo.mp4]
    python -m tools.real_faces_figures --curves OUT.png --run NAME=MODEL_DIR [--run ...]

--strips: for each of 4 held-out speakers (by default the first clip of each speaker of the split,
the 4 with the largest faces of at least --min_face pixels; --clips names them), photo mode as in
the lip-motion protocol (tflipsync/evaluation/lipmotion.py): the clip's first frame lip-synced to
the clip's own speech at its fps, once per engine. One block per speaker: a row for the real clip,
then one per engine, at the same frames, chosen spread over the clip and alternately where the
real mouth opens most and least (`choose_frames`); the first column is the input photo. Tiles are
the lower half of the face (the real clip's measured, padded box of frame 0, with a margin), the
same box for the input and the engines; the real row keeps its size but follows the real face.
The headers give each frame's time and the real lip gap (inner-lip gap over the eye distance).

--demo_strip: 8 frames of the demo video (`make demo` writes out/demo.mp4) evenly spread,
cropped to the lower half of the face found on its first frame, labelled with their times.

--curves: one panel per train.py run: its main scalars (expert: accuracy and loss; generator:
l1; landmarks: loss and error; the model is read from the run's flags.txt), train as lines and
validation with markers, the second scalar on the right axis.

PNGs are written atomically and downscaled until under --max_bytes.
"""

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "real")
MAIN_TAGS = {"expert": ("accuracy", "loss"), "generator": ("l1",), "landmarks": ("loss", "error")}
TILE_HEIGHT = 128
LABEL_WIDTH = 92  # the row-label column
HEADER_HEIGHT = 20  # the column labels above each block's tiles
TITLE_HEIGHT = 26  # the speaker line above each block
GAP = 2  # pixels between tiles
BACKGROUND = 32
TEXT = (235, 235, 235)


def parse_pairs(items, flag):
    """`NAME=VALUE` strings (also comma-joined) as an ordered {name: value}; SystemExit naming the flag."""
    pairs = {}
    for item in (part for text in items or () for part in text.split(",") if part):
        name, _, value = item.partition("=")
        if not name or not value:
            raise SystemExit(f"real_faces_figures: error: {flag}: {item!r} is not NAME=VALUE")
        pairs[name] = value
    return pairs


def choose_frames(opening, count=6):
    """Frame indices spread over a clip where the real mouth varies most.

    The clip is cut into `count` equal spans; span k gives its most open frame for even k and its
    most closed one for odd k, so the picks alternate open and closed mouths across the clip.

    Args:
      opening: float (N,) per-frame lip gap, NaN where unmeasured.
      count: how many frames.

    Returns:
      int array (count,), increasing, distinct.

    Raises:
      ValueError: fewer than `count` measured frames.
    """
    opening = np.asarray(opening, np.float64)
    measured = np.flatnonzero(np.isfinite(opening))
    if len(measured) < count:
        raise ValueError(f"{len(measured)} frames with a measured mouth, {count} needed")
    # spans over the measured frames, so that a face lost for a while does not leave a span empty
    picks = []
    for k, span in enumerate(np.array_split(measured, count)):
        values = opening[span]
        picks.append(int(span[np.argmax(values) if k % 2 == 0 else np.argmin(values)]))
    return np.array(picks)


def choose_clips(candidates, count=4, min_face=150):
    """The default clips of --strips: each speaker's first clip, the `count` with the largest faces.

    Args:
      candidates: (clip, speaker, face height in pixels) in split order.
      count: how many speakers.
      min_face: the smallest face height kept.

    Returns:
      The chosen clips, in split order.

    Raises:
      ValueError: fewer than `count` speakers have a face of min_face pixels.
    """
    first = {}
    for clip, speaker, height in candidates:
        first.setdefault(speaker, (clip, height))
    large = [(clip, height) for clip, height in first.values() if height >= min_face]
    if len(large) < count:
        raise ValueError(f"{len(large)} speakers have a face of at least {min_face} px, {count} needed "
                         "(lower --min_face or name --clips)")
    keep = {clip for clip, _ in sorted(large, key=lambda pair: -pair[1])[:count]}
    return [clip for clip, _ in first.values() if clip in keep]


def lower_face_box(box, frame_size, margin=0.1):
    """The lower half of an (x0, y0, x1, y1) face box, grown on each side by `margin` of the half's
    width and height, and clipped to a (height, width) frame: int (4,)."""
    x0, y0, x1, y1 = [float(v) for v in box]
    y0 = (y0 + y1) / 2
    dx, dy = margin * (x1 - x0), margin * (y1 - y0)
    height, width = frame_size
    out = np.round([x0 - dx, y0 - dy, x1 + dx, y1 + dy]).astype(int)
    out[[0, 2]] = np.clip(out[[0, 2]], 0, width)
    out[[1, 3]] = np.clip(out[[1, 3]], 0, height)
    return out


def centred_box(box, centre, frame_size):
    """`box` moved (same size) to be centred on (x, y), then shifted back inside the frame: int (4,)."""
    x0, y0, x1, y1 = [int(v) for v in box]
    w, h = x1 - x0, y1 - y0
    height, width = frame_size
    left = int(np.clip(round(centre[0] - w / 2), 0, max(width - w, 0)))
    top = int(np.clip(round(centre[1] - h / 2), 0, max(height - h, 0)))
    return np.array([left, top, left + w, top + h])


def box_centre(box):
    x0, y0, x1, y1 = [float(v) for v in box]
    return (x0 + x1) / 2, (y0 + y1) / 2


def tile(rgb, box, height=TILE_HEIGHT):
    """The (x0, y0, x1, y1) region of an RGB frame resized to `height` rows, aspect kept."""
    import cv2

    x0, y0, x1, y1 = [int(v) for v in box]
    part = rgb[y0:y1, x0:x1]
    width = max(1, int(round(height * part.shape[1] / part.shape[0])))
    filter_ = cv2.INTER_AREA if part.shape[0] > height else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(part), (width, height), interpolation=filter_)


def put_text(image, text, x, y, scale=0.45):
    """Writes text with its baseline at (x, y), in place."""
    import cv2

    cv2.putText(image, text, (int(x), int(y)), cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT, 1, cv2.LINE_AA)


def grid(tiles, row_labels, column_labels, title=None):
    """One labelled block of equal-sized tiles.

    Args:
      tiles: rows of uint8 (h, w, 3) images, all of one shape.
      row_labels: a label per row, written in the left column.
      column_labels: a label per column, written above the tiles.
      title: an optional line above the column labels.

    Returns:
      uint8 (top + R * (h + GAP), LABEL_WIDTH + C * (w + GAP), 3), where top is HEADER_HEIGHT plus
      TITLE_HEIGHT with a title; tile (r, c) starts at (top + r * (h + GAP), LABEL_WIDTH + c * (w + GAP)).
    """
    h, w = tiles[0][0].shape[:2]
    rows, columns = len(tiles), len(tiles[0])
    if len(row_labels) != rows or len(column_labels) != columns or any(len(row) != columns for row in tiles):
        raise ValueError(f"{rows}x{columns} tiles, {len(row_labels)} row and {len(column_labels)} column labels")
    top = HEADER_HEIGHT + (TITLE_HEIGHT if title else 0)
    block = np.full((top + rows * (h + GAP), LABEL_WIDTH + columns * (w + GAP), 3), BACKGROUND, np.uint8)
    if title:
        put_text(block, title, 6, TITLE_HEIGHT - 8, 0.5)
    for c, label in enumerate(column_labels):
        put_text(block, label, LABEL_WIDTH + c * (w + GAP) + 4, top - 6, 0.4)
    for r, (row, label) in enumerate(zip(tiles, row_labels)):
        y = top + r * (h + GAP)
        put_text(block, label, 6, y + h // 2 + 5, 0.5)
        for c, image in enumerate(row):
            x = LABEL_WIDTH + c * (w + GAP)
            block[y:y + h, x:x + w] = image
    return block


def stack(blocks, gap=6):
    """Blocks one under the other, left-aligned, padded to the widest: uint8 (H, W, 3)."""
    width = max(b.shape[1] for b in blocks)
    parts = []
    for block in blocks:
        pad = np.full((block.shape[0], width - block.shape[1], 3), BACKGROUND, np.uint8)
        parts += [np.concatenate([block, pad], axis=1), np.full((gap, width, 3), BACKGROUND, np.uint8)]
    return np.concatenate(parts[:-1], axis=0)


def png_under(rgb, max_bytes):
    """PNG bytes of an RGB image, downscaled by steps of 0.85 until under max_bytes: (bytes, scale)."""
    import cv2

    scale = 1.0
    while True:
        image = rgb if scale == 1.0 else cv2.resize(
            rgb, (max(1, int(rgb.shape[1] * scale)), max(1, int(rgb.shape[0] * scale))), interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if not ok:
            raise RuntimeError("PNG encoding failed")
        if len(data) <= max_bytes or min(image.shape[:2]) < 64:
            return data.tobytes(), scale
        scale *= 0.85


def write_png(path, rgb, max_bytes):
    from tflipsync import files

    data, scale = png_under(rgb, max_bytes)
    files.write_bytes(path, data)
    print(f"wrote {path}: {int(rgb.shape[1] * scale)}x{int(rgb.shape[0] * scale)}, {len(data) / 1e6:.2f} MB")


def frames_at(path, indices):
    """{index: RGB frame} of a video's frames at `indices` (decoding stops after the last)."""
    from tflipsync.media import video

    wanted, out = set(int(i) for i in indices), {}
    for i, (rgb, _) in enumerate(video.iter_frames(path)):
        if i in wanted:
            out[i] = rgb
        if i >= max(wanted):
            break
    missing = wanted - set(out)
    if missing:
        raise ValueError(f"{path}: no frames {sorted(missing)}")
    return out


def short_name(name, limit=48):
    """`name` cut in the middle to at most `limit` characters (the clips' names are long)."""
    if len(name) <= limit:
        return name
    head = (limit - 3) // 2
    return f"{name[:head]}...{name[len(name) - (limit - 3 - head):]}"


def face_height(measured):
    """Median height of a measured clip's padded face boxes over the frames with a face (0: none)."""
    boxes = measured["boxes"][measured["present"]]
    return float(np.median(boxes[:, 3] - boxes[:, 1])) if len(boxes) else 0.0


def resolve_clips(names, split, corpus_dir):
    """--clips (file names, stems or paths under the corpus) as clip paths."""
    by_name = {}
    for clip in split:
        by_name[os.path.basename(clip)] = by_name[os.path.splitext(os.path.basename(clip))[0]] = clip
    out = []
    for name in names:
        clip = by_name.get(name) or (name if os.path.isfile(name) else os.path.join(corpus_dir, name))
        if not os.path.isfile(clip):
            raise SystemExit(f"real_faces_figures: error: --clips: {name}: not a clip of the split or the corpus")
        out.append(clip)
    return out


def speaker_block(clip, speaker, engines, measurer, cache_dir, frame_count):
    """The block of one clip: the real row and one row per engine ({name: weights or None})."""
    import tempfile

    from tflipsync.evaluation import lipmotion, lipmotion_protocol
    from tflipsync.inference.options import Options
    from tflipsync.inference.sync import run_sync

    real = lipmotion.measure_clip(clip, measurer, cache_dir)
    fps, size = real["fps"], tuple(int(v) for v in real["size"])
    present = np.flatnonzero(real["present"])
    if not len(present):
        raise ValueError(f"{clip}: no face in the real clip")
    base = lower_face_box(real["boxes"][present[0]], size)  # the photo is frame 0
    name = os.path.splitext(os.path.basename(clip))[0]
    with tempfile.TemporaryDirectory(prefix="real-faces-") as folder:
        photo = lipmotion_protocol.write_photo(clip, folder)
        outputs = {}
        for engine, weights in engines.items():
            out = os.path.join(folder, f"{engine}.mp4")
            summary = run_sync(Options(face=photo, audio=clip, out=out, engine=engine, weights=weights, fps=fps,
                                       progress=False))
            print(f"{name}: {engine}: {summary['frames']} frames in {summary['elapsed']:.1f} s ({summary['model']})")
            outputs[engine] = (out, summary["frames"])
        usable = min([len(real["opening"])] + [frames for _, frames in outputs.values()])
        picks = choose_frames(real["opening"][:usable], frame_count)
        real_frames = frames_at(clip, list(picks) + [0])
        input_tile = tile(real_frames[0], base)
        rows = [[input_tile] + [tile(real_frames[i], centred_box(base, box_centre(lower_face_box(
            real["boxes"][i], size)), size) if real["present"][i] else base) for i in picks]]
        for out, _ in outputs.values():
            frames = frames_at(out, picks)
            rows.append([input_tile] + [tile(frames[i], base) for i in picks])
    columns = ["input"] + [f"{i / fps:.2f} s  gap {real['opening'][i]:.2f}" for i in picks]
    title = f"{speaker}   {short_name(name)}   photo mode: frame 0 + the clip's own speech, {fps:g} fps"
    return grid(rows, ["real"] + list(engines), columns, title)


def make_strips(args):
    from tflipsync.evaluation import lipmotion, lipmotion_protocol

    split = lipmotion_protocol.read_filelist(os.path.join(args.corpus_dir, args.filelist), args.corpus_dir)
    manifest = lipmotion_protocol.read_manifest(args.corpus_dir)

    def speaker(clip):
        return manifest.get(os.path.relpath(clip, args.corpus_dir), {}).get("speaker", "?")

    engines = {name: None for name in args.engines.split(",") if name}
    for engine, weights in parse_pairs([args.weights] if args.weights else [], "--weights").items():
        if engine not in engines:
            raise SystemExit(f"real_faces_figures: error: --weights: {engine} is not one of --engines {args.engines}")
        engines[engine] = weights
    measurer = lipmotion_protocol._LazyMeasurer()
    try:
        if args.clips:
            clips = resolve_clips(args.clips.split(","), split, args.corpus_dir)
        else:
            candidates = [(clip, speaker(clip), face_height(lipmotion.measure_clip(clip, measurer, args.cache_dir)))
                          for clip in split]
            try:
                clips = choose_clips(candidates, args.speakers, args.min_face)
            except ValueError as err:
                raise SystemExit(f"real_faces_figures: error: {args.filelist}: {err}") from None
        blocks = [speaker_block(clip, speaker(clip), engines, measurer, args.cache_dir, args.frames)
                  for clip in clips]
    finally:
        measurer.close()
    write_png(args.strips, stack(blocks), args.max_bytes)


def make_demo_strip(args, count=8):
    from tflipsync.faces import crop, detect
    from tflipsync.media import video

    if not os.path.isfile(args.demo_video):
        raise SystemExit(f"real_faces_figures: error: {args.demo_video}: no such video (`make demo` writes "
                         "out/demo.mp4)")
    frames = [(rgb, time) for rgb, time in video.iter_frames(args.demo_video)]
    first = frames[0][0]
    with detect.FaceDetector() as detector:
        found = detector.detect(first)
    if not found:
        raise SystemExit(f"real_faces_figures: error: {args.demo_video}: no face on the first frame")
    box = lower_face_box(crop.pad_box(found[0].box, first.shape[:2]), first.shape[:2])
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    start = frames[0][1] if np.isfinite(frames[0][1]) else 0.0
    fps = video.probe(args.demo_video).fps
    times = [frames[i][1] - start if np.isfinite(frames[i][1]) else i / fps for i in picks]
    block = grid([[tile(frames[i][0], box) for i in picks]], ["demo"], [f"{t:.2f} s" for t in times],
                 f"{os.path.basename(args.demo_video)}: {len(frames)} frames, lower face")
    write_png(args.demo_strip, block, args.max_bytes)


def run_model(model_dir):
    """The --model of a train.py run, from its flags.txt (None where it does not say)."""
    path = os.path.join(model_dir, "flags.txt")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("--model="):
                    return line.strip().partition("=")[2]
    return None


def make_curves(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tflipsync import files
    from tflipsync.training.curves import read_scalars

    runs = parse_pairs(args.run, "--run")
    if not runs:
        raise SystemExit("real_faces_figures: error: --curves needs at least one --run NAME=MODEL_DIR")
    columns = min(3, len(runs))
    rows = -(-len(runs) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.3 * rows), squeeze=False)
    for axis, (name, model_dir) in zip(axes.flat, runs.items()):
        model = run_model(model_dir)
        scalars = {split: read_scalars(os.path.join(model_dir, split)) for split in ("train", "validation")}
        tags = [t for t in MAIN_TAGS.get(model, ()) if t in scalars["train"] or t in scalars["validation"]]
        if not tags:  # an unknown model: its first two tags
            tags = sorted(set(scalars["train"]) | set(scalars["validation"]))[:2]
        if not tags:
            raise SystemExit(f"real_faces_figures: error: {model_dir}: no scalar summaries")
        last, lines = 0, []
        for k, tag in enumerate(tags):
            target = axis if k == 0 else axis.twinx()
            colour = f"C{k}"
            for split, style in (("train", "-"), ("validation", "o-")):
                points = scalars[split].get(tag)
                if points:
                    steps, values = zip(*points)
                    last = max(last, steps[-1])
                    train = split == "train"
                    lines += target.plot(steps, values, style, color=colour, markersize=3,
                                         linewidth=1 if train else 1.5, alpha=0.5 if train else 1.0,
                                         label=f"{tag} ({split})")
            target.set_ylabel(tag, color=colour)
        axis.legend(lines, [line.get_label() for line in lines], fontsize=7)
        axis.set_title(f"{name} ({model or '?'}, step {last})", fontsize=10)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(runs):]:
        axis.axis("off")
    figure.tight_layout()
    with files.atomic_path(args.curves) as temporary:  # keeps the extension savefig picks the format by
        figure.savefig(temporary, dpi=90)
    print(f"wrote {args.curves}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strips", help="write the speakers' side-by-side strips to this PNG")
    parser.add_argument("--engines", default="landmarks,keras")
    parser.add_argument("--weights", default=None, help="ENGINE=PATH,... (default: the embedded models)")
    parser.add_argument("--clips", default=None, help="clips to show, comma-separated (file names of the split)")
    parser.add_argument("--speakers", type=int, default=4, help="how many speakers by default")
    parser.add_argument("--min_face", type=float, default=150, help="least face height (padded box, px) of a "
                        "default clip")
    parser.add_argument("--frames", type=int, default=6, help="frames per row")
    parser.add_argument("--corpus_dir", default=CORPUS)
    parser.add_argument("--filelist", default="test.txt", help="the split, relative to --corpus_dir")
    parser.add_argument("--cache_dir", default=os.path.join(ROOT, "runs", "lipmotion_cache"))
    parser.add_argument("--demo_strip", help="write the demo video's strip to this PNG")
    parser.add_argument("--demo_video", default=os.path.join(ROOT, "out", "demo.mp4"))
    parser.add_argument("--curves", help="write the runs' training curves to this PNG")
    parser.add_argument("--run", action="append", help="NAME=MODEL_DIR of a train.py run (repeatable)")
    parser.add_argument("--max_bytes", type=int, default=1_400_000, help="largest PNG; larger ones are downscaled")
    args = parser.parse_args()
    if not (args.strips or args.demo_strip or args.curves):
        parser.error("give --strips, --demo_strip or --curves")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, ROOT)
    from tflipsync import native_logs
    from tflipsync.errors import InputError

    with native_logs.filtered_stderr():
        try:
            if args.curves:
                make_curves(args)
            if args.demo_strip:
                make_demo_strip(args)
            if args.strips:
                make_strips(args)
        except (InputError, ValueError) as err:
            print(f"real_faces_figures: error: {err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
