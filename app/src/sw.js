// The service worker: the app works offline once loaded. At install it caches the page, the
// script and the models named in models/manifest.json; whatever else the page fetched (the
// runtime's WebAssembly variant that this browser picked) is cached when the page reports it, or
// on first use. Requests are answered from the cache first.
const VERSION = '__VERSION__';
const SHELL = __SHELL__;

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(VERSION);
    await cache.addAll(SHELL);
    const manifest = await (await fetch('models/manifest.json')).json();
    await cache.addAll(['models/manifest.json', ...Object.values(manifest.files).map((f) => `models/${f.file}`)]);
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== VERSION) await caches.delete(key);
    await self.clients.claim();
  })());
});

self.addEventListener('message', (event) => {
  const urls = (event.data?.cache ?? []).filter((url) => new URL(url).origin === self.location.origin);
  event.waitUntil(caches.open(VERSION).then(async (cache) => {
    for (const url of urls) if (!(await cache.match(url))) await cache.add(url).catch(() => {});
  }));
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  event.respondWith((async () => {
    const cache = await caches.open(VERSION);
    const hit = await cache.match(event.request, { ignoreSearch: true });
    if (hit) return hit;
    const response = await fetch(event.request);
    if (response.ok) cache.put(event.request, response.clone());
    return response;
  })());
});
