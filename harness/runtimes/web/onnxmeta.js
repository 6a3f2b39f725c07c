// An .onnx file's metadata_props, read from the file itself: onnxruntime-web has no API for
// them (InferenceSession exposes input and output metadata only). A ModelProto is a protobuf
// message; metadata_props is its repeated field 14, each a StringStringEntryProto
// {key = 1, value = 2}. Reading the top-level fields and skipping the rest is all it takes.

function varint(bytes, pos) {
  let value = 0;
  let scale = 1;
  for (;;) {
    if (pos >= bytes.length) throw new Error("not an ONNX file (truncated)");
    const b = bytes[pos++];
    value += (b & 0x7f) * scale; // no bit operations: lengths may pass 2^31
    if (!(b & 0x80)) return [value, pos];
    scale *= 128;
  }
}

// Calls visit(field, start, end) for each length-delimited field of bytes[start:end].
function eachField(bytes, start, end, visit) {
  let pos = start;
  while (pos < end) {
    let key;
    [key, pos] = varint(bytes, pos);
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) [, pos] = varint(bytes, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      let length;
      [length, pos] = varint(bytes, pos);
      if (pos + length > end) throw new Error("not an ONNX file (a field runs past the end)");
      visit(field, pos, pos + length);
      pos += length;
    } else throw new Error(`not an ONNX file (protobuf wire type ${wire})`);
  }
}

// metadata_props as a plain object of strings.
export function metadataProps(buffer) {
  const bytes = new Uint8Array(buffer);
  const text = new TextDecoder();
  const props = {};
  eachField(bytes, 0, bytes.length, (field, start, end) => {
    if (field !== 14) return;
    const entry = {};
    eachField(bytes, start, end, (f, a, b) => {
      entry[f] = text.decode(bytes.subarray(a, b));
    });
    props[entry[1] ?? ""] = entry[2] ?? "";
  });
  return props;
}

const KINDS = ["logits", "single_logit", "image"];

// What harness export writes, decoded and checked enough to use: classes, input shape,
// preprocessing (one mean and std per channel) and the output kind (harness/runtimes/metadata.py is the full check).
export function harnessMetadata(props) {
  const missing = ["classes", "input_shape", "preprocessing", "output"].filter((k) => !(k in props));
  if (missing.length) throw new Error(`the model has no harness metadata (${missing.join(", ")} missing)`);
  const meta = {
    task: props.task ?? "",
    architecture: props.architecture ?? "",
    classes: JSON.parse(props.classes),
    inputShape: JSON.parse(props.input_shape),
    preprocessing: JSON.parse(props.preprocessing),
    output: props.output,
  };
  const [channels] = meta.inputShape;
  const { mean, std, scale } = meta.preprocessing;
  if (!KINDS.includes(meta.output)) throw new Error(`unknown output kind ${meta.output}`);
  if (meta.inputShape.length !== 3 || mean.length !== channels || std.length !== channels || !(scale > 0))
    throw new Error("the model's input_shape and preprocessing disagree");
  return meta;
}
