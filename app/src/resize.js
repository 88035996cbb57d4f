// The sticker's square scaled to its side as stickers.square_crop does it: cv2.resize with
// INTER_CUBIC when enlarging, INTER_AREA when shrinking, in two separable passes. A `Resizer` is
// made once per photo: frames differ from the photo only inside the warp's region, so only the
// output pixels whose taps reach it are computed again.

const A = -0.75; // cv2's bicubic coefficient

/** Taps of each output position: {ids: Int32Array (dst x n), weights: Float32Array, n}. */
function taps(dst, src) {
  const scale = src / dst, list = [];
  for (let x = 0; x < dst; x++) {
    if (src > dst) { // area: the overlap of the output pixel with each input pixel
      const a = x * scale, b = (x + 1) * scale, ids = [], weights = [];
      for (let i = Math.floor(a); i < Math.min(Math.ceil(b), src); i++) {
        const overlap = Math.min(b, i + 1) - Math.max(a, i);
        if (overlap > 1e-9) { ids.push(i); weights.push(overlap / scale); }
      }
      list.push([ids, weights]);
    } else {
      const f = (x + 0.5) * scale - 0.5, s = Math.floor(f), t = f - s;
      const w0 = ((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A;
      const w1 = ((A + 2) * t - (A + 3)) * t * t + 1;
      const w2 = ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1;
      list.push([[s - 1, s, s + 1, s + 2].map((i) => Math.min(Math.max(i, 0), src - 1)), [w0, w1, w2, 1 - w0 - w1 - w2]]);
    }
  }
  const n = Math.max(...list.map(([ids]) => ids.length));
  const ids = new Int32Array(dst * n), weights = new Float32Array(dst * n);
  list.forEach(([i, w], x) => { ids.set(i, x * n); weights.set(w, x * n); });
  return { ids, weights, n };
}

/** The output range [lo, hi) whose taps reach input [a, b). */
function reach(t, dst, a, b) {
  let lo = dst, hi = 0;
  for (let x = 0; x < dst; x++) {
    for (let k = 0; k < t.n; k++) {
      const i = t.ids[x * t.n + k];
      if (t.weights[x * t.n + k] !== 0 && i >= a && i < b) { lo = Math.min(lo, x); hi = Math.max(hi, x + 1); }
    }
  }
  return [lo, Math.max(lo, hi)];
}

export class Resizer {
  /** Scales square RGBA images of side `from` to side `to`; `region` [x0, y0, x1, y1]: where frames may differ from `base`. */
  constructor(base, to, region) {
    this.from = base.width;
    this.to = to;
    this.taps = taps(to, this.from);
    this.base = this.scale(base, [0, to], [0, to]);
    this.xs = reach(this.taps, to, region[0], region[2]);
    this.ys = reach(this.taps, to, region[1], region[3]);
  }

  /** The output pixels [xs) x [ys) of `image` scaled, written over a copy of `into` (or a new image). */
  scale(image, xs, ys, into = null) {
    const { ids, weights, n } = this.taps, from = this.from, to = this.to, src = image.data;
    const [cx0, cx1] = xs, [cy0, cy1] = ys, cw = cx1 - cx0;
    // rows needed by the vertical taps of [ys)
    let r0 = from, r1 = 0;
    for (let y = cy0; y < cy1; y++) for (let k = 0; k < n; k++) { r0 = Math.min(r0, ids[y * n + k]); r1 = Math.max(r1, ids[y * n + k] + 1); }
    const rows = new Float32Array(Math.max(r1 - r0, 0) * cw * 3);
    for (let y = r0; y < r1; y++) {
      for (let x = cx0; x < cx1; x++) {
        let r = 0, g = 0, b = 0;
        for (let k = 0; k < n; k++) {
          const w = weights[x * n + k], p = (y * from + ids[x * n + k]) * 4;
          r += w * src[p]; g += w * src[p + 1]; b += w * src[p + 2];
        }
        const o = ((y - r0) * cw + x - cx0) * 3;
        rows[o] = r; rows[o + 1] = g; rows[o + 2] = b;
      }
    }
    const data = into ? new Uint8ClampedArray(into.data) : new Uint8ClampedArray(to * to * 4).fill(255);
    for (let y = cy0; y < cy1; y++) {
      for (let x = cx0; x < cx1; x++) {
        let r = 0, g = 0, b = 0;
        for (let k = 0; k < n; k++) {
          const w = weights[y * n + k], o = ((ids[y * n + k] - r0) * cw + x - cx0) * 3;
          r += w * rows[o]; g += w * rows[o + 1]; b += w * rows[o + 2];
        }
        const p = (y * to + x) * 4;
        data[p] = Math.floor(r + 0.5); data[p + 1] = Math.floor(g + 0.5); data[p + 2] = Math.floor(b + 0.5);
      }
    }
    return { width: to, height: to, data };
  }

  /** A frame (differing from the base only inside the region) scaled. */
  frame(image) {
    return this.scale(image, this.xs, this.ys, this.base);
  }
}
