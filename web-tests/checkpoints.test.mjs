// Checkpoints and inclusion bundles in the page, against the real CLI: a project made with
// `heso init` and `heso demo`, a checkpoint from `heso log checkpoint`, a bundle from `heso
// prove`. Every bundle (intact and tampered) gets `heso verify BUNDLE --json`'s verdict;
// a log chosen with a checkpoint file gets, for it, the verdict `heso log verify
// --checkpoint FILE --json` gives for the same log (intact, truncated, emptied, reordered,
// another log's checkpoint, a forged signature).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  serve, launch, open, paste, choose, verdict, screenshot, heso, scratch,
} from "./support.mjs";

let served, browser, page;
const home = join(scratch, "cp-home");
const project = join(scratch, "cp-project");
const other = join(scratch, "cp-other");
const elsewhere = join(scratch, "cp-elsewhere");

/** `heso ARGS` in `dir`, with a HOME of its own; exit 0 or 1 unless `codes` says. */
function run(dir, args, codes = [0, 1]) {
  mkdirSync(dir, { recursive: true });
  const env = { ...process.env, HOME: home };
  for (const name of ["HESO_PROJECT_ROOT", "HESO_KEY_PASSPHRASE", "HESO_ENV", "XDG_CONFIG_HOME"]) delete env[name];
  const out = spawnSync(heso, args, { cwd: dir, env, encoding: "utf8" });
  if (!codes.includes(out.status)) throw new Error(`heso ${args.join(" ")}: exit ${out.status}: ${out.stderr}`);
  return out;
}

const logFile = (dir) => join(dir, "heso-local-data", "receipts.jsonl");
let original; // the project's log as heso wrote it

before(async () => {
  for (const dir of [home, elsewhere]) mkdirSync(dir, { recursive: true });
  for (const dir of [project, other]) {
    run(dir, ["init"]);
    for (let i = 0; i < 3; i++) run(dir, ["demo"]);
  }
  run(project, ["log", "checkpoint", "--out", "six.checkpoint"]);
  run(other, ["log", "checkpoint", "--out", join(project, "other.checkpoint")]);
  original = readFileSync(logFile(project));
  const third = JSON.parse(original.toString().split("\n")[2]).content.action_hash;
  run(project, ["prove", third.slice(0, 12), "--checkpoint", "six.checkpoint", "--out", join(elsewhere, "bundle.json")]);
  served = await serve();
  browser = await launch();
  ({ page } = await open(browser, served.origin));
});

after(async () => {
  await browser?.close();
  served?.server.close();
});

/** At 390 px wide, the page does not scroll sideways. */
async function fitsNarrow(label) {
  await page.setViewportSize({ width: 390, height: 800 });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  await screenshot(page, `${label}-390px`);
  await page.setViewportSize({ width: 1100, height: 900 });
  assert.ok(width <= 390, `${label}: ${width} px wide at 390`);
}

/** Every key the CLI's JSON has, with the CLI's value. */
function assertAgrees(got, expected, label) {
  for (const [key, value] of Object.entries(expected)) {
    assert.deepEqual(got[key], value, `${label}: ${key} (page ${JSON.stringify(got)})`);
  }
}

async function bundleJson() {
  return JSON.parse(await page.locator("#result [data-testid=bundle-json]").textContent());
}

/** `heso verify BUNDLE --json` outside any project (nothing pinned, as the page). */
function cliBundle(name, text) {
  writeFileSync(join(elsewhere, name), text);
  return JSON.parse(run(elsewhere, ["verify", name, "--json"]).stdout);
}

test("an inclusion bundle: included in checkpoint N of ORIGIN, signed by the operator", async () => {
  const file = join(elsewhere, "bundle.json");
  const expected = JSON.parse(run(elsewhere, ["verify", "bundle.json", "--json"]).stdout);
  assert.equal(expected.verdict, "Included");
  await choose(page, file);
  const got = await verdict(page);
  assert.equal(got.kind, "Included");
  assert.equal(got.words, `Included in checkpoint 6 of ${expected.origin}, signed by ${expected.operator}`);
  assertAgrees(await bundleJson(), expected, "bundle");
  assert.match(expected.origin, /^heso\.dev\/log\/z6Mk/);
  // The CLI's words, line for line, under the verdict.
  const words = (await page.locator("#result [data-testid=cli-words]").first().textContent()).split("\n");
  const cli = run(elsewhere, ["verify", "bundle.json"]).stdout.trimEnd().split("\n");
  assert.deepEqual(words, cli.slice(0, words.length));
  // The receipt it carries is shown as any receipt is.
  assert.equal(await page.locator("#result [data-testid=bundle] [data-testid=receipt-verdict][data-kind=Valid]").count(), 1);
  await screenshot(page, "bundle-included");
  await fitsNarrow("bundle-included");
  // Pasted, the same bundle is the same verdict.
  await paste(page, readFileSync(file, "utf8"));
  assert.equal((await verdict(page)).kind, "Included");
  // With the wrong key pinned, the receipt is not trusted, so neither is its inclusion.
  const text = readFileSync(file, "utf8");
  await paste(page, text, "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK");
  const pinned = JSON.parse(run(elsewhere, ["verify", "bundle.json", "--json", "--signer", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"]).stdout);
  assert.equal(pinned.verdict, "UntrustedSigner");
  assertAgrees(await bundleJson(), pinned, "pinned to another key");
});

test("tampered bundles get the CLI's named verdicts", async () => {
  const text = readFileSync(join(elsewhere, "bundle.json"), "utf8");
  const bundle = JSON.parse(text);
  const flip = (hex) => (hex[0] === "0" ? "1" : "0") + hex.slice(1);
  const lines = bundle.checkpoint.split("\n");
  const sigLine = lines.findIndex((l) => l.startsWith("— "));
  const sig = lines[sigLine];
  // The signature's last base64 characters changed: same key id, another signature.
  const forged = [...lines];
  forged[sigLine] = sig.slice(0, -6) + (sig.slice(-6, -5) === "A" ? "B" : "A") + sig.slice(-5);
  const cases = [
    ["bad-signature", { ...bundle, checkpoint: forged.join("\n") }, "InvalidSignature"],
    ["bad-proof", { ...bundle, hashes: [flip(bundle.hashes[0]), ...bundle.hashes.slice(1)] }, "NotIncluded"],
    ["moved", { ...bundle, leaf_index: bundle.leaf_index + 1 }, "LeafIndexMismatch"],
    ["other-size", { ...bundle, tree_size: bundle.tree_size + 1 }, "SizeMismatch"],
    ["altered-receipt", { ...bundle, receipt: { ...bundle.receipt, content: { ...bundle.receipt.content, captured_at: "2020-01-01T00:00:00Z" } } }, "HashMismatch"],
  ];
  for (const [name, value, kind] of cases) {
    const body = JSON.stringify(value, null, 2);
    const expected = cliBundle(`${name}.json`, body);
    assert.equal(expected.verdict, kind, `${name}: the CLI says ${JSON.stringify(expected)}`);
    await choose(page, join(elsewhere, `${name}.json`));
    const got = await verdict(page);
    assert.equal(got.kind, kind, `${name}: page says ${got.text}`);
    assert.match(got.words, /^Not valid/);
    assertAgrees(await bundleJson(), expected, name);
    if (name === "bad-signature") await screenshot(page, "bundle-bad-signature");
  }
  // Not a bundle heso can read: said so, as the CLI refuses it.
  const broken = JSON.stringify({ ...bundle, hashes: ["xyz"] });
  writeFileSync(join(elsewhere, "broken.json"), broken);
  const cli = run(elsewhere, ["verify", "broken.json"], [2]);
  assert.match(cli.stderr, /not an inclusion bundle/);
  await paste(page, broken);
  assert.match(await page.locator("#result [data-testid=bundle-error]").textContent(), /not an inclusion bundle/);
});

/** The log of `project` as `bytes`; the CLI's verdict on checkpoint `name`, and the page's
 * for the log chosen together with that checkpoint file. */
async function compare(bytes, name, label) {
  writeFileSync(logFile(project), bytes);
  const cli = JSON.parse(run(project, ["log", "verify", "--checkpoint", name, "--json"]).stdout);
  const copy = join(scratch, "cp-page");
  mkdirSync(copy, { recursive: true });
  writeFileSync(join(copy, "receipts.jsonl"), bytes);
  copyFileSync(join(project, name), join(copy, name));
  await choose(page, [join(copy, "receipts.jsonl"), join(copy, name)]);
  const shown = JSON.parse(await page.locator("#result [data-testid=json]").first().textContent());
  assert.equal(shown.checkpoints.length, 1, label);
  assertAgrees(shown.checkpoints[0], cli.checkpoints[0], label);
  assert.equal(shown.all_valid, cli.all_valid, label);
  const item = page.locator("#result [data-testid=checkpoint]");
  assert.equal(await item.getAttribute("data-verdict"), cli.checkpoints[0].verdict, label);
  assert.equal((await verdict(page)).kind, cli.all_valid ? "Valid" : "NotValid", label);
  return cli.checkpoints[0];
}

test("a log with its checkpoint: contained, truncated, emptied, reordered, another log's, forged", async () => {
  const lines = original.toString().split("\n").filter((l) => l);
  const text = (ls) => (ls.length ? `${ls.join("\n")}\n` : "");
  try {
    assert.equal((await compare(original, "six.checkpoint", "intact")).verdict, "Contained");
    assert.match(await page.locator("#result [data-testid=checkpoint]").textContent(), /still contains this checkpoint: 6 receipts of heso\.dev\/log\/z6Mk.*signed by did:key:z6Mk/);
    await screenshot(page, "log-contains-checkpoint");

    for (const keep of [5, 1]) {
      assert.equal((await compare(text(lines.slice(0, keep)), "six.checkpoint", `truncated to ${keep}`)).verdict, "Truncated");
    }
    await screenshot(page, "log-truncated-below-checkpoint");
    await fitsNarrow("log-truncated-below-checkpoint");
    assert.equal((await compare("", "six.checkpoint", "emptied")).verdict, "Truncated");
    // Two receipts swapped (their chain breaks too), and a torn last line.
    const swapped = [lines[1], lines[0], ...lines.slice(2)];
    assert.equal((await compare(text(swapped), "six.checkpoint", "reordered")).verdict, "RootMismatch");
    assert.equal((await compare(`${text(lines.slice(0, 5))}${lines[5]}`, "six.checkpoint", "torn")).verdict, "Truncated");
    // A line that is not a receipt inside the checkpoint's part of the log.
    const garbled = [lines[0], "{not a receipt", ...lines.slice(2)];
    assert.equal((await compare(text(garbled), "six.checkpoint", "garbled")).verdict, "RootMismatch");
    // Grown past the checkpoint (two more receipts): still contains it.
    writeFileSync(logFile(project), original);
    run(project, ["demo"]);
    const grown = readFileSync(logFile(project));
    assert.equal((await compare(grown, "six.checkpoint", "grown")).verdict, "Contained");

    assert.equal((await compare(original, "other.checkpoint", "another log")).verdict, "OriginMismatch");
    const cp = readFileSync(join(project, "six.checkpoint"), "utf8").split("\n");
    const at = cp.findIndex((l) => l.startsWith("— "));
    cp[at] = cp[at].slice(0, -6) + (cp[at].slice(-6, -5) === "A" ? "B" : "A") + cp[at].slice(-5);
    writeFileSync(join(project, "forged.checkpoint"), cp.join("\n"));
    assert.equal((await compare(original, "forged.checkpoint", "forged")).verdict, "InvalidSignature");
  } finally {
    writeFileSync(logFile(project), original);
  }
});

test("a checkpoint chosen on its own waits for its log; a file that is not a checkpoint is refused", async () => {
  await page.setInputFiles("#checkpoints", join(project, "six.checkpoint"));
  await page.waitForFunction(() => !document.getElementById("checkpoint-row").hidden);
  assert.match(await page.locator("[data-testid=checkpoint-list]").textContent(), /six\.checkpoint/);
  const copy = join(scratch, "cp-alone");
  mkdirSync(copy, { recursive: true });
  writeFileSync(join(copy, "receipts.jsonl"), original);
  await choose(page, join(copy, "receipts.jsonl"));
  assert.equal(await page.locator("#result [data-testid=checkpoint]").getAttribute("data-verdict"), "Contained");
  // Forgotten, the log is verified without it.
  const before = Number(await page.evaluate(() => document.body.dataset.run));
  await page.click("#forget-checkpoints");
  await page.waitForFunction((n) => Number(document.body.dataset.run) > n && document.body.dataset.state === "done", before);
  assert.equal(await page.locator("#result [data-testid=checkpoint]").count(), 0);
  // Not a checkpoint, given as one.
  writeFileSync(join(copy, "bad.checkpoint"), "heso.dev/log/nonsense\n");
  await choose(page, [join(copy, "receipts.jsonl"), join(copy, "bad.checkpoint")]);
  assert.match(await page.locator("#result [data-testid=error]").textContent(), /bad\.checkpoint is not a signed checkpoint/);
  await page.click("#forget-checkpoints");
});
