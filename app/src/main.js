// The sticker maker's page: loads the models once, then photo + speech -> sticker on a button press.
// Test hooks (window.tflipsync) let the browser test read the frames; `?test=identity` (tests
// only) replaces the model's output by the photo's own mouth, to show the test fails then.
import { loadManifest, faceDetector, compile } from './models.js';
import { decodeSpeech } from './audio.js';
import { makeSticker, InputError } from './sticker.js';
import { bench } from './bench.js';

const $ = (id) => document.getElementById(id);
const status = (text) => { $('status').textContent = text; };
const identity = new URLSearchParams(location.search).get('test') === 'identity';

const state = { models: null, photo: null, speech: null, result: null, error: null };
window.tflipsync = state;

async function load() {
  const started = performance.now();
  status('loading the models…');
  const manifest = await loadManifest();
  const [detector, mesh, mouth] = await Promise.all([
    faceDetector(manifest), compile(manifest, 'mesh'), compile(manifest, 'mouth')]);
  state.models = { manifest, detector, mesh, mouth };
  state.loadSeconds = (performance.now() - started) / 1000;
  status(`ready (models loaded in ${state.loadSeconds.toFixed(1)} s${self.crossOriginIsolated ? ', 2 threads' : ''}): pick a photo and a speech clip`);
  update();
}

function update() {
  $('make').disabled = !(state.models && state.photo && state.speech);
}

$('photo').addEventListener('change', async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  try {
    state.photo = await createImageBitmap(file);
    $('photo-preview').src = URL.createObjectURL(file);
  } catch {
    state.photo = null;
    status(`${file.name}: not an image this browser can read`);
  }
  update();
});

async function setSpeech(blob, name) {
  state.speech = await decodeSpeech(await blob.arrayBuffer(), 16000);
  $('speech-name').textContent = `${name}: ${(state.speech.length / 16000).toFixed(1)} s`;
  update();
}

$('speech').addEventListener('change', (event) => {
  const file = event.target.files[0];
  if (file) setSpeech(file, file.name).catch(() => { state.speech = null; update(); status(`${file.name}: not audio this browser can decode`); });
});

$('record').addEventListener('click', async () => {
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    status(`no microphone: ${err.message}`);
    return;
  }
  const recorder = new MediaRecorder(stream), parts = [];
  recorder.ondataavailable = (e) => parts.push(e.data);
  recorder.onstop = () => {
    stream.getTracks().forEach((t) => t.stop());
    setSpeech(new Blob(parts, { type: recorder.mimeType }), 'recording').catch((err) => status(`the recording: ${err.message}`));
  };
  recorder.start();
  status('recording 3 s…');
  setTimeout(() => recorder.stop(), 3000);
});

$('make').addEventListener('click', async () => {
  $('make').disabled = true;
  state.result = state.error = null;
  const pressed = performance.now();
  status('making the sticker…');
  await new Promise(requestAnimationFrame); // let the status show
  try {
    const result = await makeSticker(state.models, state.photo, state.speech, identity);
    result.totalSeconds = (performance.now() - pressed) / 1000;
    const url = URL.createObjectURL(new Blob([result.gif], { type: 'image/gif' }));
    $('sticker').src = url;
    $('download').href = url;
    $('download').hidden = false;
    status(`sticker: ${result.count} frames, ${(result.gif.length / 1024).toFixed(0)} KB, made in ${result.totalSeconds.toFixed(1)} s`);
    state.result = result;
  } catch (err) {
    state.error = err.message;
    status(err instanceof InputError ? err.message : `failed: ${err.message}`);
  }
  update();
});

state.bench = () => bench(state);

if ('serviceWorker' in navigator && !identity) {
  navigator.serviceWorker.register('sw.js').then(async () => {
    const ready = await navigator.serviceWorker.ready;
    // what this first visit fetched before the worker ran (the runtime's wasm) is cached too
    ready.active.postMessage({ cache: performance.getEntriesByType('resource').map((e) => e.name) });
  });
}

load().catch((err) => { state.error = err.message; status(`could not load the models: ${err.message}`); });
