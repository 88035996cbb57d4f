// The face's coordinate frames, as tflipsync/faces/mesh.py and tflipsync/landmarks/mouth.py define
// them: the mesh crop's affine, and the normalised mouth frame of the eye centres. Every index and
// constant comes from the manifest (manifest.json of `tflipsync export app`).

/** 2x3 affine [[a, b, c], [d, e, f]] from frame pixels to the upright mesh crop (FaceMesh.crop_transform). */
export function cropTransform(detection, mesh) {
  const [right, left] = detection.keypoints; // the person's right eye is on the image's left
  const angle = Math.atan2(left[1] - right[1], left[0] - right[0]);
  const [x0, y0, x1, y1] = detection.box;
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  const scale = mesh.size / (Math.max(x1 - x0, y1 - y0) * mesh.scale);
  // cv2.getRotationMatrix2D(centre, angle in degrees, scale), then the centre moved to the crop's
  const alpha = scale * Math.cos(angle), beta = scale * Math.sin(angle);
  return [
    [alpha, beta, (1 - alpha) * cx - beta * cy + mesh.size / 2 - cx],
    [-beta, alpha, beta * cx + (1 - alpha) * cy + mesh.size / 2 - cy],
  ];
}

/** The inverse of a 2x3 affine. */
export function invertAffine(m) {
  const [[a, b, c], [d, e, f]] = m;
  const det = a * e - b * d;
  const ia = e / det, ib = -b / det, id = -d / det, ie = a / det;
  return [[ia, ib, -(ia * c + ib * f)], [id, ie, -(id * c + ie * f)]];
}

/**
 * Bilinear sample of an RGBA image at (x, y) into out[0..2]; outside: `border` 'zero' (0) or
 * 'replicate' (the nearest edge pixel), as cv2's BORDER_CONSTANT / BORDER_REPLICATE.
 */
export function sample(image, x, y, out, border) {
  const { width, height, data } = image;
  const fx = Math.floor(x), fy = Math.floor(y);
  const wx = x - fx, wy = y - fy;
  out[0] = out[1] = out[2] = 0;
  for (let j = 0; j < 2; j++) {
    let yy = fy + j;
    const wyy = j ? wy : 1 - wy;
    if (yy < 0 || yy >= height) {
      if (border === 'zero') continue;
      yy = yy < 0 ? 0 : height - 1;
    }
    for (let i = 0; i < 2; i++) {
      let xx = fx + i;
      const w = (i ? wx : 1 - wx) * wyy;
      if (xx < 0 || xx >= width) {
        if (border === 'zero') continue;
        xx = xx < 0 ? 0 : width - 1;
      }
      const k = (yy * width + xx) * 4;
      out[0] += w * data[k];
      out[1] += w * data[k + 1];
      out[2] += w * data[k + 2];
    }
  }
}

/** The mesh's 192x192 float32 RGB crop in [0, 1] of an RGBA image (cv2.warpAffine, INTER_LINEAR, zeros outside). */
export function meshCrop(image, matrix, size) {
  const inv = invertAffine(matrix);
  const crop = new Float32Array(size * size * 3);
  const px = [0, 0, 0];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      sample(image, inv[0][0] * x + inv[0][1] * y + inv[0][2], inv[1][0] * x + inv[1][1] * y + inv[1][2], px, 'zero');
      const k = (y * size + x) * 3;
      // cv2 rounds the interpolated uint8 pixel before the division by 255
      crop[k] = Math.round(px[0]) / 255;
      crop[k + 1] = Math.round(px[1]) / 255;
      crop[k + 2] = Math.round(px[2]) / 255;
    }
  }
  return crop;
}

/** Mesh points (468 x 3, crop pixels) back to frame pixels: [[x, y], ...] (z dropped). */
export function meshToFrame(points, matrix) {
  const inv = invertAffine(matrix);
  const out = [];
  for (let i = 0; i < points.length / 3; i++) {
    const x = points[3 * i], y = points[3 * i + 1];
    out.push([inv[0][0] * x + inv[0][1] * y + inv[0][2], inv[1][0] * x + inv[1][1] * y + inv[1][2]]);
  }
  return out;
}

/**
 * The normalised mouth (tflipsync.landmarks.mouth.normalise): {points: [[x, y] x K], transform:
 * [[a, -b, ox], [b, a, oy]] from normalised to pixel coordinates}.
 */
export function normalise(mesh, geometry) {
  const centre = (ids) => [0, 1].map((c) => ids.reduce((s, i) => s + mesh[i][c], 0) / ids.length);
  const right = centre(geometry.right_eye), left = centre(geometry.left_eye);
  const origin = [(right[0] + left[0]) / 2, (right[1] + left[1]) / 2];
  const a = left[0] - right[0], b = left[1] - right[1];
  const scale2 = a * a + b * b;
  const points = geometry.mouth.map((i) => {
    const dx = mesh[i][0] - origin[0], dy = mesh[i][1] - origin[1];
    return [(a * dx + b * dy) / scale2, (-b * dx + a * dy) / scale2];
  });
  return { points, transform: [[a, -b, origin[0]], [b, a, origin[1]]] };
}

/** Normalised points back to pixels with a `normalise` transform. */
export function denormalise(points, t) {
  return points.map(([x, y]) => [t[0][0] * x + t[0][1] * y + t[0][2], t[1][0] * x + t[1][1] * y + t[1][2]]);
}

/** Rounds half to even, as Python's round and numpy's do. */
export function roundEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The detector box padded as the Python crop is (crop.pad_box): by fractions (top, bottom, left,
 * right) of its size, rounded, inside the frame.
 */
export function padBox(box, width, height, [top, bottom, left, right]) {
  const [x0, y0, x1, y1] = box, w = x1 - x0, h = y1 - y0;
  const clip = (v, hi) => Math.min(Math.max(v, 0), hi);
  const out = [clip(roundEven(x0 - left * w), width), clip(roundEven(y0 - top * h), height),
    clip(roundEven(x1 + right * w), width), clip(roundEven(y1 + bottom * h), height)];
  out[2] = Math.max(out[2], out[0] + 1);
  out[3] = Math.max(out[3], out[1] + 1);
  return out;
}

/**
 * The sticker's square (x0, y0, x1, y1) around a (padded) face box inside a frame
 * (stickers.square_box for one face): centred on the box, `scale` times its larger side, at most
 * the frame's shorter side.
 */
export function squareBox(box, width, height, scale) {
  const cx = (box[0] + box[2]) / 2, cy = (box[1] + box[3]) / 2;
  const side = roundEven(Math.min(Math.max(box[2] - box[0], box[3] - box[1]) * scale, height, width));
  const x0 = roundEven(Math.min(Math.max(cx - side / 2, 0), width - side));
  const y0 = roundEven(Math.min(Math.max(cy - side / 2, 0), height - side));
  return [x0, y0, x0 + side, y0 + side];
}
