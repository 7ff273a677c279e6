// The browser verifier in a real headless Chromium: every reference receipt, valid and
// tampered, goes through the page's real input, and the page's verdict must equal
// `heso verify --any-signer --json` for the same receipt. The page may load only its own
// files. Needs HESO_BIN (the heso binary) and /usr/bin/chromium; scripts/web.sh sets up both.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, extname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..");
const webRoot = join(repo, "web");
const vectors = join(repo, "heso-receipt", "tests", "data");
const heso = process.env.HESO_BIN || join(repo, "target", "debug", "heso");
const artifacts = join(repo, "test-artifacts");
const scratch = mkdtempSync(join(tmpdir(), "heso-web-"));

const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".wasm": "application/wasm" };
let server, origin, browser, page;
const requests = [];

before(async () => {
  server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const file = join(webRoot, path === "/" ? "index.html" : path);
    if (!file.startsWith(webRoot)) { res.writeHead(403).end(); return; }
    try {
      const body = readFileSync(file);
      res.writeHead(200, { "content-type": types[extname(file)] || "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  page = await browser.newPage();
  page.on("request", (r) => requests.push(r.url()));
  await page.goto(`${origin}/`);
  await page.waitForSelector("body[data-ready=true]", { timeout: 20000 });
});

after(async () => {
  await browser?.close();
  server?.close();
});

/** Every receipt in the vector files, each as its own input. */
function cases() {
  const out = [];
  for (const name of readdirSync(vectors).filter((n) => n.endsWith(".json") && n !== "keys.json").sort()) {
    const doc = JSON.parse(readFileSync(join(vectors, name), "utf8"));
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

function cli(file) {
  let stdout;
  try {
    stdout = execFileSync(heso, ["verify", file, "--any-signer", "--json"], { encoding: "utf8", cwd: scratch });
  } catch (e) {
    stdout = e.stdout; // exit 1: not valid, still a verdict
  }
  return JSON.parse(stdout);
}

async function pageVerdict(text, pins = "") {
  await page.fill("#pins", pins);
  await page.fill("#receipt", text);
  await page.click("#verify");
  const verdict = page.locator("[data-testid=verdict]");
  return { kind: await verdict.getAttribute("data-kind"), text: await verdict.textContent() };
}

test("every reference receipt gets the CLI's verdict", async () => {
  const all = cases();
  assert.ok(all.length >= 20, `only ${all.length} receipts found`);
  let n = 0;
  for (const { label, receipt } of all) {
    const text = JSON.stringify(receipt, null, 2);
    const file = join(scratch, `case-${n++}.json`);
    writeFileSync(file, text);
    const expected = cli(file);
    const got = await pageVerdict(text);
    assert.equal(got.kind, expected.verdict, `${label}: page says ${got.text}`);
    if (expected.valid) assert.equal(got.text, `Valid (${expected.trust_level})`, label);
    else assert.ok(got.text.startsWith(`${expected.verdict}: `), `${label}: ${got.text}`);
  }
});

test("pinned keys give UntrustedSigner for other signers", async () => {
  const keys = JSON.parse(readFileSync(join(vectors, "keys.json"), "utf8"));
  const l0 = JSON.stringify(JSON.parse(readFileSync(join(vectors, "receipt_l0.json"), "utf8")).receipt);
  assert.equal((await pageVerdict(l0, keys.other.did_key)).kind, "UntrustedSigner");
  assert.equal((await pageVerdict(l0, keys.operator.did_key)).kind, "Valid");
});

test("a .jsonl log dropped as a file: a line per receipt and the chain per session", async () => {
  const chain = JSON.parse(readFileSync(join(vectors, "chain_3.json"), "utf8")).receipts;
  const good = join(scratch, "chain.jsonl");
  writeFileSync(good, chain.map((r) => JSON.stringify(r)).join("\n") + "\n");
  assert.equal(cli(good).all_valid, true);
  await page.fill("#pins", "");
  await page.setInputFiles("#file", good);
  await page.waitForSelector("[data-testid=log-line]");
  assert.equal(await page.locator("[data-testid=log-line]").count(), 3);
  assert.match(await page.locator("[data-testid=session]").first().textContent(), /sess-vec: intact; head seq 2/);
  assert.equal(await page.locator("[data-testid=verdict]").textContent(), "Valid: every receipt and every chain");

  const swapped = join(scratch, "swapped.jsonl");
  writeFileSync(swapped, [chain[0], chain[2], chain[1]].map((r) => JSON.stringify(r)).join("\n") + "\n");
  assert.equal(cli(swapped).all_valid, false);
  await page.setInputFiles("#file", swapped);
  await page.waitForFunction(() => document.querySelector("[data-testid=session]")?.textContent.includes("LinkBroken"));
  assert.equal(await page.locator("[data-testid=verdict]").textContent(), "NOT VALID");
});

test("a verified receipt, as a person sees it (screenshot), and no request beyond the page's own files", async () => {
  const l1 = JSON.parse(readFileSync(join(vectors, "receipt_l1.json"), "utf8")).receipt;
  const got = await pageVerdict(JSON.stringify(l1, null, 2));
  assert.equal(got.text, "Valid (L1)");
  assert.match(await page.locator("[data-testid=approver]").textContent(), /^did:key:z6Mk.* \(approved\)$/);
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, "verified-receipt.png"), fullPage: true });
  assert.ok(requests.length >= 3, `requests: ${requests.join(", ")}`);
  for (const url of requests) assert.ok(url.startsWith(`${origin}/`), `request to another origin: ${url}`);
});
