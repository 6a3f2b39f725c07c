// A PNG file -> {width, height, rgba}: 8-bit grey, grey+alpha, RGB, RGBA and palette images,
// not interlaced (what Pillow and most tools write). Node's zlib does the inflating; the rest
// is the PNG filters (https://www.w3.org/TR/png/#9Filters). No dependencies.
import { inflateSync } from "node:zlib";

const CHANNELS = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }; // by colour type

export function decodePng(buffer) {
  if (buffer.readUInt32BE(0) !== 0x89504e47) throw new Error("not a PNG file");
  let pos = 8;
  let header = null;
  let palette = null;
  let alphas = null;
  const data = [];
  while (pos < buffer.length) {
    const length = buffer.readUInt32BE(pos);
    const type = buffer.toString("latin1", pos + 4, pos + 8);
    const body = buffer.subarray(pos + 8, pos + 8 + length);
    pos += 12 + length;
    if (type === "IHDR") header = { width: body.readUInt32BE(0), height: body.readUInt32BE(4), depth: body[8], color: body[9], interlace: body[12] };
    else if (type === "PLTE") palette = body;
    else if (type === "tRNS") alphas = body;
    else if (type === "IDAT") data.push(body);
    else if (type === "IEND") break;
  }
  const { width, height, depth, color, interlace } = header ?? {};
  const channels = CHANNELS[color];
  if (!header || depth !== 8 || !channels || interlace) throw new Error("only 8-bit, non-interlaced PNGs are read here");
  const raw = inflateSync(Buffer.concat(data));
  const stride = width * channels;
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = pixels.subarray(y * stride, (y + 1) * stride);
    const up = y ? pixels.subarray((y - 1) * stride, y * stride) : Buffer.alloc(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? out[i - channels] : 0;
      const b = up[i];
      const c = i >= channels ? up[i - channels] : 0;
      const p = a + b - c;
      const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
      const paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      const predict = [0, a, b, (a + b) >> 1, paeth][filter];
      if (predict === undefined) throw new Error(`bad PNG filter ${filter}`);
      out[i] = (line[i] + predict) & 0xff;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const px = pixels.subarray(i * channels, (i + 1) * channels);
    let rgb;
    let alpha = 255;
    if (color === 3) {
      rgb = palette.subarray(px[0] * 3, px[0] * 3 + 3);
      alpha = alphas && px[0] < alphas.length ? alphas[px[0]] : 255;
    } else {
      rgb = channels >= 3 ? px.subarray(0, 3) : [px[0], px[0], px[0]];
      if (channels === 2 || channels === 4) alpha = px[channels - 1];
    }
    rgba.set([...rgb, alpha], i * 4);
  }
  return { width, height, rgba };
}
