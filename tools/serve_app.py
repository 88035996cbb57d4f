"""A static server for the built web app (app/dist), bound to 127.0.0.1, for tests and trying it.

It sends the cross-origin isolation headers (COOP same-origin, COEP require-corp) that the page
needs for SharedArrayBuffer, so LiteRT.js can run XNNPACK on two threads.

    python tools/serve_app.py [--dir app/dist] [--port 0]

prints `serving http://127.0.0.1:PORT/` once it listens (port 0: any free port).
"""

import argparse
import functools
import http.server
import mimetypes
import sys

mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("application/manifest+json", ".webmanifest")


class IsolatedHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with the cross-origin isolation headers and no caching by the browser."""

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format, *args):  # requests are recorded by the browser test, not here
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="app/dist", help="folder to serve")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    args = parser.parse_args(argv)
    handler = functools.partial(IsolatedHandler, directory=args.dir)
    with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
        print(f"serving http://127.0.0.1:{server.server_address[1]}/", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
