// The heso browser verifier's page. Every check runs in a worker (worker.js, with heso_wasm:
// heso-receipt compiled to WebAssembly); this file only reads input, starts and cancels
// verifications, and shows results. Its thread is never given more than a batch of rows
// to show at a time.

const $ = (id) => document.getElementById(id);
const body = document.body;

/** The engine's verdicts in plain words; the engine's term is always shown beside them. */
const WORDS = {
  Valid: "Valid: signed and unaltered",
  WrongAlgorithm: "Not valid: not a receipt of this format (another algorithm)",
  Unsupported: "Not valid: a receipt version this verifier does not read",
  Malformed: "Not valid: not a well-formed receipt",
  HashMismatch: "Not valid: altered after signing",
  InvalidSignature: "Not valid: a signature does not verify",
  SelfApproval: "Not valid: the operator approved its own action",
  TrustLevelMismatch: "Not valid: claims a trust level its signatures do not give",
  UntrustedSigner: "Not valid: signed by a key you did not pin",
  IdentityMismatch: "Not valid: names another key than the one that signed",
  MalformedRedaction: "Not valid: its redaction markers do not match its fields",
  LinkBroken: "Not valid: out of place in its chain (a receipt removed, inserted or moved)",
  TornTail: "Not valid: the log ends in a partial line",
};
/** A bundle's verdicts (`heso verify BUNDLE`) beyond the receipt's own. */
const BUNDLE_WORDS = {
  OriginMismatch: "Not valid: the checkpoint is of another log than this receipt's",
  InvalidSignature: "Not valid: the checkpoint is not signed by the receipt's operator",
  SizeMismatch: "Not valid: the proof is for another tree than the checkpoint's",
  LeafIndexMismatch: "Not valid: the proof is for another position than the receipt's seq",
  HashMismatch: "Not valid: the receipt's action_hash cannot be a leaf of the tree",
  NotIncluded: "Not valid: the proof does not lead from this receipt to the checkpoint's root",
};
/** A checkpoint's verdicts against a log (`heso log verify --checkpoint`). */
const CHECKPOINT_WORDS = {
  Contained: "The log still contains this checkpoint",
  OriginMismatch: "Not valid: the checkpoint is of another log",
  InvalidSignature: "Not valid: the checkpoint's signature does not verify",
  Truncated: "Not valid: receipts were removed from the log's end since this checkpoint",
  RootMismatch: "Not valid: the log's receipts up to this checkpoint were changed since it was signed (or this log is a fork)",
};
/** Short forms for the table's verdict column. */
const SHORT = {
  Valid: "valid", WrongAlgorithm: "other algorithm", Unsupported: "unsupported version",
  Malformed: "not a receipt", HashMismatch: "altered", InvalidSignature: "bad signature",
  SelfApproval: "self-approved", TrustLevelMismatch: "wrong trust level",
  UntrustedSigner: "key not pinned", IdentityMismatch: "identity mismatch",
  MalformedRedaction: "bad redaction", LinkBroken: "chain broken",
};
/** What each recorded status means, for its badge's title. */
const STATUS_HELP = {
  allowed: "the policy allowed it", redacted: "allowed with fields hidden",
  blocked: "the policy refused it; it did not run", "awaiting approval": "parked until a person decides",
  observed: "a refusal recorded but not enforced (observe-only): the action ran",
  approved: "a person approved it (L1)", rejected: "a person rejected it (L1)",
  escalated: "a person escalated it (L1)", expired: "nobody decided it in time",
  resumed: "the one run of an approved action",
};
const LEVELS = "L0: signed by the operator's key alone. L1: also signed by an approver's key, " +
  "recording a person's decision (approved, rejected or escalated) on the action.";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "onclick") node.addEventListener("click", v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const number = (n) => Number(n).toLocaleString("en-US");
/** `1 receipt`, `2 receipts`: the CLI's words. */
const counted = (n, one, many) => `${number(n)} ${Number(n) === 1 ? one : many}`;

function copyButton(text) {
  return el("button", {
    type: "button", class: "copy", title: "Copy",
    onclick: (e) => {
      e.stopPropagation();
      navigator.clipboard?.writeText(text).then(() => { e.target.textContent = "Copied"; }, () => {});
    },
  }, "Copy");
}

/** A hash (or key) in full, wrapping, with a copy button. */
const full = (text, testid) => el("span", { class: "full" }, el("code", { "data-testid": testid }, text), " ", copyButton(text));

// ---------------------------------------------------------------------------------------
// State

let wasmModule = null;
let runs = 0;
let job = null; // the verification under way or last finished
let input = { kind: "text" }; // what Verify verifies: the text box, or the file chosen last
let checkpoints = []; // checkpoint files given beside a log: [{name, blob}]
let detailWorker = null;
let detailSeq = 0;

function setState(state) { body.dataset.state = state; }
function status(text) { $("status").textContent = text; }

function clearResult() {
  $("result").replaceChildren();
  $("progress-row").hidden = true;
  $("progress").value = 0;
  $("progress-text").textContent = "";
}

/** Stops the verification under way, if any: its worker (and helpers) are terminated. */
function stopJob() {
  if (job && job.worker) { job.worker.terminate(); job.worker = null; }
}

function cancel() {
  if (!job || body.dataset.state !== "verifying") return;
  stopJob();
  clearResult();
  setState("cancelled");
  status("Cancelled: nothing was verified to the end. Choose or paste again to verify.");
}

/** Starts a verification in a new worker; an old one is stopped and its result cleared. */
function start(message, label) {
  stopJob();
  clearResult();
  runs += 1;
  body.dataset.run = String(runs);
  delete body.dataset.elapsedMs;
  setState("verifying");
  status(`Verifying ${label}…`);
  const pins = $("pins").value;
  const worker = new Worker(new URL("worker.js", import.meta.url), { type: "module" });
  job = {
    worker, run: runs, label, pins, source: message, started: performance.now(),
    batches: [], count: 0, failed: [], parsed: new Map(),
  };
  const mine = job;
  worker.onmessage = ({ data }) => { if (job === mine) onMessage(mine, data); };
  worker.onerror = (e) => { if (job === mine) finishError(mine, `The verifier stopped: ${e.message || "worker error"}`); };
  worker.postMessage({ ...message, pins, module: wasmModule, helpers: navigator.hardwareConcurrency || 2 });
}

function verifyInput() {
  if (!wasmModule) return;
  if (input.kind === "file") { verifyFile(input.file); return; }
  const text = $("receipt").value;
  const bytes = new TextEncoder().encode(text);
  start({ type: "pasted", bytes, name: "pasted text" }, "the pasted text");
}

function verifyFile(file) {
  input = { kind: "file", file };
  // heso verify FILE: a .jsonl file is a log, any other file one receipt (Rust's
  // Path::extension: after the last dot of the name, when the dot is not its first byte).
  const dot = file.name.lastIndexOf(".");
  const isLog = dot > 0 && file.name.slice(dot + 1) === "jsonl";
  start(isLog ? { type: "log", file, name: file.name, checkpoints } : { type: "receipt", file }, file.name);
}

function elapsed(j) {
  const ms = performance.now() - j.started;
  body.dataset.elapsedMs = ms.toFixed(1);
  return ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function done(j) {
  if (j.worker) { j.worker.terminate(); j.worker = null; }
  setState("done");
}

function finishError(j, message) {
  if (j.worker) { j.worker.terminate(); j.worker = null; }
  $("progress-row").hidden = true;
  $("result").replaceChildren(el("div", { class: "card" },
    el("p", { class: "error", "data-testid": "error" }, message)));
  status("The verification stopped with an error.");
  setState("error");
}

function onMessage(j, data) {
  switch (data.type) {
    case "pin-error":
      done(j);
      $("result").replaceChildren(el("div", { class: "card" },
        el("p", { class: "error", "data-testid": "pin-error" }, data.message)));
      status("Fix the pinned keys, then verify again.");
      break;
    case "bundle":
      if (data.result.error && !data.result.cli) {
        done(j);
        $("result").replaceChildren(el("div", { class: "card" },
          el("p", { class: "error", "data-testid": "bundle-error" }, `Not an inclusion bundle heso can read: ${data.result.error}`)));
        status(`${j.label} looks like an inclusion bundle but does not parse.`);
        break;
      }
      $("result").replaceChildren(bundleView(data.result));
      status(`Checked ${j.label} in ${elapsed(j)}.`);
      done(j);
      break;
    case "receipt":
      if (data.result.error) { onMessage(j, { type: "pin-error", message: data.result.error }); return; }
      $("result").replaceChildren(receiptView(data.result));
      status(`Checked ${j.label} in ${elapsed(j)}.`);
      done(j);
      break;
    case "log-start":
      j.total = data.total;
      $("progress-row").hidden = false;
      $("progress").value = 0;
      $("progress-text").textContent = "starting…";
      j.view = logView(j);
      $("result").replaceChildren(j.view.root);
      break;
    case "workers":
      body.dataset.workers = String(data.count);
      break;
    case "rows": {
      // Kept as sent: a batch's rows are parsed only when one of them is shown.
      j.batches.push({ start: j.count, count: data.count, json: data.rows });
      for (const i of data.failed) j.failed.push(j.count + i);
      j.count += data.count;
      const fraction = data.total ? data.done / data.total : 1;
      $("progress").value = fraction;
      const counts = JSON.parse(data.counts);
      const failures = counts.receipts - (counts.counts.Valid || 0);
      $("progress-text").textContent = `${number(counts.receipts)} lines checked (${(fraction * 100).toFixed(0)}%)` +
        (failures ? `, ${number(failures)} not valid so far` : "");
      j.view.rowsChanged();
      break;
    }
    case "log":
      $("progress-row").hidden = true;
      j.view.finish(data.result);
      status(`Checked ${number(data.result.cli.receipts)} lines of ${j.label} in ${elapsed(j)}.`);
      done(j);
      break;
    case "error":
      finishError(j, `The verifier stopped: ${data.message}`);
      break;
    default:
  }
}

// ---------------------------------------------------------------------------------------
// One receipt

function verdictLine(kind, term, valid, words) {
  return el("div", { class: `verdict ${valid ? "valid" : "invalid"}`, "data-testid": "verdict", "data-kind": kind },
    el("span", { "data-testid": "words" }, words), " — ", el("code", { class: "term", "data-testid": "term" }, term));
}

function receiptWords(cli) {
  if (!cli.valid) return WORDS[cli.verdict] || `Not valid: ${cli.verdict}`;
  return cli.trust_level === "L1"
    ? "Valid: signed by the operator and an approver, unaltered"
    : "Valid: signed by the operator, unaltered";
}

/**
 * All signers of a report (a receipt's or a log's) together, in the report's own pin words:
 * `nothing_pinned` when the report says nothing was pinned, `pinned` when every signer's
 * `pin` is, else `not_pinned` (no signer at all is not pinned, when keys are).
 */
function pinsOf(cli) {
  if (!cli.pinned) return "nothing_pinned";
  return cli.signers.length && cli.signers.every((s) => s.pin === "pinned") ? "pinned" : "not_pinned";
}
const PIN_CLASS = { pinned: "pinned", nothing_pinned: "unpinned", not_pinned: "stranger" };
/** A signer's `pin` in the words `heso verify` prints. */
const PIN_WORDS = { pinned: "pinned", nothing_pinned: "nothing pinned", not_pinned: "NOT pinned" };

function pinStatusLine(pins, text) {
  return el("div", { class: `pin-status ${PIN_CLASS[pins]}`, "data-testid": "pin-status", "data-pins": pins }, text);
}

function pinLine(cli) {
  const keys = cli.signers.map((s) => `${s.role} ${s.key}`);
  const operator = cli.signers.find((s) => s.role === "operator");
  const pins = pinsOf(cli);
  let text;
  if (!cli.signers.length) {
    text = "No signer could be read from this input.";
  } else if (pins === "nothing_pinned" && !cli.valid) {
    text = `Nothing was pinned; the receipt names ${keys.join(" and ")} as its signer${keys.length > 1 ? "s" : ""} (not verified).`;
  } else if (pins === "nothing_pinned") {
    const approver = cli.signers.find((s) => s.role === "approver");
    text = `Valid, but nothing was pinned: check that this key is the operator you expect — ${operator ? operator.key : keys[0]}` +
      (approver ? `, and the approver — ${approver.key}` : "");
  } else if (pins === "pinned") {
    text = `Signed by keys you pinned: ${keys.join(", ")}`;
  } else {
    const stranger = cli.signers.filter((s) => s.pin !== "pinned").map((s) => `${s.role} ${s.key}`);
    text = `Signed by a key you did not pin: ${stranger.join(", ")}`;
  }
  return pinStatusLine(pins, text);
}

function details(rows) {
  const dl = el("dl");
  for (const [name, value, testid] of rows) {
    if (value === null || value === undefined || value === "") continue;
    dl.append(el("dt", {}, name), el("dd", testid ? { "data-testid": testid } : {}, value));
  }
  return dl;
}

const json = (value) => el("pre", { class: "json" }, JSON.stringify(value, null, 2));

/** What a receipt records, field by field. */
function recorded(result) {
  const r = result.receipt;
  const c = r.content;
  const a = c.action;
  const p = c.policy;
  const d = c.approver_decision;
  const red = c.redaction;
  const valid = result.cli.valid;
  const verified = result.cli.signers.map((s) => [
    valid ? s.role : `claimed ${s.role}`,
    `${s.key}${s.role === "approver" && d ? ` (${d.decision})` : ""}${valid ? "" : " (not verified)"}`,
    s.role,
  ]);
  return details([
    ["what", el("span", {}, `${a.verb} ${a.tool_name} `, statusBadge(r.status))],
    ["action_hash", full(c.action_hash, "action-hash")],
    ["captured at", c.captured_at],
    ["agent identity", el("span", { "data-testid": "agent-identity" }, r.agent_identity_did,
      el("span", { class: "muted" }, ` (${c.agent_identity})`))],
    ...verified,
    ["trust level", `${c.trust_level} (as the receipt states it; ${valid ? "derived from the signatures and equal" : "not checked"})`, "trust-level"],
    ["approver's decision", d && el("span", { "data-testid": "approver-decision" },
      `${d.decision} by ${r.approver_identity_did} at ${d.decided_at}: “${d.reason}”`)],
    ["workflow / account", `${a.workflow} / ${a.account}`],
    ["target host", a.target_host],
    ["policy", el("span", {}, el("code", {}, p.rule_id), `: ${p.rule_display} → ${p.decision_path}`)],
    ["matched conditions", p.matched_conditions.length ? p.matched_conditions.map((m) => `${m.field} ${m.op} ${JSON.stringify(m.value)}`).join("; ") : null],
    ["fields", el("div", { "data-testid": "fields" }, json(a.fields))],
    ["redaction", red && el("div", {},
      el("div", {}, `${red.mode}${red.merkle_root ? "; merkle_root " : ""}`, red.merkle_root ? full(red.merkle_root) : null),
      el("ul", { class: "markers" }, red.markers.map((m) => el("li", { "data-testid": "marker" },
        el("code", {}, m.field_path), ` ${m.algorithm}`, m.commitment ? el("span", {}, " commitment ", full(m.commitment)) : " (value dropped)"))))],
    ["result hash", a.result_hash],
    ["error", a.error !== undefined ? JSON.stringify(a.error) : null],
    ["chain", c.session_id !== undefined ? `session ${c.session_id}, seq ${c.seq}` : null],
    ["prev_receipt_hash", c.prev_receipt_hash ? full(c.prev_receipt_hash) : null],
  ]);
}

function statusBadge(status) {
  if (!status) return null;
  return el("span", { class: `status status-${status.replace(/ /g, "-")}`, "data-testid": "status", title: STATUS_HELP[status] || "" }, status);
}

/** One receipt's verdict and contents. `inLog`: its row in a log, when it came from one. */
function receiptView(result, inLog) {
  const cli = result.cli;
  const card = el("div", { class: "card" });
  const kind = inLog ? inLog.k : cli.verdict;
  const valid = kind === "Valid";
  const relinked = inLog && inLog.k !== cli.verdict;
  const words = relinked ? WORDS[inLog.k] : receiptWords(cli);
  const term = valid ? result.text : kind;
  card.append(verdictLine(kind, term, valid, words), pinLine(cli));
  const detail = relinked ? inLog.t.replace(/^[A-Za-z]+: /, "") : cli.detail;
  if (detail) card.append(el("p", { class: "detail", "data-testid": "detail" }, detail));
  if (relinked) card.append(el("p", {}, `On its own, the receipt is ${result.text}.`));
  if (result.receipt) {
    const claims = recorded(result);
    if (cli.valid) card.append(claims);
    else card.append(el("section", { class: "unverified", "data-testid": "unverified" },
      el("p", { class: "label" }, "Unverified — what this receipt claims. It failed verification, so none of it can be relied on."), claims));
  }
  card.append(el("p", { class: "levels muted", "data-testid": "levels" }, LEVELS));
  card.append(el("details", {}, el("summary", {}, "The verdict as JSON (heso verify --json)"),
    el("pre", { class: "json", "data-testid": "json" }, JSON.stringify(cli))));
  const pinned = cli.pinned ? "signers pinned to the keys given" : "no signer pinned: check who signed";
  card.append(el("p", { class: "muted footer", "data-testid": "footer" }, cli.valid
    ? `(verified offline in this browser — ${pinned})`
    : "(checked offline in this browser: this receipt is not valid, so nothing above is vouched for)"));
  return card;
}

// ---------------------------------------------------------------------------------------
// An inclusion bundle (heso prove): a receipt, a signed checkpoint and the proof

function bundleView(result) {
  const cli = result.cli;
  const card = el("div", { class: "card bundle" });
  let words;
  if (cli.valid) {
    words = `Included in checkpoint ${number(cli.tree_size)} of ${cli.origin}, signed by ${cli.operator}`;
  } else if (cli.receipt_verdict !== "Valid") {
    words = `Not valid: the receipt itself — ${WORDS[cli.receipt_verdict] || cli.receipt_verdict}`;
  } else {
    words = BUNDLE_WORDS[cli.verdict] || `Not valid: ${cli.verdict}`;
  }
  card.append(verdictLine(cli.verdict, cli.verdict, cli.valid, words));
  if (cli.valid) {
    card.append(el("p", { "data-testid": "bundle-inclusion" },
      `Receipt ${number(cli.leaf_index)} (its seq) is leaf ${number(cli.leaf_index)} of the tree of ${number(cli.tree_size)} receipts whose root the checkpoint signs. `,
      "The checkpoint is signed by the key that signed the receipt; keep a copy of the checkpoint somewhere the agent cannot write, and it shows this receipt can never be removed from the log unnoticed."));
  } else if (cli.detail) {
    card.append(el("p", { class: "detail", "data-testid": "detail" }, cli.detail));
  }
  card.append(details([
    ["checkpoint origin", el("code", { "data-testid": "bundle-origin" }, result.claimed.origin)],
    ["tree size", number(result.claimed.size)],
    ["root hash", full(result.claimed.root)],
    ["leaf index", number(result.claimed.leaf_index)],
  ]));
  if (!cli.valid) card.append(el("p", { class: "muted" }, "The checkpoint's fields above are as the bundle states them: not verified."));
  card.append(el("details", { class: "cli" }, el("summary", {}, "What heso verify prints for this bundle"),
    el("pre", { "data-testid": "cli-words" }, result.words.join("\n"))));
  card.append(el("details", {}, el("summary", {}, "The verdict as JSON (heso verify --json)"),
    el("pre", { class: "json", "data-testid": "bundle-json" }, JSON.stringify(cli))));
  const receipt = receiptView(result.receipt_view);
  receipt.prepend(el("h3", {}, "The receipt"));
  // The bundle's verdict is the page's; the receipt's own is one part of it.
  const own = receipt.querySelector("[data-testid=verdict]");
  if (own) own.dataset.testid = "receipt-verdict";
  return el("div", { "data-testid": "bundle" }, card, receipt);
}

// ---------------------------------------------------------------------------------------
// A log

const ROW_HEIGHT = 38;
/** Tallest scroll area used: past it, scrolling maps proportionally onto the rows. */
const MAX_SCROLL = 4_000_000;

function logView(j) {
  const summary = el("div", { class: "summary" },
    el("p", { class: "muted" }, `Verifying ${j.label}; rows appear as they are checked.`));
  const onlyFailures = el("input", { type: "checkbox", id: "failures-only", "data-testid": "failures-only" });
  const filterCount = el("span", {});
  const spacer = el("div", { class: "spacer" });
  const windowEl = el("div", { class: "window" });
  const rowsEl = el("div", { class: "rows", "data-testid": "rows", tabindex: "0" }, spacer, windowEl);
  const detail = el("div", { class: "row-detail", "data-testid": "row-detail" });
  const root = el("div", { class: "card log" }, summary,
    el("h3", {}, "Receipts"),
    el("div", { class: "filter" }, el("label", { for: "failures-only" }, onlyFailures, " failures only "), filterCount),
    el("div", { class: "row head", "aria-hidden": "true" },
      el("span", { class: "line" }, "line"), el("span", { class: "v" }, "verdict"), el("span", { class: "st" }, "recorded"),
      el("span", { class: "what" }, "what"), el("span", { class: "hash" }, "action_hash")),
    rowsEl, detail);
  let pending = false;
  let shown = "";
  const list = () => (onlyFailures.checked ? j.failed : null);
  const count = () => (list() ? list().length : j.count);
  function render() {
    pending = false;
    const n = count();
    filterCount.textContent = `(${number(j.failed.length)} of ${number(j.count)} not valid)`;
    const total = n * ROW_HEIGHT;
    const height = Math.min(total, MAX_SCROLL);
    spacer.style.height = `${height}px`;
    rowsEl.style.height = `${Math.min(Math.max(n, 1), 14) * ROW_HEIGHT + 2}px`;
    const view = rowsEl.clientHeight;
    const scrollable = Math.max(height - view, 0);
    const rowsScrollable = Math.max(total - view, 0);
    const top = scrollable ? (rowsEl.scrollTop / scrollable) * rowsScrollable : 0;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - 5);
    const last = Math.min(n, Math.ceil((top + view) / ROW_HEIGHT) + 5);
    windowEl.style.transform = `translateY(${rowsEl.scrollTop + (first * ROW_HEIGHT - top)}px)`;
    // While rows stream in below the visible ones, the shown rows stay as they are.
    const key = `${first}:${last}:${onlyFailures.checked}`;
    if (key === shown) return;
    shown = key;
    const nodes = [];
    for (let i = first; i < last; i++) {
      const index = list() ? list()[i] : i;
      nodes.push(rowNode(j, rowAt(j, index), detail));
    }
    windowEl.replaceChildren(...nodes);
  }
  const schedule = () => { if (!pending) { pending = true; requestAnimationFrame(render); } };
  rowsEl.addEventListener("scroll", schedule);
  onlyFailures.addEventListener("change", () => { rowsEl.scrollTop = 0; render(); });
  return {
    root,
    rowsChanged: schedule,
    finish(result) {
      summary.replaceChildren(...logSummary(result));
      render();
    },
  };
}

/** Row `i` of the log, parsing its batch when first needed (a few batches are kept). */
function rowAt(j, i) {
  let lo = 0;
  let hi = j.batches.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (j.batches[mid].start <= i) lo = mid; else hi = mid - 1;
  }
  const batch = j.batches[lo];
  let rows = j.parsed.get(batch);
  if (!rows) {
    rows = JSON.parse(batch.json);
    j.parsed.set(batch, rows);
    if (j.parsed.size > 8) j.parsed.delete(j.parsed.keys().next().value);
  }
  return rows[i - batch.start];
}

function rowNode(j, row, detail) {
  const ok = row.k === "Valid";
  return el("div", {
    class: `row${ok ? "" : " failed"}`, "data-testid": "log-row", "data-line": row.n, "data-kind": row.k,
    "data-status": row.st || "", role: "button", tabindex: "0", title: row.t,
    onclick: () => showRow(j, row, detail),
  },
  el("span", { class: "line" }, number(row.n)),
  el("span", { class: "v" }, el("span", { class: ok ? "ok" : "bad" }, ok ? "✓ " : "✗ "),
    ok ? row.t.replace(/^Valid /, "valid ") : `${SHORT[row.k] || row.k} `, ok ? null : el("code", {}, row.k)),
  el("span", { class: "st" }, statusBadge(row.st)),
  el("span", { class: "what" }, row.v ? `${row.v} ${row.tool}` : ""),
  el("span", { class: "hash" }, row.h ? el("code", {}, row.h) : ""));
}

/** A row's receipt, verified again on its own (in a worker) and shown under the table. */
function showRow(j, row, detail) {
  detail.replaceChildren(el("p", { class: "muted" }, `Line ${number(row.n)}…`));
  if (!detailWorker) detailWorker = new Worker(new URL("worker.js", import.meta.url), { type: "module" });
  const id = ++detailSeq;
  const source = j.source.type === "log"
    ? { file: j.source.file.slice(row.o, row.o + row.l) }
    : { bytes: j.source.bytes.slice(row.o, row.o + row.l) };
  detailWorker.onmessage = ({ data }) => {
    if (id !== detailSeq) return;
    if (data.type !== "receipt") { detail.replaceChildren(el("p", { class: "error" }, data.message || "error")); return; }
    const view = receiptView(data.result, row);
    view.prepend(el("h3", {}, `Line ${number(row.n)}`));
    detail.replaceChildren(view);
    detail.scrollIntoView({ block: "nearest" });
  };
  detailWorker.postMessage({ type: "receipt", ...source, pins: j.pins, module: wasmModule });
}

function logSummary(result) {
  const cli = result.cli;
  const failed = cli.receipts - (cli.counts.Valid || 0);
  const checks = result.checkpoints || [];
  const lost = checks.filter((c) => !c.valid).length;
  let words;
  if (result.log_valid) {
    words = cli.receipts ? "Valid: every receipt and every chain" : "Valid: the log is empty";
    if (checks.length) words += lost ? `, but it does not contain ${lost === 1 ? "a checkpoint" : `${lost} checkpoints`} given` : `, and it contains every checkpoint given`;
    if (lost) words = `Not valid: ${words.slice("Valid: ".length)}`;
  } else {
    words = `Not valid: ${number(failed)} of ${number(cli.receipts)} receipts failed${cli.torn_tail ? ", and the log ends in a partial line" : ""}`;
    if (lost) words += `, and it does not contain ${lost === 1 ? "a checkpoint" : `${lost} checkpoints`} given`;
  }
  const out = [
    verdictLine(result.all_valid ? "Valid" : "NotValid", result.all_valid ? "all receipts valid, chains intact" : "NOT VALID", result.all_valid, words),
    logPinLine(cli),
    el("p", {}, `${counted(cli.receipts, "receipt", "receipts")} in ${counted(cli.sessions.length, "session", "sessions")}.`),
    el("ul", { class: "counts" }, Object.entries(cli.counts).map(([kind, n]) =>
      el("li", { "data-testid": "count", "data-kind": kind, "data-count": n, class: kind === "Valid" ? "ok" : "bad" },
        `${number(n)} ${kind === "Valid" ? "valid" : SHORT[kind] || kind} `, el("code", {}, kind)))),
  ];
  if (result.torn_tail) out.push(el("p", { class: "bad", "data-testid": "torn-tail" }, `${WORDS.TornTail} — ${result.torn_tail}`));
  if (checks.length) {
    out.push(el("h3", {}, "Checkpoints"), el("p", { class: "muted" },
      "A checkpoint signs the log's size and Merkle root: the log must still hold its receipts, unchanged."));
    out.push(el("ul", { class: "checkpoints" }, checks.map((c) =>
      el("li", { "data-testid": "checkpoint", "data-verdict": c.verdict, "data-file": c.file, class: c.valid ? "ok" : "bad" },
        el("strong", {}, c.valid
          ? `${CHECKPOINT_WORDS.Contained}: ${number(c.size)} receipts of ${c.origin}, signed by ${c.operator}`
          : CHECKPOINT_WORDS[c.verdict] || `Not valid: ${c.verdict}`),
        " — ", el("code", {}, c.verdict), el("br"),
        el("span", { class: "detail", "data-testid": "checkpoint-detail" }, `${c.file}: ${c.detail}`)))));
  }
  out.push(el("h3", {}, "Chains"), el("p", { class: "muted" },
    "Each session's last receipt: record its action_hash elsewhere, so a log cut short later is caught."));
  out.push(el("ul", { class: "sessions" }, cli.sessions.map((s) =>
    el("li", { "data-testid": "session", "data-session": s.session_id, "data-last-seq": s.last_seq, "data-head": s.head_hash },
      `session ${s.session_id}: ${number(s.receipts)} receipts, head seq ${s.last_seq}, action_hash `, full(s.head_hash)))));
  if (!cli.sessions.length) out.push(el("p", { class: "muted" }, "No receipt names a session."));
  out.push(el("h3", {}, "Signers"), el("ul", { class: "signers" }, cli.signers.map((s) =>
    el("li", { "data-testid": "signer", "data-key": s.key, "data-role": s.role, "data-count": s.receipts, "data-pin": s.pin, class: `pin-${s.pin}` },
      el("span", { class: "role" }, s.role), " ", el("code", {}, s.key),
      ` — ${number(s.receipts)} receipts (${number(s.valid)} valid); `,
      el("strong", {}, PIN_WORDS[s.pin])))));
  out.push(el("details", { class: "cli" }, el("summary", {}, "What heso verify prints for this log"),
    el("pre", { "data-testid": "cli-words" }, result.words.join("\n"))));
  out.push(el("details", {}, el("summary", {}, "The report as JSON (heso verify --json)"),
    el("pre", { class: "json", "data-testid": "json" }, JSON.stringify(cli))));
  out.push(el("p", { class: "levels muted", "data-testid": "levels" }, LEVELS));
  return out;
}

function logPinLine(cli) {
  const keys = cli.signers.length;
  const pins = pinsOf(cli);
  let text;
  if (!keys) text = "No signer could be read from this log.";
  else if (pins === "nothing_pinned") text = `Nothing was pinned: check that the ${keys === 1 ? "key" : `${keys} keys`} below ${keys === 1 ? "is" : "are"} the operator and approvers you expect.`;
  else if (pins === "pinned") text = "Every signer is a key you pinned.";
  else text = "Some receipts are signed by keys you did not pin (see Signers).";
  const operators = cli.signers.filter((s) => s.role === "operator").length;
  if (operators > 1) text += ` ${operators} different operator keys signed this log.`;
  return pinStatusLine(pins, text);
}

// ---------------------------------------------------------------------------------------
// Input

/** Whether a file is a checkpoint (a signed note of a heso origin): its first bytes say. */
async function isCheckpoint(file) {
  if (file.size > (1 << 20)) return false;
  const head = new TextDecoder().decode(await file.slice(0, 13).arrayBuffer());
  return head === "heso.dev/log/";
}

function showCheckpoints() {
  $("checkpoint-row").hidden = checkpoints.length === 0;
  $("checkpoint-list").textContent = checkpoints.length
    ? `Checkpoints: ${checkpoints.map((c) => c.name).join(", ")}`
    : "";
}

/** Sets the checkpoint files; a log being shown is verified again with them. */
function setCheckpoints(files) {
  checkpoints = files.map((file) => ({ name: file.name, blob: file }));
  showCheckpoints();
  if (input.kind === "file" && input.file.name.endsWith(".jsonl")) verifyFile(input.file);
  else if (checkpoints.length) {
    stopJob();
    clearResult();
    setState("idle");
    status("Checkpoints chosen: choose or drop the .jsonl log they are of.");
  }
}

/** Files chosen or dropped together: checkpoints go beside the log, the rest is verified. */
async function takeFiles(files) {
  const given = [];
  const rest = [];
  for (const file of files) ((await isCheckpoint(file)) ? given : rest).push(file);
  const area = $("receipt");
  if (given.length) {
    checkpoints = given.map((file) => ({ name: file.name, blob: file }));
    showCheckpoints();
  }
  const file = rest.find((f) => f.name.endsWith(".jsonl")) || rest[0];
  if (!file) { setCheckpoints(given); return; }
  area.value = "";
  area.placeholder = `Chosen file: ${file.name} (${number(file.size)} bytes), verified from its bytes. Type here to verify text instead.`;
  verifyFile(file);
}

async function main() {
  if (location.protocol === "file:") return; // boot.js says how to serve the folder
  wasmModule = await WebAssembly.compileStreaming(fetch(new URL("pkg/heso_wasm_bg.wasm", import.meta.url)));
  const area = $("receipt");
  $("verify").disabled = false;
  $("verify").addEventListener("click", verifyInput);
  $("cancel").addEventListener("click", cancel);
  area.addEventListener("input", () => {
    input = { kind: "text" };
    area.placeholder = "";
    stopJob();
    clearResult();
    setState("idle");
    status("Press Verify to check the text.");
  });
  $("pins").addEventListener("input", () => {
    stopJob();
    clearResult();
    setState("idle");
    status("Press Verify (or Enter) to check with these pins.");
  });
  $("pins").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); verifyInput(); } });
  $("file").addEventListener("change", (e) => {
    const files = [...e.target.files];
    // Cleared, so choosing the same file again is a change and verifies it again.
    e.target.value = "";
    if (files.length) takeFiles(files);
  });
  $("checkpoints").addEventListener("change", (e) => {
    const files = [...e.target.files];
    e.target.value = "";
    if (files.length) setCheckpoints(files);
  });
  $("forget-checkpoints").addEventListener("click", () => setCheckpoints([]));
  for (const target of [area, document.body]) {
    target.addEventListener("dragover", (e) => { e.preventDefault(); area.classList.add("dragging"); });
    target.addEventListener("dragleave", () => area.classList.remove("dragging"));
    target.addEventListener("drop", (e) => {
      e.preventDefault();
      area.classList.remove("dragging");
      const files = [...e.dataTransfer.files];
      if (files.length) takeFiles(files);
    });
  }
  setState("idle");
  status("Ready. Verification runs on this machine.");
  body.dataset.ready = "true";
}

main().catch((e) => { status(`The verifier could not start: ${e}`); });
