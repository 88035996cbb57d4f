// The inside of a mouth that opens wider than the photo showed: the JavaScript twin of
// `interior.synthesised` in tflipsync/inference/interior.py (a dark throat, a tongue in the lips'
// tone, upper and fewer lower teeth from the face's own light tones), drawn over the canonical
// mouth field of the target inner lips. What it leaves out of the Python drawing: the reduced
// resolution past 128 px of mouth width (drawn at full size here) and the video's interior bank
// (a photo has none).

export function smoothstep(e0, e1, x) {
  let t = (x - e0) / (e1 - e0);
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  return t * t * (3 - 2 * t);
}

const clip = (x, lo, hi) => (x < lo ? lo : x > hi ? hi : x);
export const luminance = (c) => 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];

/** Piecewise-linear interpolation as np.interp (xs increasing; clamped at the ends). */
function interp(x, xs, ys) {
  if (x <= xs[0]) return ys[0];
  const n = xs.length;
  if (x >= xs[n - 1]) return ys[n - 1];
  let i = 1;
  while (xs[i] < x) i++;
  const span = xs[i] - xs[i - 1];
  return span > 0 ? ys[i - 1] + ((x - xs[i - 1]) / span) * (ys[i] - ys[i - 1]) : ys[i];
}

/** The inner-lip curves of a ring (`_Lips` in interior.py): axes and the two lips as functions of `a`. */
export class Lips {
  constructor(inner) {
    const ring = inner.length, half = ring / 2;
    this.centre = [(inner[0][0] + inner[half][0]) / 2, (inner[0][1] + inner[half][1]) / 2];
    const sx = inner[half][0] - inner[0][0], sy = inner[half][1] - inner[0][1];
    this.width = Math.hypot(sx, sy);
    const w = Math.max(this.width, 1e-6);
    this.along = [sx / w, sy / w];
    this.down = [-this.along[1], this.along[0]];
    const rel = inner.map(([x, y]) => {
      const dx = x - this.centre[0], dy = y - this.centre[1];
      return [dx * this.along[0] + dy * this.along[1], dx * this.down[0] + dy * this.down[1]];
    });
    const sorted = (ids) => {
      const pts = ids.map((i) => rel[i]).map((p, k) => [p[0], p[1], k]);
      pts.sort((p, q) => p[0] - q[0] || p[2] - q[2]); // stable, as np.argsort(kind="stable")
      return [pts.map((p) => p[0]), pts.map((p) => p[1])];
    };
    const lower = [], upper = [];
    for (let i = 0; i <= half; i++) lower.push(i);
    for (let i = half; i < ring; i++) upper.push(i);
    upper.push(0);
    this.lower = sorted(lower);
    this.upper = sorted(upper);
  }

  curves(a) {
    return [interp(a, ...this.upper), interp(a, ...this.lower)];
  }
}

/** Mean gap between the inner lips over the inner width (interior.relative_opening). */
export function relativeOpening(inner) {
  const lips = new Lips(inner);
  let sum = 0;
  for (let k = 0; k < 7; k++) {
    const [u, l] = lips.curves((-0.6 + 0.2 * k) * lips.width / 2);
    sum += Math.max(l - u, 0);
  }
  return sum / 7 / Math.max(lips.width, 1e-6);
}

/** The face's mouth colours (Palette.of_face): from lip pixels and light-tone pixels, arrays of [r, g, b]. */
export function palette(lipPixels, lightPixels) {
  const mean = (px) => [0, 1, 2].map((c) => px.reduce((s, p) => s + p[c], 0) / px.length);
  const lip = lipPixels.length ? mean(lipPixels) : [120, 120, 120];
  let bright;
  if (lightPixels.length) {
    let light = lightPixels;
    const unclipped = light.filter((p) => luminance(p) < 250 && Math.max(p[0], p[1], p[2]) < 254);
    if (unclipped.length >= 8) light = unclipped;
    const levels = light.map(luminance);
    const sorted = Float64Array.from(levels).sort();
    // np.percentile(level, 96), linear interpolation
    const pos = 0.96 * (sorted.length - 1), lo = Math.floor(pos);
    const q = sorted[lo] + (pos - lo) * ((sorted[Math.min(lo + 1, sorted.length - 1)]) - sorted[lo]);
    bright = mean(light.filter((p, i) => levels[i] >= q));
  } else {
    bright = lip.map((c) => c * 1.6);
  }
  const grey = luminance(bright);
  const dim = Math.min(0.86, 212 / Math.max(grey, 1));
  const teeth = bright.map((c) => (grey + 0.3 * (c - grey)) * dim);
  const lipGrey = luminance(lip);
  const tongue = lip.map((c) => 0.6 * (lipGrey + 0.85 * (c - lipGrey)));
  const clamp = (c) => c.map((v) => Math.min(Math.max(v, 0), 255));
  return {
    lips: clamp(lip), teeth: clamp(teeth), tongue: clamp(tongue),
    cavity: clamp(lip.map((c) => 0.42 * c)), throat: clamp(lip.map((c) => 0.08 * c)),
  };
}

/** cv2.GaussianBlur(image, (0, 0), sigma) of a float32 image with `channels` interleaved (BORDER_REFLECT_101). */
export function gaussianBlur(values, width, height, channels, sigma) {
  const size = Math.max(1, Math.round(sigma * 8 + 1) | 1), r = (size - 1) / 2;
  const kernel = new Float64Array(size);
  let total = 0;
  for (let i = 0; i < size; i++) total += kernel[i] = Math.exp(-((i - r) ** 2) / (2 * sigma * sigma));
  for (let i = 0; i < size; i++) kernel[i] /= total;
  const reflect = (i, n) => {
    if (n === 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * n - 2 - i;
    return i;
  };
  const pass = (src, horizontal) => {
    const dst = new Float32Array(src.length), n = horizontal ? width : height;
    const ids = Int32Array.from({ length: n * size }, (_, j) => reflect(Math.floor(j / size) + (j % size) - r, n));
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const at = horizontal ? x : y, o = (y * width + x) * channels;
        for (let c = 0; c < channels; c++) {
          let s = 0;
          for (let k = 0; k < size; k++) {
            const q = ids[at * size + k];
            s += kernel[k] * src[(horizontal ? y * width + q : q * width + x) * channels + c];
          }
          dst[o + c] = s;
        }
      }
    }
    return dst;
  };
  return pass(pass(values, true), false);
}

const TOOTH_EDGES = [0.0, 0.29, 0.5, 0.66, 0.79]; // interior.TOOTH_EDGES: where teeth meet along the arch

/**
 * A mouth interior drawn over the field of a patch (interior.synthesised): float32 RGB (w x h x 3).
 *
 * field: {u, top, bottom, gap: Float32Array (w x h), width: pixels between the inner corners};
 * covered: optional Float32Array (w x h), where the photo's own mouth content lies above the pixel.
 */
export function synthesised(field, pal, w, h, covered) {
  const width = Math.max(field.width, 1), edge = 0.7, n = w * h;
  const sigma = Math.max(0.6, 0.006 * width) / Math.max(width / 2, 1e-6);
  let tongueMax = 0, lowerMax = 0;
  for (let i = 0; i < n; i++) {
    tongueMax = Math.max(tongueMax, clip(0.4 * field.gap[i] - 0.06 * width, 0, 0.25 * width));
    lowerMax = Math.max(lowerMax, clip(0.16 * field.gap[i] - 0.03 * width, 0, 0.055 * width));
  }
  const image = new Float32Array(n * 3);
  const rim = Math.max(1.2, 0.02 * width);
  const { cavity, throat, tongue: tongueColour, teeth } = pal;
  for (let i = 0; i < n; i++) {
    const u = Math.abs(field.u[i]), gap = field.gap[i], top = field.top[i], bottom = field.bottom[i];
    const side = smoothstep(0.45, 1.0, u);
    const depth = clip(smoothstep(0, 0.3 * gap + 0.04 * width, Math.min(top, bottom)) + side, 0, 1);
    const shade = 1 - 0.5 * side;
    let r = (cavity[0] + (throat[0] - cavity[0]) * depth) * shade;
    let g = (cavity[1] + (throat[1] - cavity[1]) * depth) * shade;
    let b = (cavity[2] + (throat[2] - cavity[2]) * depth) * shade;
    // mixes the colour c * light in by t
    const mix = (c, light, t) => { r += (c[0] * light - r) * t; g += (c[1] * light - g) * t; b += (c[2] * light - b) * t; };
    if (tongueMax > 0.5) {
      const th = clip(0.4 * gap - 0.06 * width, 0, 0.25 * width);
      const tt = th * Math.sqrt(clip(1 - (u / 0.78) ** 2, 0, 1));
      const tongue = smoothstep(tt + 1.5 * edge, tt - 1.5 * edge, bottom) * smoothstep(0.5, 2.0, tt);
      mix(tongueColour, (0.95 - 0.55 * clip(bottom / Math.max(tt, 1), 0, 1)) * (1 - 0.55 * side), tongue);
    }
    let lines = 0, notches = 0;
    for (const e of TOOTH_EDGES) {
      lines += Math.exp(-(((u - e) / sigma) ** 2));
      notches += Math.exp(-(((u - e) / 0.035) ** 2));
    }
    lines = Math.min(lines, 1);
    notches = Math.min(notches, 1);
    if (lowerMax > 0.4) {
      const lh = clip(0.16 * gap - 0.03 * width, 0, 0.055 * width) * clip(1 - (u / 0.52) ** 2, 0, 1) * (1 - 0.2 * notches);
      const lower = smoothstep(lh + edge, lh - edge, bottom) * smoothstep(0.4, 1.5, lh) * smoothstep(-2 * edge, 0, bottom);
      const light = (0.7 + 0.15 * smoothstep(0, 0.7 * Math.max(lh, 1e-3), bottom))
        * (1 - 0.35 * smoothstep(0.15, 0.5, u)) * (1 - 0.12 * lines);
      mix(teeth, light, lower);
    }
    const dark = 1 - 0.6 * smoothstep(rim, 0, bottom);
    r *= dark; g *= dark; b *= dark;
    const height = Math.min(0.42 * gap, 0.15 * width) * (1 - 0.4 * u * u) * (1 - 0.12 * notches);
    let upper = smoothstep(height + edge, height - edge, top) * (1 - smoothstep(0.72, 0.93, u)) * smoothstep(-2 * edge, 0, top);
    if (covered) upper *= 1 - covered[i];
    const light = (0.72 + 0.28 * smoothstep(0, 0.45 * Math.max(height, 1e-3), top))
      * (1 - 0.5 * smoothstep(0.25, 0.9, u)) * (1 - 0.16 * lines) * (0.7 + 0.3 * smoothstep(0.02 * width, 0.12 * width, gap));
    mix(teeth, light, upper);
    image[3 * i] = r;
    image[3 * i + 1] = g;
    image[3 * i + 2] = b;
  }
  return gaussianBlur(image, w, h, 3, 0.3 + 0.0035 * width);
}

/** The canonical mouth field (interior.opening_field) of a w x h patch for inner lips in patch pixels. */
export function openingField(inner, w, h) {
  const lips = new Lips(inner), n = w * h;
  const field = { u: new Float32Array(n), top: new Float32Array(n), bottom: new Float32Array(n),
    gap: new Float32Array(n), width: lips.width };
  const halfWidth = Math.max(lips.width / 2, 1e-6);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const dx = x - lips.centre[0], dy = y - lips.centre[1];
      const a = dx * lips.along[0] + dy * lips.along[1], d = dx * lips.down[0] + dy * lips.down[1];
      const [upper, lower] = lips.curves(a);
      const i = y * w + x;
      field.u[i] = a / halfWidth;
      field.top[i] = d - upper;
      field.bottom[i] = lower - d;
      field.gap[i] = Math.max(lower - upper, 0);
    }
  }
  return field;
}
