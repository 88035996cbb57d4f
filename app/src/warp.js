// The mouth warp of tflipsync/inference/warp.py (MouthWarp) for one photo: the face's own lips move
// to new points, piecewise affine over the manifest's triangles of four rings (inner lips, outer
// lips, a band that follows part way, a band that stays), and where the mouth opens wider than the
// photo showed an interior drawn from the face's colours (interior.js) fills it.
// Images are {width, height, data: Uint8ClampedArray RGBA}; points are [x, y] pixels.

import { sample } from './geometry.js';
import * as interior from './interior.js';

const SUBROWS = 8; // scan lines per pixel row of the anti-aliased coverage (cv2.fillPoly LINE_AA's stand-in)

/** Where the scan line at height y crosses the polygon's edges, sorted (even-odd spans between pairs). */
function crossings(poly, y) {
  const xs = [];
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y)) xs.push(((xj - xi) * (y - yi)) / (yj - yi) + xi);
  }
  return xs.sort((a, b) => a - b);
}

/** Pixels (w x h) whose centre lies inside `poly` (cv2.fillPoly without anti-aliasing): Uint8Array of 0/1. */
function fillMask(poly, w, h) {
  const mask = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    const xs = crossings(poly, y);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      for (let x = Math.max(0, Math.ceil(xs[k])); x < Math.min(w, Math.ceil(xs[k + 1])); x++) mask[y * w + x] = 1;
    }
  }
  return mask;
}

/** Anti-aliased coverage in [0, 1] of `poly` over a w x h patch (Float32Array): exact along x, SUBROWS lines per row. */
function coverage(poly, w, h) {
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let s = 0; s < SUBROWS; s++) {
      const xs = crossings(poly, y - 0.5 + (s + 0.5) / SUBROWS);
      for (let k = 0; k + 1 < xs.length; k += 2) {
        // pixel x covers [x - 0.5, x + 0.5)
        const a = Math.max(xs[k] + 0.5, 0), b = Math.min(xs[k + 1] + 0.5, w);
        for (let x = Math.floor(a); x < b; x++) out[y * w + x] += (Math.min(b, x + 1) - Math.max(a, x)) / SUBROWS;
      }
    }
  }
  return out;
}

/** dst(x, y) = src(x - tx, y - ty), bilinear, zeros outside (cv2.warpAffine of a translation) over w x h. */
function translate(src, sw, sh, tx, ty, w, h) {
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sx = x - tx, sy = y - ty, fx = Math.floor(sx), fy = Math.floor(sy);
      let v = 0;
      for (let j = 0; j < 2; j++) {
        for (let i = 0; i < 2; i++) {
          const xx = fx + i, yy = fy + j;
          if (xx < 0 || yy < 0 || xx >= sw || yy >= sh) continue;
          v += (i ? sx - fx : 1 - (sx - fx)) * (j ? sy - fy : 1 - (sy - fy)) * src[yy * sw + xx];
        }
      }
      out[y * w + x] = v;
    }
  }
  return out;
}

function mouthAxes(outer) {
  const half = outer.length / 2;
  const ax = outer[half][0] - outer[0][0], ay = outer[half][1] - outer[0][1];
  const n = Math.max(Math.hypot(ax, ay), 1e-6);
  return [[ax / n, ay / n], [-ay / n, ax / n]];
}

/** Rings 2 and 3 (warp.bands): the outer lips pushed outwards by the manifest's band offsets. */
function bands(outer, width, offsets) {
  const [along, down] = mouthAxes(outer);
  const cx = outer.reduce((s, p) => s + p[0], 0) / outer.length, cy = outer.reduce((s, p) => s + p[1], 0) / outer.length;
  return offsets.map(([sideways, up, below]) => outer.map(([x, y]) => {
    const la = (x - cx) * along[0] + (y - cy) * along[1], ld = (x - cx) * down[0] + (y - cy) * down[1];
    const n = Math.max(Math.hypot(la, ld), 1e-6), da = la / n, dd = ld / n;
    const oa = da * sideways * width, od = dd * (dd > 0 ? below : up) * width;
    return [x + oa * along[0] + od * down[0], y + oa * along[1] + od * down[1]];
  }));
}

/** The affine (6 numbers, target -> source) of each triangle and whether its target has an area. */
function affines(source, target, triangles) {
  return triangles.map((tri) => {
    const [p, q, r] = tri.map((i) => target[i]);
    const [sp, sq, sr] = tri.map((i) => source[i]);
    const det = (q[0] - p[0]) * (r[1] - p[1]) - (r[0] - p[0]) * (q[1] - p[1]);
    if (Math.abs(det) <= 1e-6) return null;
    // solve [x y 1] . coefficients = source for the three corners
    const solve = (a, b, c) => {
      const m0 = ((b - a) * (r[1] - p[1]) - (c - a) * (q[1] - p[1])) / det;
      const m1 = ((c - a) * (q[0] - p[0]) - (b - a) * (r[0] - p[0])) / det;
      return [m0, m1, a - m0 * p[0] - m1 * p[1]];
    };
    return [...solve(sp[0], sq[0], sr[0]), ...solve(sp[1], sq[1], sr[1])];
  });
}

export class MouthWarp {
  /**
   * frame: the photo (RGBA image); outer, inner: its lips (ring x [x, y]); eyes: the two eye
   * centres; warp: the manifest's "warp" section; maxShift: the farthest a lip point moves, as a
   * share of the mouth's width.
   */
  constructor(frame, outer, inner, eyes, warp, maxShift) {
    this.warp = warp;
    const ring = warp.ring, half = ring / 2;
    this.width = Math.hypot(outer[half][0] - outer[0][0], outer[half][1] - outer[0][1]);
    this.maxShift = maxShift * this.width;
    const [band, fixed] = bands(outer, this.width, warp.band_offsets);
    this.source = [...inner, ...outer, ...band, ...fixed];
    const [, down] = mouthAxes(outer);
    const mx = outer.reduce((s, p) => s + p[0], 0) / ring, my = outer.reduce((s, p) => s + p[1], 0) / ring;
    this.follow = outer.map(([x, y]) => ((x - mx) * down[0] + (y - my) * down[1] > 0 ? warp.band_follow[1] : warp.band_follow[0]));
    const xs = fixed.map((p) => p[0]), ys = fixed.map((p) => p[1]);
    this.region = [Math.max(0, Math.floor(Math.min(...xs))), Math.max(0, Math.floor(Math.min(...ys))),
      Math.min(frame.width, Math.ceil(Math.max(...xs)) + 1), Math.min(frame.height, Math.ceil(Math.max(...ys)) + 1)];
    const [x0, y0, x1, y1] = this.region;
    this.empty = x1 <= x0 || y1 <= y0;
    if (this.empty) return;
    const w = x1 - x0, h = y1 - y0, shift = (pts) => pts.map(([x, y]) => [x - x0, y - y0]);
    this.palette = this.facePalette(frame, shift(outer), shift(inner), shift(fixed), eyes);
    this.sourceOpening = coverage(shift(inner), w, h);
    // the photo's own mouth content: teeth (lighter than the lips), or its dark inside if open
    const lips = interior.luminance(this.palette.lips);
    const open = interior.relativeOpening(inner) > 0.12;
    this.sourceContent = new Float32Array(w * h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const k = ((y + y0) * frame.width + x + x0) * 4, d = frame.data;
        const grey = Math.round(0.299 * d[k] + 0.587 * d[k + 1] + 0.114 * d[k + 2]);
        let content = interior.smoothstep(12, 30, grey - lips);
        if (open) content = Math.max(content, interior.smoothstep(30, 60, lips - grey));
        this.sourceContent[y * w + x] = this.sourceOpening[y * w + x] * content;
      }
    }
  }

  /** The interior palette: lips between the rings, light tones of the skin inside ring 3 and the eyes. */
  facePalette(frame, outer, inner, fixed, eyes) {
    const [x0, y0, x1, y1] = this.region, w = x1 - x0, h = y1 - y0;
    const outerMask = fillMask(outer, w, h), innerMask = fillMask(inner, w, h), fixedMask = fillMask(fixed, w, h);
    const pixel = (x, y) => { const k = (y * frame.width + x) * 4; return [frame.data[k], frame.data[k + 1], frame.data[k + 2]]; };
    const lipPixels = [], light = [];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        if (outerMask[i] && !innerMask[i]) lipPixels.push(pixel(x + x0, y + y0));
        if (fixedMask[i] && !outerMask[i]) light.push(pixel(x + x0, y + y0));
      }
    }
    if (eyes) {
      const spacing = Math.hypot(eyes[1][0] - eyes[0][0], eyes[1][1] - eyes[0][1]);
      for (const [cx, cy] of eyes) {
        const ex0 = Math.max(Math.round(cx - 0.22 * spacing), 0), ey0 = Math.max(Math.round(cy - 0.07 * spacing), 0);
        const ex1 = Math.min(Math.round(cx + 0.22 * spacing) + 1, frame.width), ey1 = Math.min(Math.round(cy + 0.07 * spacing) + 1, frame.height);
        for (let y = ey0; y < ey1; y++) for (let x = ex0; x < ex1; x++) light.push(pixel(x, y));
      }
    }
    return interior.palette(lipPixels, light);
  }

  /** All ring points for new lips: each lip point moves at most maxShift, ring 2 follows part way, ring 3 stays. */
  targets(outer, inner) {
    const ring = this.warp.ring;
    const lips = [...inner, ...outer].map(([x, y], i) => {
      const [sx, sy] = this.source[i], dx = x - sx, dy = y - sy;
      const f = Math.min(1, this.maxShift / Math.max(Math.hypot(dx, dy), 1e-9));
      return [sx + dx * f, sy + dy * f];
    });
    const band = this.source.slice(2 * ring, 3 * ring).map(([x, y], i) => {
      const [ox, oy] = this.source[ring + i], [tx, ty] = lips[ring + i];
      return [x + this.follow[i] * (tx - ox), y + this.follow[i] * (ty - oy)];
    });
    return [...lips, ...band, ...this.source.slice(3 * ring)];
  }

  /** The photo (RGBA image) with the lips moved to `outer`, `inner`: a new image. */
  apply(frame, outer, inner) {
    const out = { width: frame.width, height: frame.height, data: new Uint8ClampedArray(frame.data) };
    if (this.empty) return out;
    const ring = this.warp.ring, [x0, y0, x1, y1] = this.region, w = x1 - x0, h = y1 - y0;
    const target = this.targets(outer, inner);
    const maps = affines(this.source, target, this.warp.triangles);
    // across the opening: the photo's mouth content follows the upper inner lip, unstretched
    let lx = 0, ly = 0;
    for (let i = ring / 2 + 1; i < ring; i++) { lx += target[i][0] - this.source[i][0]; ly += target[i][1] - this.source[i][1]; }
    const count = ring - (ring / 2 + 1);
    lx /= count; ly /= count;
    for (let t = 0; t < this.warp.opening_triangles; t++) if (maps[t]) maps[t] = [1, 0, -lx, 0, 1, -ly];
    // which triangle covers each region pixel (later triangles win, as warp.py draws them)
    const index = new Int32Array(w * h).fill(-1);
    this.warp.triangles.forEach((tri, t) => {
      if (!maps[t]) return;
      const pts = tri.map((i) => target[i]);
      const [p, q, r] = pts;
      const area = (q[0] - p[0]) * (r[1] - p[1]) - (r[0] - p[0]) * (q[1] - p[1]);
      const bx0 = Math.max(x0, Math.floor(Math.min(p[0], q[0], r[0]))), bx1 = Math.min(x1 - 1, Math.ceil(Math.max(p[0], q[0], r[0])));
      const by0 = Math.max(y0, Math.floor(Math.min(p[1], q[1], r[1]))), by1 = Math.min(y1 - 1, Math.ceil(Math.max(p[1], q[1], r[1])));
      const edge = (a, b, x, y) => ((b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0])) * Math.sign(area);
      for (let y = by0; y <= by1; y++) {
        for (let x = bx0; x <= bx1; x++) {
          if (edge(p, q, x, y) >= 0 && edge(q, r, x, y) >= 0 && edge(r, p, x, y) >= 0) index[(y - y0) * w + x - x0] = t;
        }
      }
    });
    const px = [0, 0, 0];
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const t = index[(y - y0) * w + x - x0];
        if (t < 0) continue; // identity: outside ring 3
        const m = maps[t];
        sample(frame, m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5], px, 'replicate');
        const k = (y * frame.width + x) * 4;
        // cv2 rounds half up (a Uint8ClampedArray would round half to even)
        out.data[k] = Math.floor(px[0] + 0.5);
        out.data[k + 1] = Math.floor(px[1] + 0.5);
        out.data[k + 2] = Math.floor(px[2] + 0.5);
      }
    }
    this.fillOpening(out, target.slice(0, ring), lx, ly);
    return out;
  }

  /** Blends the interior into the target opening where the moved photo opening is not (warp._fill_opening). */
  fillOpening(out, inner, lx, ly) {
    const [x0, y0, x1, y1] = this.region, rw = x1 - x0, rh = y1 - y0;
    const local = inner.map(([x, y]) => [x - x0, y - y0]);
    const bx0 = Math.max(Math.floor(Math.min(...local.map((p) => p[0]))) - 2, 0);
    const by0 = Math.max(Math.floor(Math.min(...local.map((p) => p[1]))) - 2, 0);
    const bx1 = Math.min(Math.ceil(Math.max(...local.map((p) => p[0]))) + 3, rw);
    const by1 = Math.min(Math.ceil(Math.max(...local.map((p) => p[1]))) + 3, rh);
    const w = bx1 - bx0, h = by1 - by0;
    if (w <= 0 || h <= 0) return;
    const patchInner = local.map(([x, y]) => [x - bx0, y - by0]);
    const opening = coverage(patchInner, w, h);
    // the region's masks moved by the upper lip's lift, seen from the patch
    const shown = translate(this.sourceOpening, rw, rh, lx - bx0, ly - by0, w, h);
    const exposed = new Float32Array(w * h);
    let most = 0;
    for (let i = 0; i < w * h; i++) most = Math.max(most, exposed[i] = Math.min(Math.max(opening[i] - shown[i], 0), 1));
    if (most < 0.02) return;
    const feather = interior.gaussianBlur(exposed, w, h, 1, Math.max(0.6, 0.01 * this.width));
    const content = translate(this.sourceContent, rw, rh, lx - bx0, ly - by0, w, h);
    // the photo's own teeth end where what it showed ends: no teeth drawn below them
    const covered = new Float32Array(w * h);
    for (let x = 0; x < w; x++) {
      let depth = 0, running = 0;
      for (let y = 0; y < h; y++) depth += content[y * w + x];
      const seen = interior.smoothstep(1.5, 3.0, depth);
      for (let y = 0; y < h; y++) {
        running = Math.max(running, content[y * w + x]);
        covered[y * w + x] = running * seen;
      }
    }
    const field = interior.openingField(patchInner, w, h);
    const texture = interior.synthesised(field, this.palette, w, h, covered);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        const alpha = Math.max(exposed[i], opening[i] * Math.min(Math.max(2 * feather[i], 0), 1));
        const k = ((y + by0 + y0) * out.width + x + bx0 + x0) * 4;
        for (let c = 0; c < 3; c++) {
          out.data[k + c] = Math.floor(Math.min(Math.max(out.data[k + c] * (1 - alpha) + texture[3 * i + c] * alpha + 0.5, 0), 255));
        }
      }
    }
  }
}
