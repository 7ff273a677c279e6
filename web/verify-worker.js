// A helper of worker.js: verifies the batches of log lines it is sent, in order, with
// heso_wasm (heso-receipt's verify_receipt), and sends each batch's results back.
import init, { verify_lines_json } from "./pkg/heso_wasm.js";

let ready;

onmessage = async ({ data }) => {
  if (data.module) {
    ready = init({ module_or_path: data.module });
    return;
  }
  try {
    await ready;
    postMessage({ lines: verify_lines_json(data.bytes, data.bounds, data.base, data.pins) });
  } catch (e) {
    postMessage({ error: String(e && e.message ? e.message : e) });
  }
};
