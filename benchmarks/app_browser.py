"""The web app's figures in headless Chromium: each model's time per run and frames/s (LiteRT.js
on WebAssembly with 1 and 2 threads; WebGPU where the browser gives an adapter), the detector's,
the time from pressing the button to a finished 3 s sticker with the models loaded, and the app's
download size (all of app/dist, and what the page fetched, raw and gzip-compressed).

Needs `make app` and Chromium (bash .ci/system-deps.sh browser). Two browser runs: Chromium's
default flags, then with --enable-unsafe-webgpu (whether headless Chromium offers WebGPU here).

    python benchmarks/app_browser.py [--json out.json]
"""

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
DIST = os.path.join(ROOT, "app", "dist")


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def sizes(paths):
    """(bytes, gzip-compressed bytes) of files."""
    raw = packed = 0
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        raw += len(data)
        packed += len(gzip.compress(data, 9))
    return raw, packed


def browser_run(url, face, speech, out, webgpu):
    command = ["node", os.path.join(ROOT, "app", "test", "browser.mjs"), "--url", url, "--face", face,
               "--audio", speech, "--out", out, "--bench"] + (["--webgpu"] if webgpu else [])
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=900)
    with open(os.path.join(out, "bench.json")) as f:
        figures = json.load(f)
    with open(os.path.join(out, "result.json")) as f:
        figures["first"] = json.load(f)
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    from tflipsync.audio import io as audio_io

    folder = tempfile.mkdtemp(prefix="app_bench_")
    speech = os.path.join(folder, "speech3.wav")
    audio_io.write_wav(speech, audio_io.load_wav(os.path.join(ROOT, "examples", "speech.wav"))[:48000])
    face = os.path.join(ROOT, "examples", "astronaut.jpg")
    server = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "serve_app.py"), "--dir", DIST],
                              stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().split()[-1]
        runs = {flags: browser_run(url, face, speech, os.path.join(folder, flags), flags == "webgpu")
                for flags in ("default", "webgpu")}
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(f"CPU: {cpu_name()}; {runs['default']['first']['userAgent'].split(') ')[-1]}")
    default = runs["default"]
    print(f"crossOriginIsolated: {default['crossOriginIsolated']}, navigator.hardwareConcurrency: "
          f"{default['hardwareConcurrency']}")
    # frames one run serves: the detector and the mesh one photo each, the mouth model 10 s of speech
    served = {"detector": 1, "mesh": 1, "mouth": 250}
    for flags, figures in runs.items():
        print(f"per model ({flags} flags; a run of the mouth model covers {served['mouth']} frames, 10 s at 25 fps):")
        for name, backends in figures["models"].items():
            for backend, ms in backends.items():
                figure = (f"{ms:8.2f} ms/run {1000 / ms * served[name]:9.1f} frames/s"
                          if isinstance(ms, (int, float)) else ms)
                print(f"  {name:10s} {backend:28s} {figure}")
    for flags, figures in runs.items():
        gpu = figures["webgpu"]
        print(f"WebGPU ({flags} flags): navigator.gpu {gpu['navigatorGpu']}, adapter {gpu['adapter']}"
              + (f" {gpu['adapterInfo']}" if gpu.get("adapterInfo") else "")
              + (f"; {({name: b.get('LiteRT.js webgpu') for name, b in figures['models'].items()})}" if gpu["adapter"] else ""))
    for flags, figures in runs.items():
        first, second = figures["first"], figures["secondSticker"]
        stages = ", ".join(f"{k} {v:.2f}" for k, v in second["seconds"].items())
        print(f"button to a 3 s 512 px sticker ({flags} flags), models loaded: first {first['totalSeconds']:.2f} s, "
              f"second {second['totalSeconds']:.2f} s ({stages}); models loaded in {first['loadSeconds']:.2f} s")
    everything = [os.path.join(d, f) for d, _, files in os.walk(DIST) for f in files if not f.endswith(".map")]
    total, total_gz = sizes(everything)
    fetched = set()
    for resource in default["first"]["resources"]:
        path = urllib.parse.urlparse(resource["url"]).path.lstrip("/")
        if os.path.isfile(os.path.join(DIST, path)):
            fetched.add(os.path.join(DIST, path))
    fetched.add(os.path.join(DIST, "index.html"))
    page, page_gz = sizes(sorted(fetched))
    print(f"download size: app/dist {total / 2**20:.1f} MiB ({total_gz / 2**20:.1f} MiB gzip), "
          f"{len(everything)} files without source maps; what the page fetched: {page / 2**20:.1f} MiB "
          f"({page_gz / 2**20:.1f} MiB gzip) in {len(fetched)} files")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_name(), "runs": runs, "dist_bytes": total, "dist_gzip_bytes": total_gz,
                       "page_bytes": page, "page_gzip_bytes": page_gz}, f, indent=1)


if __name__ == "__main__":
    main()
