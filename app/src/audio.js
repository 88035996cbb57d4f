// Speech for the mouth model: any file the browser decodes, as 16 kHz mono in [-1, 1]
// (WebAudio resamples while decoding into a context of that rate; channels are averaged).

/** Float32Array of 16 kHz mono samples of an encoded audio file's bytes (ArrayBuffer). */
export async function decodeSpeech(bytes, sampleRate) {
  const context = new OfflineAudioContext(1, 1, sampleRate);
  const buffer = await context.decodeAudioData(bytes);
  const mono = new Float32Array(buffer.length);
  for (let c = 0; c < buffer.numberOfChannels; c++) {
    const channel = buffer.getChannelData(c);
    for (let i = 0; i < mono.length; i++) mono[i] += channel[i] / buffer.numberOfChannels;
  }
  return mono;
}

/** Root mean square of each video frame's period (frame i: samples [i, i + 1) * rate / fps). */
export function frameEnergy(wav, sampleRate, fps, count) {
  const per = sampleRate / fps, out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    let s = 0, n = 0;
    for (let k = Math.round(i * per); k < Math.min(Math.round((i + 1) * per), wav.length); k++, n++) s += wav[k] * wav[k];
    out[i] = n ? Math.sqrt(s / n) : 0;
  }
  return out;
}
