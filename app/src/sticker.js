// Photo + speech -> a looping sticker, all in the page (the landmarks engine of
// tflipsync/inference/engines/landmarks.py for one photo, then stickers.square_crop and a GIF):
// face detection, the mesh crop and mesh, the photo's normalised mouth, mouth.tflite on the
// speech, per frame the photo's rest mouth plus the predicted motion, the warp, the square crop.
import * as geometry from './geometry.js';
import { detectFaces, runMesh, runMouth } from './models.js';
import { MouthWarp } from './warp.js';
import { Resizer } from './resize.js';
import { encodeGif } from './encode.js';

export class InputError extends Error {}

/** The RGBA pixels of a decoded image (ImageBitmap or HTMLImageElement). */
export function pixelsOf(bitmap) {
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  return { canvas, image: context.getImageData(0, 0, bitmap.width, bitmap.height) };
}

function crop(image, [x0, y0, x1, y1]) {
  const w = x1 - x0, h = y1 - y0, data = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) data.set(image.data.subarray(((y + y0) * image.width + x0) * 4, ((y + y0) * image.width + x1) * 4), y * w * 4);
  return { width: w, height: h, data };
}

/**
 * The photo's face, measured once: its sticker square, its warp and its normalised mouth.
 *
 * models: {manifest, detector, mesh}; bitmap: the photo. Throws InputError when no face is found.
 */
export async function measureFace(models, bitmap) {
  const { manifest } = models;
  const { canvas, image } = pixelsOf(bitmap);
  const faces = detectFaces(models.detector, canvas, image.width, image.height);
  if (!faces.length) throw new InputError('no face found in the photo');
  const face = faces[0];
  const matrix = geometry.cropTransform(face, manifest.mesh);
  const mesh = await runMesh(models.mesh, geometry.meshCrop(image, matrix, manifest.mesh.size), manifest.mesh.size);
  if (mesh.presence < manifest.mesh.min_presence) throw new InputError('the face mesh finds no face in the photo');
  const points = geometry.meshToFrame(mesh.points, matrix);
  const { points: rest, transform } = geometry.normalise(points, manifest.geometry);
  const padded = geometry.padBox(face.box, image.width, image.height, manifest.sticker.padding);
  const square = geometry.squareBox(padded, image.width, image.height, manifest.sticker.scale);
  const local = (pts) => pts.map(([x, y]) => [x - square[0], y - square[1]]);
  const source = crop(image, square);
  const mouth = local(manifest.geometry.mouth.map((i) => points[i]));
  const [origin, axis] = [[transform[0][2], transform[1][2]], [transform[0][0], transform[1][0]]];
  const eyes = local([[origin[0] - axis[0] / 2, origin[1] - axis[1] / 2], [origin[0] + axis[0] / 2, origin[1] + axis[1] / 2]]);
  const pick = (pts, ids) => ids.map((k) => pts[k]);
  const warp = new MouthWarp(source, pick(mouth, manifest.geometry.outer), pick(mouth, manifest.geometry.inner), eyes,
    manifest.warp, manifest.warp.max_shift);
  const resizer = new Resizer(source, manifest.sticker.side, warp.region);
  return { face, square, source, rest, transform, warp, resizer, mesh: points };
}

/** Frames wanted for `samples` of speech: ceil(samples * fps / rate), at most max_frames. */
export function frameCount(manifest, samples) {
  return Math.min(Math.ceil((samples * manifest.fps) / manifest.sample_rate), manifest.max_frames);
}

/**
 * The sticker's frames: RGBA images side x side at the manifest's fps.
 *
 * predicted: Float32Array (max_frames x K x 2) from mouth.tflite; identity (tests only): every
 * frame gets the photo's own mouth (the model's output replaced by its input).
 */
export function renderFrames(models, face, predicted, count, identity = false) {
  const { manifest } = models, geo = manifest.geometry, K = geo.mouth.length;
  const frames = [];
  for (let i = 0; i < count; i++) {
    const shape = face.rest.map(([x, y], k) => (identity ? [x, y] : [
      x + predicted[(i * K + k) * 2] - geo.mean_shape[k][0],
      y + predicted[(i * K + k) * 2 + 1] - geo.mean_shape[k][1]]));
    const target = geometry.denormalise(shape, face.transform).map(([x, y]) => [x - face.square[0], y - face.square[1]]);
    const warped = face.warp.apply(face.source, geo.outer.map((k) => target[k]), geo.inner.map((k) => target[k]));
    frames.push(face.resizer.frame(warped));
  }
  return frames;
}

/** Photo + 16 kHz speech -> {gif: Uint8Array, frames, seconds per stage}. */
export async function makeSticker(models, bitmap, wav, identity = false) {
  const { manifest } = models;
  if (wav.length === 0) throw new InputError('the speech file holds no samples');
  if (wav.length > manifest.max_samples) {
    throw new InputError(`${(wav.length / manifest.sample_rate).toFixed(2)} s of speech; at most ${manifest.max_samples / manifest.sample_rate} s`);
  }
  const seconds = {};
  let started = performance.now();
  const lap = (name) => { const now = performance.now(); seconds[name] = (now - started) / 1000; started = now; };
  const face = await measureFace(models, bitmap);
  lap('face');
  const predicted = await runMouth(models.mouth, manifest, wav);
  lap('mouth');
  const count = frameCount(manifest, wav.length);
  const frames = renderFrames(models, face, predicted, count, identity);
  lap('warp');
  const { xs, ys } = face.resizer;
  const gif = encodeGif(frames, manifest.fps, [xs[0], ys[0], xs[1], ys[1]]);
  lap('encode');
  return { gif, frames, seconds, face, count, region: [xs[0], ys[0], xs[1], ys[1]] };
}
