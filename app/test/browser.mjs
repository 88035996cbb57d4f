// Drives the built app in headless Chromium (Debian's package) with puppeteer-core: loads the page
// from a local server, feeds it a photo and a speech file, presses the button and writes what came
// out into --out: sticker.gif, frames.rgb (every frame, side x side x 3 bytes, in order),
// result.json (timings, the recorded request URLs, the face box) and, with --screenshot, a
// screenshot of the page. --bench also writes bench.json (the page's per-model figures and a
// second sticker's time). --faceless IMAGE then gives the page a photo without a face and
// records the message it shows (result.json's facelessError). --identity loads the page with ?test=identity (tests only: the model's
// output replaced by the photo's own mouth).
//
//   node app/test/browser.mjs --url http://127.0.0.1:PORT/ --face F.jpg --audio S.wav --out DIR
import puppeteer from 'puppeteer-core';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' }, face: { type: 'string' }, audio: { type: 'string' }, out: { type: 'string' },
    screenshot: { type: 'string' }, identity: { type: 'boolean', default: false }, bench: { type: 'boolean', default: false },
    chromium: { type: 'string', default: process.env.CHROMIUM ?? '/usr/bin/chromium' },
    webgpu: { type: 'boolean', default: false }, faceless: { type: 'string' },
  },
});
for (const name of ['url', 'face', 'audio', 'out']) if (!args[name]) throw new Error(`--${name} is required`);
if (!existsSync(args.chromium)) {
  console.error(`${args.chromium}: no Chromium; install Debian's package: apt-get install -y chromium (or bash .ci/system-deps.sh browser)`);
  process.exit(2);
}
mkdirSync(args.out, { recursive: true });

const requests = [];
const launchArgs = ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-default-apps', '--disable-sync', '--metrics-recording-only', '--disable-domain-reliability',
  // any host but this machine's loopback fails to resolve: nothing can leave it, whatever the page asks
  '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1'];
if (args.webgpu) launchArgs.push('--enable-unsafe-webgpu');
const browser = await puppeteer.launch({ executablePath: args.chromium, headless: true, args: launchArgs, protocolTimeout: 600000 });
try {
  browser.on('targetcreated', async (target) => {
    if (!['service_worker', 'worker', 'shared_worker'].includes(target.type())) return;
    const session = await target.createCDPSession().catch(() => null);
    if (!session) return;
    session.on('Network.requestWillBeSent', (e) => requests.push(e.request.url));
    await session.send('Network.enable').catch(() => {});
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1000, height: 760 });
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => { if (m.type() === 'error') console.error(`page: ${m.text()}`); });
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  const url = args.url + (args.identity ? '?test=identity' : '');
  await page.goto(url, { waitUntil: 'load' });
  const waitFor = async (what, timeout) => {
    await page.waitForFunction(`(${what}) || window.tflipsync?.error`, { timeout, polling: 100 });
    const error = await page.evaluate(() => window.tflipsync.error);
    if (error) throw new Error(`the page: ${error}`);
  };
  await waitFor('window.tflipsync?.models', 180000);
  await (await page.$('#photo')).uploadFile(args.face);
  await (await page.$('#speech')).uploadFile(args.audio);
  await waitFor('window.tflipsync.photo && window.tflipsync.speech', 60000);
  await page.click('#make');
  await waitFor('window.tflipsync.result', 300000);
  if (args.screenshot) await page.screenshot({ path: args.screenshot });

  const summary = await page.evaluate(() => {
    const s = window.tflipsync, r = s.result;
    return { count: r.count, side: r.frames[0].width, fps: s.models.manifest.fps, seconds: r.seconds,
      totalSeconds: r.totalSeconds, loadSeconds: s.loadSeconds, gifBytes: r.gif.length, box: r.face.face.box,
      square: r.face.square, region: r.region, crossOriginIsolated: self.crossOriginIsolated, userAgent: navigator.userAgent,
      resources: performance.getEntriesByType('resource').map((e) => ({ url: e.name, bytes: e.encodedBodySize })) };
  });
  const gif = await page.evaluate(() => {
    const bytes = window.tflipsync.result.gif;
    let text = '';
    for (let i = 0; i < bytes.length; i += 32768) text += String.fromCharCode(...bytes.subarray(i, i + 32768));
    return btoa(text);
  });
  writeFileSync(join(args.out, 'sticker.gif'), Buffer.from(gif, 'base64'));
  const frames = [];
  for (let i = 0; i < summary.count; i++) {
    const rgb = await page.evaluate((i) => {
      const { data } = window.tflipsync.result.frames[i], out = new Uint8Array((data.length / 4) * 3);
      for (let p = 0, q = 0; p < data.length; p += 4, q += 3) { out[q] = data[p]; out[q + 1] = data[p + 1]; out[q + 2] = data[p + 2]; }
      let text = '';
      for (let k = 0; k < out.length; k += 32768) text += String.fromCharCode(...out.subarray(k, k + 32768));
      return btoa(text);
    }, i);
    frames.push(Buffer.from(rgb, 'base64'));
  }
  writeFileSync(join(args.out, 'frames.rgb'), Buffer.concat(frames));
  if (args.bench) {
    const figures = await page.evaluate(() => window.tflipsync.bench());
    // a second sticker with everything warm: the time from the button to the file
    await page.evaluate(() => { window.tflipsync.result = null; });
    await page.click('#make');
    await waitFor('window.tflipsync.result', 300000);
    figures.secondSticker = await page.evaluate(() => ({ totalSeconds: window.tflipsync.result.totalSeconds, seconds: window.tflipsync.result.seconds }));
    writeFileSync(join(args.out, 'bench.json'), JSON.stringify(figures, null, 1));
  }
  if (args.faceless) {
    await page.evaluate(() => { window.tflipsync.result = null; window.tflipsync.photo = null; });
    await (await page.$('#photo')).uploadFile(args.faceless);
    await page.waitForFunction('window.tflipsync.photo', { timeout: 60000 });
    await page.click('#make');
    await page.waitForFunction('window.tflipsync.error || window.tflipsync.result', { timeout: 120000 });
    summary.facelessError = await page.evaluate(() => window.tflipsync.error);
    summary.facelessStatus = await page.evaluate(() => document.getElementById('status').textContent);
  }
  summary.requests = requests;
  writeFileSync(join(args.out, 'result.json'), JSON.stringify(summary, null, 1));
  console.log(`sticker: ${summary.count} frames, ${summary.gifBytes} bytes, ${summary.totalSeconds.toFixed(2)} s from the button; ${requests.length} requests`);
} finally {
  await browser.close();
}
