// The heso browser verifier: all checks run in heso_wasm (heso-receipt compiled to
// WebAssembly). This file only reads input and shows results.
import init, { verify_receipt_json, verify_log_json } from "./pkg/heso_wasm.js";

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function details(result) {
  const dl = el("dl");
  const add = (name, value, testid) => {
    if (value === null || value === undefined || value === "") return;
    dl.append(el("dt", {}, name), el("dd", testid ? { "data-testid": testid, class: "mono" } : { class: "mono" }, value));
  };
  const r = result.receipt;
  if (r) add("action_hash", r.action_hash, "action-hash");
  add("trust level", result.trust_level, "trust-level");
  if (result.valid) {
    add("operator", result.operator, "operator");
    if (result.approver) add("approver", `${result.approver} (${result.approver_decision})`, "approver");
  } else {
    for (const s of result.claimed_signers || []) add(`claimed ${s.role}`, `${s.key} (not verified)`);
  }
  if (r) {
    add("what", `${r.verb} ${r.tool}`, "what");
    add("workflow / account", `${r.workflow} / ${r.account}`);
    add("target host", r.target_host);
    add("decision", r.decision, "decision");
    add("rule", `${r.rule_id}: ${r.rule_display}`, "rule");
    add("captured at", r.captured_at);
    if (r.session_id) add("chain", `session ${r.session_id}, seq ${r.seq}`);
    for (const m of r.markers || []) {
      add("redacted", `${m.field_path} (${m.algorithm}${m.commitment ? " " + m.commitment : ""})`, "marker");
    }
  }
  return dl;
}

function showOne(result) {
  const out = $("result");
  out.replaceChildren();
  if (result.error) {
    out.append(el("div", { class: "card" }, el("div", { class: "verdict invalid", "data-testid": "verdict" }, result.error)));
    return;
  }
  out.append(
    el("div", { class: "card" },
      el("div", { class: `verdict ${result.valid ? "valid" : "invalid"}`, "data-testid": "verdict", "data-kind": result.kind }, result.text),
      details(result),
      el("p", { class: "muted" }, "(verified offline in this browser — " +
        ($("pins").value.trim() ? "signers pinned to the keys given)" : "no signer pinned: check who signed)")),
    ),
  );
}

function showLog(report) {
  const out = $("result");
  out.replaceChildren();
  if (report.error) return showOne(report);
  const summary = report.all_valid ? "Valid: every receipt and every chain" : "NOT VALID";
  const table = el("table", {}, el("tr", {}, el("th", {}, "line"), el("th", {}, "verdict"), el("th", {}, "what"), el("th", {}, "action_hash")));
  for (const line of report.lines) {
    const r = line.receipt || {};
    table.append(el("tr", { "data-testid": "log-line" },
      el("td", {}, line.line),
      el("td", { class: line.valid ? "verdict-cell valid" : "verdict-cell invalid", "data-kind": line.kind }, line.text),
      el("td", {}, r.verb ? `${r.verb} ${r.tool} (${r.decision})` : ""),
      el("td", { class: "mono" }, r.action_hash ? r.action_hash.slice(0, 16) : "")));
  }
  const sessions = el("ul");
  for (const s of report.sessions) {
    sessions.append(el("li", { "data-testid": "session" }, `session ${s.session_id}: ${s.chain}; head seq ${s.last_seq} ${s.head_hash || ""}`));
  }
  out.append(el("div", { class: "card" },
    el("div", { class: `verdict ${report.all_valid ? "valid" : "invalid"}`, "data-testid": "verdict" }, summary),
    report.torn_tail ? el("p", {}, report.torn_tail) : null,
    table, el("h3", {}, "Chains"), sessions));
}

function looksLikeLog(text, name) {
  if (name && name.endsWith(".jsonl")) return true;
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  return lines.length > 1 && lines.every((l) => l.trim().startsWith("{") && l.trim().endsWith("}"));
}

let fileName = "";

function run() {
  const text = $("receipt").value;
  const pins = $("pins").value;
  if (looksLikeLog(text, fileName)) showLog(JSON.parse(verify_log_json(text, pins)));
  else showOne(JSON.parse(verify_receipt_json(text, pins)));
}

async function loadFile(file) {
  fileName = file.name;
  $("receipt").value = await file.text();
  run();
}

async function main() {
  await init();
  $("verify").disabled = false;
  $("status").textContent = "Ready. Verification runs locally.";
  $("verify").addEventListener("click", () => { run(); });
  $("receipt").addEventListener("input", () => { fileName = ""; });
  $("file").addEventListener("change", (e) => { if (e.target.files[0]) loadFile(e.target.files[0]); });
  const area = $("receipt");
  area.addEventListener("dragover", (e) => { e.preventDefault(); area.classList.add("dragging"); });
  area.addEventListener("dragleave", () => area.classList.remove("dragging"));
  area.addEventListener("drop", (e) => {
    e.preventDefault();
    area.classList.remove("dragging");
    if (e.dataTransfer.files[0]) loadFile(e.dataTransfer.files[0]);
  });
  document.body.dataset.ready = "true";
}

main().catch((e) => { $("status").textContent = `The verifier could not start: ${e}`; });
