// What every browser test shares: a static server for web/, headless Chromium, the heso
// CLI, the test logs (made by heso-wasm's make_log example), and helpers that drive the
// page as a person does and read what it shows.
//
// Needs HESO_BIN (the heso binary), HESO_MAKE_LOG (the make_log example) and
// /usr/bin/chromium; scripts/web.sh builds and installs all three.
import { createServer } from "node:http";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const repo = join(here, "..");
export const webRoot = join(repo, "web");
export const vectors = join(repo, "heso-receipt", "tests", "data");
export const heso = process.env.HESO_BIN || join(repo, "target", "release", "heso");
const makeLog = process.env.HESO_MAKE_LOG || join(repo, "target", "release", "examples", "make_log");
/** Screenshots of each state: kept by CI as test artifacts, never committed (.gitignore). */
export const artifacts = join(repo, "test-artifacts");
/** Generated logs, kept between runs (under target/, so never committed). */
const cache = join(repo, "target", "web-tests");
export const scratch = mkdtempSync(join(tmpdir(), "heso-web-"));

const types = {
  ".html": "text/html", ".js": "text/javascript", ".css": "text/css",
  ".wasm": "application/wasm", ".svg": "image/svg+xml",
};

/** Serves web/ on 127.0.0.1; records every response's status. */
export async function serve() {
  const statuses = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const file = join(webRoot, path === "/" ? "index.html" : path);
    if (!file.startsWith(webRoot)) { res.writeHead(403).end(); return; }
    try {
      const body = readFileSync(file);
      res.writeHead(200, { "content-type": types[extname(file)] || "application/octet-stream" }).end(body);
      statuses.push({ path, status: 200 });
    } catch {
      res.writeHead(404).end();
      statuses.push({ path, status: 404 });
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, origin: `http://127.0.0.1:${server.address().port}`, statuses };
}

export async function launch() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}

/** A fresh page on the verifier, ready to verify. */
export async function open(browser, origin, viewport = { width: 1100, height: 900 }) {
  const page = await browser.newPage({ viewport });
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${origin}/`);
  await page.waitForSelector("body[data-ready=true]", { timeout: 30000 });
  return { page, requests, errors };
}

export async function screenshot(page, name) {
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

/** The run counter the page bumps at every verification it starts. */
async function run(page) {
  return Number(await page.evaluate(() => document.body.dataset.run || "0"));
}

async function settled(page, before, timeout = 60000) {
  await page.waitForFunction(
    (n) => Number(document.body.dataset.run || "0") > n
      && ["done", "cancelled", "error"].includes(document.body.dataset.state),
    before, { timeout });
}

/** Pastes `text` and clicks Verify; waits for the verdict. */
export async function paste(page, text, pins = "") {
  await page.fill("#pins", pins);
  await page.fill("#receipt", text);
  const before = await run(page);
  await page.click("#verify");
  await settled(page, before);
}

/** Chooses `file` in the file input; waits for the verdict. */
export async function choose(page, file, pins = "", timeout = 60000) {
  await page.fill("#pins", pins);
  const before = await run(page);
  await page.setInputFiles("#file", file);
  await settled(page, before, timeout);
}

/** The verdict as shown: its kind, plain words, engine term and whole text. */
export async function verdict(page) {
  const v = page.locator("#result [data-testid=verdict]");
  return {
    kind: await v.getAttribute("data-kind"),
    words: await v.locator("[data-testid=words]").textContent(),
    term: await v.locator("[data-testid=term]").textContent(),
    text: await v.textContent(),
  };
}

/** The JSON the page offers (the same schema as `heso verify --json`). */
export async function pageJson(page) {
  return JSON.parse(await page.locator("#result [data-testid=json]").textContent());
}

function runCli(args, options = {}) {
  const out = spawnSync(heso, args, { encoding: "utf8", cwd: scratch, ...options });
  if (out.status !== 0 && out.status !== 1) {
    throw new Error(`heso ${args.join(" ")}: exit ${out.status}: ${out.stderr}`);
  }
  return out.stdout;
}

/** `heso verify FILE --any-signer --json`, run where FILE is, with its bare name. */
export function cliJson(file) {
  return JSON.parse(runCli(["verify", file.split("/").pop(), "--any-signer", "--json"], { cwd: dirname(file) }));
}

/** `heso verify FILE --any-signer`, its lines as printed. */
export function cliText(file) {
  return runCli(["verify", file.split("/").pop(), "--any-signer"], { cwd: dirname(file) }).trimEnd().split("\n");
}

/** `heso verify - --any-signer --json` with `bytes` on stdin. */
export function cliStdinJson(bytes) {
  return JSON.parse(runCli(["verify", "-", "--any-signer", "--json"], { input: bytes }));
}

export function cliStdinText(bytes) {
  return runCli(["verify", "-", "--any-signer"], { input: bytes }).trimEnd().split("\n");
}

/** `heso verify FILE --any-signer --json` and its wall time in ms. */
export function cliTimed(file) {
  const start = process.hrtime.bigint();
  const out = runCli(["verify", file, "--any-signer", "--json"]);
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, json: JSON.parse(out) };
}

function generate(name, args) {
  mkdirSync(cache, { recursive: true });
  const out = join(cache, name);
  if (!existsSync(out)) {
    execFileSync(makeLog, [args[0], `${out}.part`, ...args.slice(1)]);
    execFileSync("mv", [`${out}.part`, out]);
  }
  return out;
}

/** A log of `n` demo-sized receipts in two sessions. */
export const bigLog = (n) => generate(`big-${n}.jsonl`, ["big", String(n)]);
/** One receipt of each kind a reader must tell apart, and a second operator's session. */
export const mixedLog = () => generate("mixed.jsonl", ["mixed"]);
/** One receipt whose field holds U+FFFD, as one line. */
export const fffdReceipt = () => generate("fffd.json", ["fffd"]);

export function vector(name) {
  return JSON.parse(readFileSync(join(vectors, name), "utf8"));
}

export function write(name, bytes) {
  const file = join(scratch, name);
  writeFileSync(file, bytes);
  return file;
}
