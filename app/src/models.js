// The models of manifest.json, loaded from the page's own models/ folder: the BlazeFace detector
// in MediaPipe Tasks (tasks-vision), the face mesh and the speech-to-mouth model in LiteRT.js.
import { loadLiteRt, loadAndCompile, Tensor } from '@litertjs/core';
import { FaceDetector, FilesetResolver } from '@mediapipe/tasks-vision';

const base = new URL('./', document.baseURI);
const at = (path) => new URL(path, base).href;

/** The manifest written by `tflipsync export app`. */
export async function loadManifest() {
  const response = await fetch(at('models/manifest.json'));
  if (!response.ok) throw new Error(`models/manifest.json: HTTP ${response.status} (run \`tflipsync export app --out app/dist/models\`)`);
  const manifest = await response.json();
  if (manifest.format !== 1) throw new Error(`models/manifest.json: format ${manifest.format}, this app reads format 1`);
  return manifest;
}

let runtime = null;

/** LiteRT.js's WebAssembly runtime, threaded when the page is cross-origin isolated. */
export function liteRt() {
  runtime ??= loadLiteRt(at('wasm/litert/'), { threads: self.crossOriginIsolated === true });
  return runtime;
}

/** A .tflite of the manifest compiled for `accelerator` ('wasm' or 'webgpu'), `threads` CPU threads. */
export async function compile(manifest, name, accelerator = 'wasm', threads = 2) {
  await liteRt();
  const options = { accelerator };
  if (accelerator === 'wasm') options.cpuOptions = { numThreads: self.crossOriginIsolated ? threads : 1 };
  return loadAndCompile(at(`models/${manifest.files[name].file}`), options);
}

/** MediaPipe Tasks' FaceDetector with the manifest's short-range BlazeFace. */
export async function faceDetector(manifest) {
  const info = manifest.files.detector;
  const fileset = await FilesetResolver.forVisionTasks(at('wasm/vision'));
  return FaceDetector.createFromOptions(fileset, {
    baseOptions: { modelAssetPath: at(`models/${info.file}`), delegate: 'CPU' },
    runningMode: 'IMAGE',
    minDetectionConfidence: info.min_score,
  });
}

/** Faces of an image as {box: [x0, y0, x1, y1], score, keypoints: [[x, y] x 6]} in its pixels, largest first. */
export function detectFaces(detector, image, width, height) {
  const found = detector.detect(image).detections.map((d) => {
    const b = d.boundingBox;
    return {
      box: [b.originX, b.originY, b.originX + b.width, b.originY + b.height],
      score: d.categories[0].score,
      keypoints: d.keypoints.map((k) => [k.x * width, k.y * height]),
    };
  });
  const area = (f) => (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]);
  return found.sort((a, b) => area(b) - area(a));
}

/** A copy of an output tensor's values in this thread's memory (from WebGPU memory too); the tensor is freed. */
async function readBack(tensor) {
  const local = tensor.accelerator === 'wasm' ? tensor : await tensor.moveTo('wasm');
  const values = local.toTypedArray().slice();
  local.delete();
  return values;
}

/** The face mesh on a 192x192 crop: {points: Float32Array (468 x 3, crop pixels), presence}. */
export async function runMesh(model, crop, size) {
  const input = new Tensor(crop, [1, size, size, 3]);
  const outputs = await model.run([input]);
  input.delete();
  const arrays = await Promise.all(outputs.map(readBack));
  arrays.sort((a, b) => b.length - a.length);
  return { points: arrays[0], presence: 1 / (1 + Math.exp(-arrays[1][0])) };
}

/** mouth.tflite on 16 kHz speech: Float32Array (max_frames x 40 x 2) of normalised mouth points. */
export async function runMouth(model, manifest, wav) {
  const pcm = new Float32Array(manifest.max_samples);
  pcm.set(wav.subarray(0, manifest.max_samples));
  const inputs = {
    pcm: new Tensor(pcm, [1, manifest.max_samples]),
    samples: new Tensor(Int32Array.of(Math.min(wav.length, manifest.max_samples)), [1]),
  };
  const outputs = await model.run('mouth', inputs);
  Object.values(inputs).forEach((t) => t.delete());
  const points = await readBack(outputs.points);
  Object.values(outputs).forEach((t) => { if (!t.deleted) t.delete(); });
  return points;
}
