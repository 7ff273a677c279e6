// The verifier's worker: every check runs here (heso_wasm, heso-receipt compiled to
// WebAssembly), never on the page's thread. One worker per verification; cancelling is
// terminating it (its helpers go with it).
//
// A receipt: its bytes, verified whole (an inclusion bundle, as `heso prove` writes, is
// checked as `heso verify BUNDLE` checks it). A log: its bytes split at "\n" as heso-chain splits
// a log file (a "\r" stays in its line, bytes after the last "\n" are a torn tail), sent in
// batches to helper workers (verify-worker.js) that verify them in parallel, and folded here
// in line order by a LogWalk (heso-receipt's LogChecker), which sends the page its rows.
// Checkpoint files given beside a log are added to the LogWalk before its first line: it
// computes the log's tree as it folds and reports whether the log contains each of them.
import init, {
  LogWalk, check_pins, pasted_lines, verify_document_json,
} from "./pkg/heso_wasm.js";

/** Lines per batch: a helper's share of work between two messages. */
const BATCH_LINES = 1024;
/** Bytes per batch, whatever the line count. */
const BATCH_BYTES = 2 << 20;
/** File bytes read at a time. */
const CHUNK = 8 << 20;
/** Logs smaller than this are verified here, without starting helpers. */
const INLINE_BYTES = 512 << 10;

let module;

onmessage = async ({ data }) => {
  try {
    module = data.module;
    await init({ module_or_path: module });
    const pinError = check_pins(data.pins);
    if (pinError) {
      postMessage({ type: "pin-error", message: pinError });
      return;
    }
    if (data.type === "receipt") {
      const bytes = data.file ? new Uint8Array(await data.file.arrayBuffer()) : data.bytes;
      postDocument(verify_document_json(bytes, data.pins));
    } else if (data.type === "pasted") {
      const bounds = pasted_lines(data.bytes);
      if (bounds.length === 0) {
        postDocument(verify_document_json(data.bytes, data.pins));
      } else {
        postMessage({ type: "log-start", total: data.bytes.length });
        await verifyLog(pastedBatches(data.bytes, bounds), data.bytes.length, data.pins, data.name, data.helpers, []);
      }
    } else if (data.type === "log") {
      postMessage({ type: "log-start", total: data.file.size });
      await verifyLog(fileBatches(data.file), data.file.size, data.pins, data.name, data.helpers, data.checkpoints || []);
    }
  } catch (e) {
    postMessage({ type: "error", message: String(e && e.message ? e.message : e) });
  }
};

/** A receipt's or an inclusion bundle's result, to the page. */
function postDocument(json) {
  const result = JSON.parse(json);
  postMessage({ type: result.bundle ? "bundle" : "receipt", result });
}

/** Batches of pasted text: the lines heso_receipt::split_pasted gave, with their numbers. */
function* pastedBatches(bytes, bounds) {
  for (let i = 0; i < bounds.length; i += 3 * BATCH_LINES) {
    const part = bounds.slice(i, i + 3 * BATCH_LINES);
    const start = part[1];
    const end = part[part.length - 1];
    const rel = new Float64Array(part.length);
    for (let j = 0; j < part.length; j += 3) {
      rel[j] = part[j];
      rel[j + 1] = part[j + 1] - start;
      rel[j + 2] = part[j + 2] - start;
    }
    yield { bytes: bytes.slice(start, end), bounds: rel, base: start, done: end };
  }
}

/**
 * Batches of a log file, read a chunk at a time: complete lines only; what is left after
 * the last newline is the torn tail (reported by its length, never verified).
 */
async function* fileBatches(file) {
  let carry = []; // the start of a line that began in earlier chunks
  let carryStart = 0; // its offset in the file
  let carryLength = 0;
  let number = 0;
  let batch = null; // {parts: Uint8Array[], bounds: number[], base, size}
  const flush = () => {
    const out = batch;
    batch = null;
    const bytes = out.parts.length === 1 ? out.parts[0].slice() : concat(out.parts, out.size);
    return { bytes, bounds: Float64Array.from(out.bounds), base: out.base, done: out.base + out.size };
  };
  for (let pos = 0; pos < file.size; pos += CHUNK) {
    const chunk = new Uint8Array(await file.slice(pos, pos + CHUNK).arrayBuffer());
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      // A line: carry (if any) + chunk[start..nl], followed by its "\n".
      const lineStart = carryLength ? carryStart : pos + start;
      const piece = chunk.subarray(start, nl + 1);
      if (!batch) batch = { parts: [], bounds: [], base: lineStart, size: 0 };
      const rel = lineStart - batch.base;
      const length = carryLength + piece.length - 1;
      number += 1;
      batch.bounds.push(number, rel, rel + length);
      for (const part of carry) batch.parts.push(part);
      batch.parts.push(piece);
      batch.size += carryLength + piece.length;
      carry = [];
      carryLength = 0;
      start = nl + 1;
      if (batch.bounds.length >= 3 * BATCH_LINES || batch.size >= BATCH_BYTES) yield flush();
    }
    if (start < chunk.length) {
      if (!carryLength) carryStart = pos + start;
      carry.push(chunk.subarray(start));
      carryLength += chunk.length - start;
    }
  }
  if (batch) yield flush();
  if (carryLength) yield { torn: carryLength, done: file.size };
}

function concat(parts, size) {
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) { out.set(part, at); at += part.length; }
  return out;
}

/** Helper workers, each verifying the batches it is sent in the order it gets them. */
class Helpers {
  constructor(count) {
    this.workers = [];
    for (let i = 0; i < count; i++) {
      const worker = new Worker(new URL("./verify-worker.js", import.meta.url), { type: "module" });
      worker.waiting = [];
      worker.onmessage = ({ data }) => {
        const { resolve, reject } = worker.waiting.shift();
        if (data.error) reject(new Error(data.error)); else resolve(data.lines);
      };
      worker.onerror = (e) => { for (const w of worker.waiting.splice(0)) w.reject(new Error(e.message)); };
      worker.postMessage({ module });
      this.workers.push(worker);
    }
  }

  verify(batch, pins) {
    const worker = this.workers.reduce((a, b) => (b.waiting.length < a.waiting.length ? b : a));
    return new Promise((resolve, reject) => {
      worker.waiting.push({ resolve, reject });
      worker.postMessage({ bytes: batch.bytes, bounds: batch.bounds, base: batch.base, pins },
        [batch.bytes.buffer, batch.bounds.buffer]);
    });
  }
}

async function verifyLog(batches, total, pins, name, helperCount, checkpoints) {
  const walk = new LogWalk(pins);
  for (const { name: file, blob } of checkpoints) {
    walk.add_checkpoint(file, new Uint8Array(await blob.arrayBuffer()));
  }
  const helpers = total >= INLINE_BYTES && helperCount > 0 ? new Helpers(helperCount) : null;
  postMessage({ type: "workers", count: helpers ? helpers.workers.length : 0 });
  const inFlight = [];
  const fold = async () => {
    const { batch, lines, count, done } = await inFlight.shift();
    const rows = lines ? walk.fold(await lines) : walk.verify_fold(batch.bytes, batch.bounds, batch.base);
    postMessage({ type: "rows", rows, count, failed: walk.failed(), done, total, counts: walk.counts() });
  };
  for await (const batch of batches) {
    if (batch.torn !== undefined) {
      while (inFlight.length) await fold();
      walk.torn_tail(batch.torn);
      continue;
    }
    const count = batch.bounds.length / 3;
    if (helpers) inFlight.push({ lines: helpers.verify(batch, pins), count, done: batch.done });
    else inFlight.push({ batch, count, done: batch.done });
    while (inFlight.length > (helpers ? 3 * helpers.workers.length : 0)) await fold();
  }
  while (inFlight.length) await fold();
  postMessage({ type: "log", result: JSON.parse(walk.finish(name)) });
}
