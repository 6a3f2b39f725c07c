#!/usr/bin/env node
// Classify PNG images with a model exported by `harness export`, using onnxruntime-node and
// nothing but the model file: its metadata_props give the classes, the input shape, the
// preprocessing and the output kind. Prints the same JSON as `harness predict --json`.
//
// usage: node predict.mjs MODEL.onnx IMAGE.png... [--top K]
// Images must already be at the model's input size (this example does not resample).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { harnessMetadata, metadataProps } from "../../harness/runtimes/web/onnxmeta.js"; // the page's reader, one file for both
import { decodePng } from "./png.mjs";

// `npm install` here, or NODE_PATH=$HARNESS_NPM_DIR/node_modules: CommonJS resolution finds either.
const ort = createRequire(import.meta.url)("onnxruntime-node");

const args = process.argv.slice(2);
const topAt = args.indexOf("--top");
const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 1;
const [modelPath, ...images] = args;
if (!modelPath || !images.length || !(top >= 1)) {
  console.error("usage: node predict.mjs MODEL.onnx IMAGE.png... [--top K]");
  process.exit(2);
}
const bytes = readFileSync(modelPath);
const meta = harnessMetadata(metadataProps(bytes));
if (meta.output === "image") throw new Error(`${modelPath} is an image-to-image model, not a classifier`);
const session = await ort.InferenceSession.create(bytes);
const [channels, height, width] = meta.inputShape;
const { scale, mean, std } = meta.preprocessing;

// PNG -> float32 (C, H, W) as harness predict: transparent pixels on white (Pillow's
// alpha_composite arithmetic), grey as Pillow's "L", then (pixel * scale - mean) / std in float32.
function input(path) {
  const png = decodePng(readFileSync(path));
  if (png.width !== width || png.height !== height)
    throw new Error(`${png.width}x${png.height}, the model takes ${width}x${height}`);
  const plane = width * height;
  const x = new Float32Array(channels * plane);
  const f = Math.fround;
  for (let i = 0; i < plane; i++) {
    const a = png.rgba[4 * i + 3];
    const rgb = [0, 1, 2].map((c) => {
      const t = png.rgba[4 * i + c] * a * 128 + 255 * (255 - a) * 128 + 0x4000;
      return (((t >> 8) + t) >> 8) >> 7;
    });
    const values = channels === 1 ? [(rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 0x8000) >> 16] : rgb;
    values.forEach((v, c) => (x[c * plane + i] = f(f(f(v * f(scale)) - f(mean[c])) / f(std[c]))));
  }
  return new ort.Tensor("float32", x, [1, channels, height, width]);
}

const results = [];
for (const path of images) {
  let x;
  try {
    x = input(path);
  } catch (error) {
    results.push({ path, top: null, error: `unreadable image (${error.message})` });
    continue;
  }
  const out = (await session.run({ [session.inputNames[0]]: x }))[session.outputNames[0]].data;
  let probs;
  if (meta.output === "single_logit") {
    const p = 1 / (1 + Math.exp(-out[0]));
    probs = [1 - p, p];
  } else {
    const e = Array.from(out, (v) => Math.exp(v - Math.max(...out)));
    const sum = e.reduce((s, v) => s + v, 0);
    probs = e.map((v) => v / sum);
  }
  const order = probs.map((_, i) => i).sort((i, j) => probs[j] - probs[i]);
  results.push({ path, top: order.slice(0, top).map((i) => [meta.classes[i], probs[i]]), error: null });
}
console.log(JSON.stringify(results, null, 2));
