// The page's logic: model.onnx beside it, run with onnxruntime-web's WASM backend.
//
// window.classify(imageUrl, k = 5) -> {path, top: [[label, probability], ...], error}, the shape
//   of one element of `harness predict --json --top 5` (classifiers).
// window.run(pixels) -> {shape: [C, H, W], pixels: [...]}, for any model: the task's input as the
//   test split stores it (uint8 0..255, (C, H, W), flat or nested), normalised here with the
//   model's preprocessing; the model's raw output for that one input (an image model: values in [0, 1]).
// window.evaluateSplit(url, shape): harness.runtimes.js' pass over a whole normalised split.
import * as ort from "./ort.wasm.bundle.min.mjs";
import { harnessMetadata, metadataProps } from "./onnxmeta.js";

const BATCH = 256; // as harness.runtimes.registry: images per call when scoring a split
const ROUNDS = 7; // batch-1 latency rounds, each as harness.runtimes.registry.median_ms
const MIN_CALLS = 10;
const BUDGET_MS = 50;

// ?threads=N sets the WASM threads; without it onnxruntime-web's default (half the cores, at
// most 4). More than one needs a cross-origin-isolated page (COOP/COEP headers); a plain
// `python -m http.server` sends none, and onnxruntime-web then runs one thread.
const threads = Number(new URLSearchParams(location.search).get("threads"));
if (threads > 0) ort.env.wasm.numThreads = threads;

const loaded = (async () => {
  const response = await fetch("model.onnx");
  if (!response.ok) throw new Error(`model.onnx: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const meta = harnessMetadata(metadataProps(bytes));
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ["wasm"],
    // Idle intra-op threads sleep rather than spin, as harness.runtimes.predict.open_session sets it for
    // onnxruntime-python: the verification rows compare like with like.
    extra: { session: { intra_op: { allow_spinning: "0" } } },
  });
  return { meta, session, input: session.inputNames[0], output: session.outputNames[0] };
})();
window.ready = loaded.then(({ meta }) => meta);

async function infer(x, count) {
  const { meta, session, input, output } = await loaded;
  const result = await session.run({ [input]: new ort.Tensor("float32", x, [count, ...meta.inputShape]) });
  return result[output];
}

// uint8 (C, H, W) -> float32 (pixel * scale - mean) / std, rounded to float32 at each step as
// numpy does it in harness.runtimes.predict.normalize: the same input bits as `harness predict`.
function normalize(pixels, meta) {
  const [channels, height, width] = meta.inputShape;
  const plane = height * width;
  const { scale, mean, std } = meta.preprocessing;
  const f = Math.fround;
  const x = new Float32Array(channels * plane);
  for (let c = 0; c < channels; c++) {
    const [s, m, d] = [f(scale), f(mean[c]), f(std[c])];
    for (let i = c * plane; i < (c + 1) * plane; i++) x[i] = f(f(f(pixels[i] * s) - m) / d);
  }
  return x;
}

// An image (any size) -> uint8 (C, H, W) at the model's input size, like harness/imagefile.py:
// transparent pixels on white, grey by Pillow's "L" (ITU-R 601-2 luma in its 16-bit fixed
// point). Resizing is the browser's (canvas), not Pillow's bilinear filter: see the README.
async function pixelsOf(url, meta) {
  const blob = await (await fetch(url)).blob();
  // No colour management: Pillow ignores ICC profiles, so the file's numbers are used as they are.
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const [channels, height, width] = meta.inputShape;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, width, height);
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const plane = width * height;
  const pixels = new Uint8Array(channels * plane);
  for (let i = 0; i < plane; i++) {
    const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
    if (channels === 1) pixels[i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    else [pixels[i], pixels[plane + i], pixels[2 * plane + i]] = [r, g, b];
  }
  return pixels;
}

// Model outputs -> class probabilities, as harness/heads.py: softmax over logits, or one
// sigmoid logit for the second class.
function probabilities(row, kind) {
  if (kind === "single_logit") {
    const p = 1 / (1 + Math.exp(-row[0]));
    return [1 - p, p];
  }
  const top = Math.max(...row);
  const e = Array.from(row, (v) => Math.exp(v - top));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

async function classify(url, k = 5) {
  const { meta } = await loaded;
  if (meta.output === "image") throw new Error("an image-to-image model: use window.run");
  let pixels;
  try {
    pixels = await pixelsOf(url, meta);
  } catch (error) {
    return { path: url, top: null, error: `unreadable image (${error.name})` };
  }
  const out = await infer(normalize(pixels, meta), 1);
  const probs = probabilities(out.data, meta.output);
  const order = probs.map((_, i) => i).sort((a, b) => probs[b] - probs[a]);
  return { path: url, top: order.slice(0, k).map((i) => [meta.classes[i], probs[i]]), error: null };
}

async function run(input) {
  const { meta } = await loaded;
  const flat = Array.isArray(input) ? input.flat(Infinity) : Array.from(input);
  const size = meta.inputShape.reduce((a, b) => a * b, 1);
  if (flat.length !== size) throw new Error(`run: ${flat.length} pixels, the model takes ${meta.inputShape}`);
  const out = await infer(normalize(flat, meta), 1);
  return { shape: out.dims.slice(1), pixels: Array.from(out.data) };
}

const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

// The whole split (raw float32 at `url`, `shape` (N, C, H, W)) in batches; the outputs are
// POSTed back to the server as out.f32; then the batch-1 rounds, timed here with performance.now().
async function evaluateSplit(url, shape) {
  const x = new Float32Array(await (await fetch(url)).arrayBuffer());
  const [n, ...sample] = shape;
  const per = sample.reduce((a, b) => a * b, 1);
  const parts = [];
  let outShape = null;
  for (let start = 0; start < n; start += BATCH) {
    const count = Math.min(BATCH, n - start);
    const out = await infer(x.subarray(start * per, (start + count) * per), count);
    outShape = outShape ?? [n, ...out.dims.slice(1)];
    parts.push(out.data);
  }
  const posted = await fetch("out.f32", { method: "POST", body: new Blob(parts) });
  if (!posted.ok) throw new Error(`posting the outputs: HTTP ${posted.status}`);
  const one = x.slice(0, per);
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < 3; i++) await infer(one, 1);
    const times = [];
    const deadline = performance.now() + BUDGET_MS;
    while (times.length < MIN_CALLS || (performance.now() < deadline && times.length < 1000)) {
      const t0 = performance.now();
      await infer(one, 1);
      times.push(performance.now() - t0);
    }
    rounds.push(median(times));
  }
  return { provider: "wasm", threads: ort.env.wasm.numThreads, isolated: self.crossOriginIsolated, shape: outShape, rounds };
}

Object.assign(window, { classify, run, evaluateSplit });

// ------------------------------------------------------------------------------- the page itself

const $ = (id) => document.getElementById(id);

function paint(canvas, values, [channels, height, width], scale) {
  // values: (C, H, W) in pixel units (0..255)
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(width, height);
  const plane = width * height;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) image.data[4 * i + c] = values[(channels === 1 ? 0 : c) * plane + i] * scale;
    image.data[4 * i + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}

async function show(file) {
  const { meta } = await loaded;
  const url = URL.createObjectURL(file);
  try {
    const pixels = await pixelsOf(url, meta);
    paint($("input"), pixels, meta.inputShape, 1);
    if (meta.output === "image") {
      const out = await run(pixels);
      paint($("output"), out.pixels, out.shape, 255);
      $("result").textContent = `${meta.inputShape.slice(1).join("x")} in, ${out.shape.slice(1).join("x")} out`;
      return;
    }
    const { top, error } = await classify(url);
    $("result").replaceChildren(
      ...(error
        ? [error]
        : top.map(([label, p]) => {
            const row = document.createElement("li");
            row.innerHTML = `<span></span><meter min="0" max="1"></meter> <code></code>`;
            row.children[0].textContent = label;
            row.children[1].value = p;
            row.children[2].textContent = p.toFixed(4);
            return row;
          })),
    );
  } catch (error) {
    $("result").textContent = `error: ${error.message}`;
  } finally {
    URL.revokeObjectURL(url);
  }
}

if ($("status")) {
  loaded.then(
    ({ meta }) => {
      const kind = meta.output === "image" ? "image-to-image" : `${meta.classes.length} classes`;
      $("status").textContent =
        `${meta.task} ${meta.architecture}: input ${meta.inputShape.join("x")} (${meta.preprocessing.color ?? ""}), ` +
        `${kind}; onnxruntime-web WASM, ${ort.env.wasm.numThreads} thread(s)`;
      $("output").hidden = meta.output !== "image";
    },
    (error) => ($("status").textContent = `error: ${error.message}`),
  );
  $("picker").addEventListener("change", (event) => event.target.files[0] && show(event.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => event.preventDefault());
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files[0]) show(event.dataTransfer.files[0]);
  });
}
