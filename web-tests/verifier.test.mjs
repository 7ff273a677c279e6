// The browser verifier in a real headless Chromium: every reference receipt, valid and
// tampered, goes through the page's real input, and the page's verdict must equal
// `heso verify --any-signer --json` for the same receipt. The page may load only its own
// files.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  serve, launch, open, paste, choose, verdict, pageJson, screenshot, vector, write, vectors, cliJson,
} from "./support.mjs";
import { readdirSync } from "node:fs";

let served, browser, page, requests;

before(async () => {
  served = await serve();
  browser = await launch();
  ({ page, requests } = await open(browser, served.origin));
});

after(async () => {
  await browser?.close();
  served?.server.close();
});

/** Every receipt in the vector files, each as its own input. */
function cases() {
  const out = [];
  for (const name of readdirSync(vectors).filter((n) => n.endsWith(".json") && n !== "keys.json").sort()) {
    const doc = vector(name);
    const add = (label, receipt) => out.push({ label: `${name}: ${label}`, receipt });
    if (doc.receipt) add("receipt", doc.receipt);
    (doc.receipts || []).forEach((r, i) => add(`receipts[${i}]`, r));
    for (const c of doc.cases || []) {
      if (c.receipt) add(c.name, c.receipt);
      (c.receipts || []).forEach((r, i) => add(`${c.name} [${i}]`, r));
    }
  }
  return out;
}

test("every reference receipt gets the CLI's verdict", async () => {
  const all = cases();
  assert.ok(all.length >= 20, `only ${all.length} receipts found`);
  let n = 0;
  for (const { label, receipt } of all) {
    const text = JSON.stringify(receipt, null, 2);
    const expected = cliJson(write(`case-${n++}.json`, text));
    await paste(page, text);
    const got = await verdict(page);
    assert.equal(got.kind, expected.verdict, `${label}: page says ${got.text}`);
    assert.deepEqual(await pageJson(page), expected, label);
    if (expected.valid) assert.equal(got.term, `Valid (${expected.trust_level})`, label);
    else assert.equal(got.term, expected.verdict, label);
  }
});

test("pinned keys give UntrustedSigner for other signers", async () => {
  const keys = vector("keys.json");
  const l0 = JSON.stringify(vector("receipt_l0.json").receipt);
  await paste(page, l0, keys.other.did_key);
  assert.equal((await verdict(page)).kind, "UntrustedSigner");
  await paste(page, l0, keys.operator.did_key);
  assert.equal((await verdict(page)).kind, "Valid");
  await paste(page, l0, "not-a-key");
  assert.match(await page.locator("#result [data-testid=pin-error]").textContent(), /not-a-key/);
});

test("a .jsonl log chosen as a file: a row per receipt and the chain per session", async () => {
  const chain = vector("chain_3.json").receipts;
  const good = write("chain.jsonl", chain.map((r) => JSON.stringify(r)).join("\n") + "\n");
  assert.equal(cliJson(good).all_valid, true);
  await choose(page, good);
  assert.equal(await page.locator("#result [data-testid=log-row]").count(), 3);
  const session = page.locator("#result [data-testid=session]").first();
  assert.equal(await session.getAttribute("data-session"), "sess-vec");
  assert.equal(await session.getAttribute("data-last-seq"), "2");
  assert.equal(await session.getAttribute("data-head"), chain[2].content.action_hash);
  assert.equal((await verdict(page)).term, "all receipts valid, chains intact");

  const swapped = write("swapped.jsonl", [chain[0], chain[2], chain[1]].map((r) => JSON.stringify(r)).join("\n") + "\n");
  const expected = cliJson(swapped);
  assert.equal(expected.all_valid, false);
  await choose(page, swapped);
  assert.deepEqual(await pageJson(page), expected);
  assert.equal((await verdict(page)).term, "NOT VALID");
  assert.equal(await page.locator("#result [data-testid=log-row][data-kind=LinkBroken]").count(), 2);
});

test("a verified receipt, as a person sees it (screenshot), and no request beyond the page's own files", async () => {
  const l1 = vector("receipt_l1.json").receipt;
  await paste(page, JSON.stringify(l1, null, 2));
  assert.equal((await verdict(page)).term, "Valid (L1)");
  assert.match(await page.locator("#result [data-testid=approver]").textContent(), /did:key:z6Mk.* \(approved\)/);
  await screenshot(page, "verified-receipt");
  assert.ok(requests.length >= 3, `requests: ${requests.join(", ")}`);
  for (const url of requests) assert.ok(url.startsWith(`${served.origin}/`), `request to another origin: ${url}`);
});
