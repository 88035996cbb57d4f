// In-page figures (benchmarks/app_browser.mjs prints them): each model's time per run with LiteRT.js
// on WebAssembly with 1 and 2 threads, on WebGPU where the browser gives an adapter, and the
// detector's; needs a photo and speech loaded (window.tflipsync.photo, .speech).
import { compile, detectFaces, runMesh, runMouth } from './models.js';
import { measureFace, pixelsOf } from './sticker.js';
import * as geometry from './geometry.js';

async function timed(run, repeats) {
  await run(); // warm-up
  const started = performance.now();
  for (let i = 0; i < repeats; i++) await run();
  return (performance.now() - started) / repeats;
}

export async function bench(state, repeats = { mesh: 30, mouth: 5, detector: 30 }) {
  const { manifest } = state.models;
  const face = await measureFace(state.models, state.photo);
  const { canvas, image } = pixelsOf(state.photo);
  const matrix = geometry.cropTransform(face.face, manifest.mesh);
  const crop = geometry.meshCrop(image, matrix, manifest.mesh.size);
  const figures = { crossOriginIsolated: self.crossOriginIsolated, hardwareConcurrency: navigator.hardwareConcurrency, models: {} };
  figures.models.detector = {
    'tasks-vision CPU, 1 thread': await timed(() => detectFaces(state.models.detector, canvas, image.width, image.height), repeats.detector),
  };
  const backends = [['wasm', 1], ['wasm', 2]];
  let adapter = null;
  try { adapter = navigator.gpu ? await navigator.gpu.requestAdapter() : null; } catch (err) { figures.webgpuError = err.message; }
  figures.webgpu = { navigatorGpu: Boolean(navigator.gpu), adapter: Boolean(adapter),
    adapterInfo: adapter?.info ? { vendor: adapter.info.vendor, architecture: adapter.info.architecture, description: adapter.info.description } : null };
  if (adapter) backends.push(['webgpu', 0]);
  for (const name of ['mesh', 'mouth']) {
    figures.models[name] = {};
    for (const [accelerator, threads] of backends) {
      if (accelerator === 'wasm' && threads > 1 && !self.crossOriginIsolated) continue;
      const label = accelerator === 'wasm' ? `LiteRT.js wasm, ${threads} thread${threads > 1 ? 's' : ''}` : 'LiteRT.js webgpu';
      try {
        // the page's own models run on 2 threads; a further 2-thread model would wait for a
        // thread the runtime's pool no longer has, so that figure is the page's model's
        const loaded = accelerator === 'wasm' && threads === 2;
        const model = loaded ? state.models[name] : await compile(manifest, name, accelerator, threads);
        figures.models[name][label] = name === 'mouth'
          ? await timed(() => runMouth(model, manifest, state.speech), repeats.mouth)
          : await timed(() => runMesh(model, crop, manifest.mesh.size), repeats.mesh);
        if (!loaded) model.delete();
      } catch (err) {
        figures.models[name][label] = `failed: ${err.message}`;
      }
    }
  }
  return figures;
}
