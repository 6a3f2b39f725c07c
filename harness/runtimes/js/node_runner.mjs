// One runtime pass for harness.runtimes.js: a whole normalised split through onnxruntime-node.
//
// usage: node node_runner.mjs NPM_DIR MODEL.onnx X.f32 N,C,H,W THREADS OUT.f32
// X.f32 holds the inputs as raw little-endian float32 (N, C, H, W); OUT.f32 receives the
// outputs the same way, one row per input, in input order. The last line on stdout is one JSON
// object: {"provider", "shape", "rounds"} (rounds: batch-1 latency, the median ms of each round).
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const BATCH = 256; // as harness.runtimes.registry.BATCH
const ROUNDS = 7; // as harness.runtimes.registry.LATENCY_ROUNDS
const MIN_CALLS = 10;
const BUDGET_MS = 50;

async function main() {
  const [npmDir, modelPath, xPath, shapeText, threadsText, outPath] = process.argv.slice(2);
  // Resolved from the npm folder scripts/install-runtimes filled, not from wherever this file lives.
  const ort = createRequire(join(npmDir, "package.json"))("onnxruntime-node");

  const shape = shapeText.split(",").map(Number);
  const [n, ...sample] = shape;
  const per = sample.reduce((a, b) => a * b, 1);
  const bytes = readFileSync(xPath);
  const x = new Float32Array(bytes.buffer, bytes.byteOffset, n * per);

  const threads = Number(threadsText);
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ["cpu"],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  });
  const [inputName] = session.inputNames;
  const [outputName] = session.outputNames;
  const run = async (start, count) => {
    const feed = new ort.Tensor("float32", x.subarray(start * per, (start + count) * per), [count, ...sample]);
    return (await session.run({ [inputName]: feed }))[outputName];
  };

  const chunks = [];
  let outShape = null;
  for (let start = 0; start < n; start += BATCH) {
    const out = await run(start, Math.min(BATCH, n - start));
    outShape = outShape ?? [n, ...out.dims.slice(1)];
    chunks.push(Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength));
  }
  writeFileSync(outPath, Buffer.concat(chunks));

  // Batch-1 latency as harness.runtimes.registry.median_ms: 3 warm-up calls, then at least MIN_CALLS
  // timed calls and until BUDGET_MS has passed (at most 1000); the median of each round.
  const median = (values) => {
    const s = [...values].sort((a, b) => a - b);
    const mid = s.length >> 1;
    return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  };
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < 3; i++) await run(0, 1);
    const times = [];
    const deadline = performance.now() + BUDGET_MS;
    while (times.length < MIN_CALLS || (performance.now() < deadline && times.length < 1000)) {
      const t0 = performance.now();
      await run(0, 1);
      times.push(performance.now() - t0);
    }
    rounds.push(median(times));
  }
  console.log(JSON.stringify({ provider: "cpu", shape: outShape, rounds }));
}

// A failure (an operator onnxruntime-node lacks, a bad file) is one line on stderr: harness
// shows that line, not a stack trace.
main().catch((error) => {
  console.error(String(error?.message ?? error).trim().replace(/\s+/g, " "));
  process.exit(1);
});
