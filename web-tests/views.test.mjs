// What an auditor sees: verdicts in plain words with the engine's term beside them, who
// signed and whether that key was pinned, a failed receipt's claims shown as unverified,
// everything a receipt records, a log's summary, signers, chains and rows, and the page
// behaving as inputs change. Screenshots of each state go to test-artifacts/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { join } from "node:path";
import {
  serve, launch, open, choose, paste, verdict, pageJson, screenshot, vector, write, mixedLog,
  webRoot,
} from "./support.mjs";

let served, browser, page;
const keys = vector("keys.json");
const l0 = vector("receipt_l0.json").receipt;
const l1 = vector("receipt_l1.json").receipt;
const chain = vector("chain_3.json").receipts.map((r) => JSON.stringify(r));

before(async () => {
  served = await serve();
  browser = await launch();
  ({ page } = await open(browser, served.origin));
});

after(async () => {
  await browser?.close();
  served?.server.close();
});

const text = (selector) => page.locator(selector).first().textContent();

test("a valid receipt with nothing pinned: plain words, the engine's term, and a pin warning as prominent as the verdict", async () => {
  await paste(page, JSON.stringify(l0, null, 2));
  const v = await verdict(page);
  assert.equal(v.kind, "Valid");
  assert.equal(v.term, "Valid (L0)");
  assert.match(v.words, /^Valid/);
  const pin = page.locator("#result [data-testid=pin-status]");
  // The report's own words: every signer's pin, and the report's `pinned`.
  assert.equal(await pin.getAttribute("data-pins"), "nothing_pinned");
  assert.equal((await pageJson(page)).pinned, false);
  assert.match(await pin.textContent(), /nothing was pinned: check that this key is the operator you expect/i);
  assert.match(await pin.textContent(), new RegExp(keys.operator.did_key));
  // As prominent: the same font size and weight as the verdict.
  const style = (sel) => page.locator(sel).evaluate((e) => {
    const s = getComputedStyle(e);
    return [s.fontSize, s.fontWeight];
  });
  assert.deepEqual(await style("#result [data-testid=pin-status]"), await style("#result [data-testid=verdict]"));
  await screenshot(page, "receipt-valid-unpinned");

  await paste(page, JSON.stringify(l0, null, 2), keys.operator.did_key);
  assert.equal(await pin.getAttribute("data-pins"), "pinned");
  assert.match(await pin.textContent(), /signed by keys you pinned/i);
  assert.deepEqual((await pageJson(page)).pinned_keys, [keys.operator.did_key]);
  await screenshot(page, "receipt-valid-pinned");
});

test("a tampered receipt: 'Not valid: altered after signing — HashMismatch', both hashes in full, its claims dimmed and labelled unverified", async () => {
  const tampered = structuredClone(l0);
  tampered.content.action.fields.query = "something else";
  await paste(page, JSON.stringify(tampered, null, 2));
  const v = await verdict(page);
  assert.equal(v.kind, "HashMismatch");
  assert.equal(v.text.replace(/\s+/g, " ").trim(), "Not valid: altered after signing — HashMismatch");
  const detail = await text("#result [data-testid=detail]");
  const hashes = detail.match(/[0-9a-f]{64}/g) || [];
  assert.equal(hashes.length, 2, detail);
  assert.equal(hashes[0], l0.content.action_hash);
  assert.notEqual(hashes[0], hashes[1]);
  const claims = page.locator("#result [data-testid=unverified]");
  assert.match(await claims.textContent(), /unverified/i);
  assert.ok(Number(await claims.evaluate((e) => getComputedStyle(e).opacity)) < 1, "the claims are dimmed");
  assert.match(await claims.textContent(), /something else/);
  assert.doesNotMatch(await text("#result [data-testid=footer]"), /verified/i);
  await screenshot(page, "receipt-hash-mismatch");
});

test("an untrusted signer: the receipt names the key that signed and says it was not pinned", async () => {
  await paste(page, JSON.stringify(l0), keys.other.did_key);
  const v = await verdict(page);
  assert.equal(v.kind, "UntrustedSigner");
  assert.match(v.words, /^Not valid/);
  const pin = page.locator("#result [data-testid=pin-status]");
  assert.equal(await pin.getAttribute("data-pins"), "not_pinned");
  assert.match(await pin.textContent(), /signed by a key you did not pin/i);
  assert.match(await pin.textContent(), new RegExp(keys.operator.did_key));
  await screenshot(page, "receipt-untrusted-signer");
});

test("everything a receipt records: fields, agent identity, the approver's decision, reason and time, and what L0/L1 mean", async () => {
  await paste(page, JSON.stringify(l1, null, 2));
  assert.equal((await verdict(page)).term, "Valid (L1)");
  const shown = await text("#result");
  assert.match(await text("#result [data-testid=agent-identity]"), new RegExp(keys.operator.did_key));
  const decision = await text("#result [data-testid=approver-decision]");
  assert.match(decision, new RegExp(l1.content.approver_decision.decision));
  assert.ok(decision.includes(l1.content.approver_decision.reason), decision);
  assert.ok(decision.includes(l1.content.approver_decision.decided_at), decision);
  assert.match(decision, new RegExp(keys.approver.did_key));
  for (const [k, value] of Object.entries(l1.content.action.fields)) {
    assert.ok(shown.includes(k), `field ${k}`);
    if (typeof value === "string") assert.ok(shown.includes(value), `field ${k} value`);
  }
  assert.match(await text("#result [data-testid=levels]"), /L0.*operator.*L1.*approver/s);
  await screenshot(page, "receipt-l1");

  const redacted = vector("redaction_commit_reveal.json");
  await paste(page, JSON.stringify(redacted.receipt, null, 2));
  const markers = page.locator("#result [data-testid=marker]");
  assert.ok(await markers.count() >= 1);
  const marker = redacted.receipt.content.redaction.markers[0];
  assert.ok((await markers.first().textContent()).includes(marker.commitment));
  assert.ok((await markers.first().textContent()).includes(marker.field_path));
  await screenshot(page, "receipt-redacted");
});

test("a log: summary, counts by verdict, chains at the top, each signer with its count and pin status, statuses marked", async () => {
  const log = mixedLog();
  await choose(page, log);
  const report = await pageJson(page);
  assert.equal(report.all_valid, true);
  const v = await verdict(page);
  assert.equal(v.kind, "Valid");
  assert.equal(v.term, "all receipts valid, chains intact");
  // Chains come before the rows.
  const order = await page.evaluate(() => {
    const at = (sel) => document.querySelector(sel)?.getBoundingClientRect().top ?? -1;
    return [at("#result [data-testid=session]"), at("#result [data-testid=rows]")];
  });
  assert.ok(order[0] >= 0 && order[0] < order[1], `chains at ${order[0]}, rows at ${order[1]}`);
  assert.equal(await page.locator("#result [data-testid=session]").count(), 2);
  // Three keys: two operators, one approver; nothing pinned.
  const signers = await page.locator("#result [data-testid=signer]").evaluateAll((rows) =>
    rows.map((r) => ({ key: r.dataset.key, role: r.dataset.role, count: Number(r.dataset.count), pin: r.dataset.pin })));
  const byKey = Object.fromEntries(signers.map((s) => [`${s.role} ${s.key}`, s]));
  assert.equal(byKey[`operator ${keys.operator.did_key}`].count, 9);
  assert.equal(byKey[`approver ${keys.approver.did_key}`].count, 2);
  assert.equal(byKey[`operator ${keys.other.did_key}`].count, 2);
  assert.ok(signers.every((s) => s.pin === "nothing_pinned"));
  // The rows are the report's `signers`, in its order, with its pin words.
  assert.deepEqual(signers.map((s) => [s.role, s.key, s.count, s.pin]),
    report.signers.map((s) => [s.role, s.key, s.receipts, s.pin]));
  assert.match(await text("#result [data-testid=pin-status]"), /nothing was pinned/i);
  // Observed, approved, rejected and resumed receipts are each marked, differently.
  const rows = await page.locator("#result [data-testid=log-row]").evaluateAll((rs) =>
    rs.map((r) => ({ status: r.dataset.status, cls: r.querySelector("[data-testid=status]").className })));
  const statuses = rows.map((r) => r.status);
  for (const s of ["allowed", "redacted", "observed", "blocked", "awaiting approval", "approved", "resumed", "rejected"]) {
    assert.ok(statuses.includes(s), `no ${s} row: ${statuses}`);
  }
  const cls = (s) => rows.find((r) => r.status === s).cls;
  assert.equal(new Set(["observed", "approved", "rejected", "allowed"].map(cls)).size, 4);
  await screenshot(page, "log-valid-two-operators");

  // Pinning the first operator: the second operator's receipts fail and its key says so.
  await choose(page, log, keys.operator.did_key);
  const pinned = await page.locator("#result [data-testid=signer]").evaluateAll((rs) =>
    rs.map((r) => `${r.dataset.role} ${r.dataset.key} ${r.dataset.pin}`));
  assert.ok(pinned.includes(`operator ${keys.operator.did_key} pinned`), pinned.join("\n"));
  assert.ok(pinned.includes(`operator ${keys.other.did_key} not_pinned`), pinned.join("\n"));
  assert.equal(await page.locator("#result [data-testid=pin-status]").getAttribute("data-pins"), "not_pinned");
  assert.match(await text("#result [data-testid=pin-status]"), /keys you did not pin.*2 different operator keys/s);
  assert.equal((await pageJson(page)).counts.UntrustedSigner, 4);
  await screenshot(page, "log-untrusted-signers");
});

test("a log with failures: failed rows highlighted, a failures-only filter, and a row's details on click", async () => {
  const lines = readFileSync(mixedLog(), "utf8").trimEnd().split("\n");
  lines[3] = lines[3].replace("12000", "1200");
  const file = write("mixed-tampered.jsonl", `${lines.join("\n")}\n`);
  await choose(page, file);
  const v = await verdict(page);
  assert.equal(v.kind, "NotValid");
  assert.equal(v.term, "NOT VALID");
  assert.equal(await page.locator("#result [data-testid=log-row]").count(), lines.length);
  await page.check("#result [data-testid=failures-only]");
  const failed = page.locator("#result [data-testid=log-row]");
  assert.equal(await failed.count(), 1);
  assert.equal(await failed.first().getAttribute("data-line"), "4");
  assert.equal(await failed.first().getAttribute("data-kind"), "HashMismatch");
  assert.match(await failed.first().getAttribute("class"), /failed/);
  await screenshot(page, "log-failures-only");
  await failed.first().click();
  await page.waitForSelector("#result [data-testid=row-detail] [data-testid=verdict]");
  assert.equal(await page.locator("#result [data-testid=row-detail] [data-testid=verdict]").getAttribute("data-kind"), "HashMismatch");
  assert.match(await text("#result [data-testid=row-detail] [data-testid=unverified]"), /1200/);
  await screenshot(page, "log-row-detail");
});

test("at 390 px wide nothing scrolls sideways, whatever is shown", async () => {
  const narrow = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await narrow.goto(`${served.origin}/`);
  await narrow.waitForSelector("body[data-ready=true]");
  const fits = async (label) => {
    const width = await narrow.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `${label}: scrollWidth ${width}`);
  };
  await fits("empty page");
  await screenshot(narrow, "narrow-empty");
  await paste(narrow, JSON.stringify(l1, null, 2));
  await fits("an L1 receipt");
  await screenshot(narrow, "narrow-receipt-l1");
  const tampered = structuredClone(l0);
  tampered.content.action_hash = "0".repeat(64);
  await paste(narrow, JSON.stringify(tampered));
  await fits("a hash mismatch");
  await screenshot(narrow, "narrow-hash-mismatch");
  await choose(narrow, mixedLog());
  await fits("a log");
  await screenshot(narrow, "narrow-log");
  await narrow.locator("#result [data-testid=log-row]").nth(1).click();
  await narrow.waitForSelector("#result [data-testid=row-detail] [data-testid=verdict]");
  await fits("a log row's details");
  await screenshot(narrow, "narrow-log-row-detail");
  await narrow.close();
});

test("a new input clears the old verdict; Enter in the pin field verifies; the same file chosen again verifies again", async () => {
  await paste(page, JSON.stringify(l0));
  assert.equal(await page.locator("#result [data-testid=verdict]").count(), 1);
  await page.fill("#receipt", JSON.stringify(l1));
  assert.equal(await page.locator("#result [data-testid=verdict]").count(), 0, "typing clears the verdict");

  await page.fill("#pins", keys.other.did_key);
  const before = Number(await page.evaluate(() => document.body.dataset.run));
  await page.press("#pins", "Enter");
  await page.waitForFunction((n) => Number(document.body.dataset.run) > n && document.body.dataset.state === "done", before);
  assert.equal((await verdict(page)).kind, "UntrustedSigner");
  await page.fill("#pins", "");
  assert.equal(await page.locator("#result [data-testid=verdict]").count(), 0, "changing the pins clears the verdict");

  const file = write("again.jsonl", `${chain.join("\n")}\n`);
  await choose(page, file);
  assert.equal((await verdict(page)).kind, "Valid");
  // The same file again, as a person picks it in the file dialog.
  const run = Number(await page.evaluate(() => document.body.dataset.run));
  const chooser = page.waitForEvent("filechooser");
  await page.click("#file");
  await (await chooser).setFiles(file);
  await page.waitForFunction((n) => Number(document.body.dataset.run) > n && document.body.dataset.state === "done", run);
  assert.equal((await verdict(page)).kind, "Valid");
});

test("no request fails (no favicon 404), and opened from file:// the page says to serve the folder and how", async () => {
  const { page: fresh } = await open(browser, served.origin);
  await fresh.waitForTimeout(300);
  assert.deepEqual(served.statuses.filter((s) => s.status !== 200), []);
  await fresh.close();

  const local = await browser.newPage();
  await local.goto(pathToFileURL(join(webRoot, "index.html")).href);
  const message = local.locator("[data-testid=file-protocol]");
  await message.waitFor({ timeout: 10000 });
  assert.match(await message.textContent(), /serve/i);
  assert.match(await message.textContent(), /python3 -m http\.server/);
  await screenshot(local, "opened-from-file");
  await local.close();
});
