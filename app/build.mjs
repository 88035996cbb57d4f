// Builds the app into dist/: the bundled script (esbuild), the page, its static files, the
// service worker with the list of files it caches, and the WebAssembly runtimes of LiteRT.js and
// MediaPipe Tasks copied from node_modules. The models come from `tflipsync export app --out dist/models`.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, 'dist');
// keep exported models across rebuilds; everything else is made anew
for (const entry of existsSync(dist) ? readdirSync(dist) : []) if (entry !== 'models') rmSync(join(dist, entry), { recursive: true });
mkdirSync(dist, { recursive: true });

await build({
  entryPoints: [join(root, 'src/main.js')], bundle: true, format: 'esm', minify: true, sourcemap: true,
  target: 'es2022', outfile: join(dist, 'app.js'), logLevel: 'warning',
});
copyFileSync(join(root, 'index.html'), join(dist, 'index.html'));
cpSync(join(root, 'public'), dist, { recursive: true });

const wasm = [
  ['@litertjs/core/wasm', 'wasm/litert', (f) => /^litert_wasm_(threaded_|compat_|)internal\.(js|wasm)$/.test(f)],
  ['@mediapipe/tasks-vision/wasm', 'wasm/vision', (f) => /^vision_wasm_(nosimd_)?internal\.(js|wasm)$/.test(f)],
];
for (const [from, to, keep] of wasm) {
  mkdirSync(join(dist, to), { recursive: true });
  for (const file of readdirSync(join(root, 'node_modules', from)).filter(keep)) {
    copyFileSync(join(root, 'node_modules', from, file), join(dist, to, file));
  }
}

const shell = ['./', 'index.html', 'app.js', ...readdirSync(join(root, 'public'))];
const version = createHash('sha256');
for (const file of shell.slice(1)) version.update(readFileSync(join(dist, file)));
const worker = readFileSync(join(root, 'src/sw.js'), 'utf8')
  .replace('__VERSION__', `tflipsync-${version.digest('hex').slice(0, 12)}`)
  .replace('__SHELL__', JSON.stringify(shell));
writeFileSync(join(dist, 'sw.js'), worker);
console.log(`built ${dist}`);
