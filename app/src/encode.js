// Sticker files made in the page: an animated GIF (gifenc) with one palette made over a mosaic of
// frames sampled across the clip (as stickers.encode_gif does with Pillow): 255 colours and a
// transparent index that every frame after the first writes where its pixel shows what is already
// on screen (frames are not disposed), so only the moving mouth is stored again.
import { GIFEncoder, quantize, applyPalette } from 'gifenc';

/**
 * GIF bytes of RGBA frames (each {width, height, data}) at `fps`, looping forever; `changed`
 * [x0, y0, x1, y1]: where frames after the first may differ from it (default: everywhere).
 */
export function encodeGif(frames, fps, changed = null) {
  const { width, height } = frames[0];
  const step = Math.max(1, Math.floor(frames.length / 16));
  const picked = frames.filter((_, i) => i % step === 0);
  const mw = Math.ceil(width / 4), mh = Math.ceil(height / 4);
  const mosaic = new Uint8ClampedArray(mw * mh * picked.length * 4);
  picked.forEach((frame, f) => {
    for (let y = 0; y < mh; y++) {
      for (let x = 0; x < mw; x++) {
        const s = (4 * y * width + 4 * x) * 4, d = ((f * mh + y) * mw + x) * 4;
        for (let c = 0; c < 4; c++) mosaic[d + c] = frame.data[s + c];
      }
    }
  });
  const palette = quantize(mosaic, 255);
  const clear = palette.length;
  const gif = GIFEncoder();
  // GIF delays are whole centiseconds: 25 fps is exactly 4
  const delay = Math.round(100 / fps) * 10;
  let shown = null;
  const [x0, y0, x1, y1] = changed ?? [0, 0, width, height], bw = x1 - x0;
  const box = new Uint8ClampedArray(Math.max(bw * (y1 - y0), 0) * 4);
  frames.forEach((frame, i) => {
    if (i === 0) {
      shown = applyPalette(frame.data, palette);
      gif.writeFrame(shown, width, height, { palette: [...palette, [0, 0, 0]], delay, repeat: 0, dispose: 1 });
      return;
    }
    for (let y = y0; y < y1; y++) box.set(frame.data.subarray((y * width + x0) * 4, (y * width + x1) * 4), (y - y0) * bw * 4);
    const part = box.length ? applyPalette(box, palette) : box;
    const index = new Uint8Array(width * height).fill(clear);
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const p = y * width + x, q = part[(y - y0) * bw + x - x0];
        if (q !== shown[p]) index[p] = shown[p] = q;
      }
    }
    gif.writeFrame(index, width, height, { delay, transparent: true, transparentIndex: clear, dispose: 1 });
  });
  gif.finish();
  return gif.bytes();
}
