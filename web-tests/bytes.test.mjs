// The page verifies a file's exact bytes, as `heso verify FILE` does: the same odd files
// (a byte-order mark, UTF-16, a lone 0xFF, invalid UTF-8 in a field, carriage returns, NUL
// bytes, blank lines, torn tails) go to both, and the page's JSON must equal the CLI's.
// Text pasted into the page is read as `heso verify -` reads stdin.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  serve, launch, open, choose, paste, pageJson, cliJson, cliText, cliStdinJson, cliStdinText,
  vector, write, fffdReceipt, screenshot,
} from "./support.mjs";

let server, browser, page;

before(async () => {
  const served = await serve();
  server = served.server;
  browser = await launch();
  ({ page } = await open(browser, served.origin));
});

after(async () => {
  await browser?.close();
  server?.close();
});

const enc = (s) => Buffer.from(s, "utf8");
const l0 = JSON.stringify(vector("receipt_l0.json").receipt);
const l0Pretty = JSON.stringify(vector("receipt_l0.json").receipt, null, 2);
const chain = vector("chain_3.json").receipts.map((r) => JSON.stringify(r));

function utf16(text, bigEndian) {
  const le = Buffer.from(`\ufeff${text}`, "utf16le");
  if (!bigEndian) return le;
  const be = Buffer.alloc(le.length);
  for (let i = 0; i < le.length; i += 2) { be[i] = le[i + 1]; be[i + 1] = le[i]; }
  return be;
}

/** Every odd file, by name: the extension decides, as for the CLI (.jsonl: a log). */
function corpus() {
  const fffd = readFileSync(fffdReceipt());
  const at = fffd.indexOf(Buffer.from([0xef, 0xbf, 0xbd]));
  assert.ok(at > 0, "the U+FFFD receipt holds U+FFFD");
  const loneFF = Buffer.concat([fffd.subarray(0, at), Buffer.from([0xff]), fffd.subarray(at + 3)]);
  const query = enc(l0).indexOf(enc("quarterly"));
  const badUtf8 = Buffer.from(enc(l0));
  badUtf8[query] = 0xc3; // a lead byte followed by ASCII: not UTF-8
  const files = {
    "fffd.json": fffd,
    "lone-ff.json": loneFF,
    "bad-utf8-field.json": badUtf8,
    "bom.json": Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), enc(l0)]),
    "utf16le.json": utf16(l0, false),
    "utf16be.json": utf16(l0, true),
    "cr.json": enc(`${l0}\r`),
    "crlf-pretty.json": enc(l0Pretty.replaceAll("\n", "\r\n")),
    "cr-pretty.json": enc(l0Pretty.replaceAll("\n", "\r")),
    "nul-after.json": Buffer.concat([enc(l0), Buffer.from([0])]),
    "nul-inside.json": enc(l0.replace("quarterly", "quarter\u0000ly")),
    "empty.json": Buffer.alloc(0),
    "whitespace.json": enc(" \n\t\r\n"),
    "log-in-a-json-file.json": enc(`${chain.join("\n")}\n`),
    "lone-ff.jsonl": Buffer.concat([loneFF, enc("\n")]),
    "fffd.jsonl": Buffer.concat([fffd, enc("\n")]),
    "crlf.jsonl": enc(`${chain.join("\r\n")}\r\n`),
    "cr-only.jsonl": enc(`${chain.join("\r")}\n`),
    "blank-lines.jsonl": enc(`${chain[0]}\n\n${chain[1]}\n \n${chain[2]}\n\n`),
    "torn.jsonl": enc(chain.join("\n")),
    "torn-half.jsonl": enc(`${chain[0]}\n${chain[1]}\n${chain[2].slice(0, 200)}`),
    "bom.jsonl": Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), enc(`${chain.join("\n")}\n`)]),
    "utf16.jsonl": utf16(`${chain.join("\n")}\n`, false),
    "nul-line.jsonl": enc(`${chain[0]}\n\u0000\n${chain[1]}\n${chain[2]}\n`),
    "empty.jsonl": Buffer.alloc(0),
    "only-newlines.jsonl": enc("\n\n\n"),
    "pretty-in-a-log.jsonl": enc(`${l0Pretty}\n`),
  };
  return Object.entries(files).map(([name, bytes]) => ({ name, file: write(name, bytes) }));
}

test("every odd file gets exactly the CLI's verdict (the file's bytes, never decoded text)", async () => {
  const failures = [];
  for (const { name, file } of corpus()) {
    const expected = cliJson(file);
    await choose(page, file);
    const got = await pageJson(page);
    try {
      assert.deepEqual(got, expected);
    } catch {
      failures.push(`${name}: page ${JSON.stringify(got)}\n   CLI  ${JSON.stringify(expected)}`);
    }
  }
  assert.deepEqual(failures, [], `\n${failures.join("\n")}`);
});

test("a log file's report uses the CLI's words: counts, failures, torn tail and the head to record", async () => {
  for (const name of ["torn-half.jsonl", "blank-lines.jsonl", "bom.jsonl", "crlf.jsonl"]) {
    const file = corpus().find((c) => c.name === name).file;
    await choose(page, file);
    const shown = await page.locator("#result [data-testid=cli-words]").textContent();
    const lines = cliText(file);
    // The CLI's last line names how it pinned (--any-signer); the page says its own.
    for (const line of lines.slice(0, -1)) {
      assert.ok(shown.includes(line), `${name}: the page lacks the CLI's line\n  ${line}\npage:\n${shown}`);
    }
    if (name === "torn-half.jsonl") await screenshot(page, "log-torn-tail");
  }
});

test("pasted text is read as `heso verify -` reads stdin: the same verdicts and words", async () => {
  const texts = {
    "a log without its final newline": chain.join("\n"),
    "a log with one bad line": `${chain[0]}\nnot a receipt\n${chain[2]}\n`,
    "a log with blank lines": `${chain[0]}\n\n\n${chain[1]}\n${chain[2]}\n`,
    "a bad line after blank lines (failures keep their line numbers)": `${chain[0]}\n\n\nnot a receipt\n${chain[2]}`,
    "one compact receipt": l0,
    "one pretty receipt": l0Pretty,
    "a pretty receipt with CRLF": l0Pretty.replaceAll("\n", "\r\n"),
    "garbage": "hello",
    "nothing but spaces": "   ",
  };
  for (const [label, text] of Object.entries(texts)) {
    // A textarea holds LF line ends only; what is pasted is what it holds.
    await paste(page, text);
    const held = await page.inputValue("#receipt");
    const expected = cliStdinJson(enc(held));
    assert.deepEqual(await pageJson(page), expected, label);
    if (label.startsWith("a bad line after blank lines")) {
      // Numbered as in the text, by the CLI and the page alike (not among non-blank lines).
      assert.deepEqual(expected.failures.map((f) => f.line), [4, 5], JSON.stringify(expected.failures));
    }
    if (expected.sessions) {
      const shown = await page.locator("#result [data-testid=cli-words]").textContent();
      for (const line of cliStdinText(enc(held)).slice(0, -1)) {
        assert.ok(shown.includes(line.replace(/^stdin:/, "pasted text:")), `${label}: lacks ${line}\n${shown}`);
      }
    }
  }
});

test("a file and the same text pasted give the same result, line by line", async () => {
  const text = `${chain[0]}\nnot a receipt\n${chain[2]}\n`;
  const file = write("one-bad-line.jsonl", enc(text));
  await choose(page, file);
  const fromFile = await pageJson(page);
  await paste(page, text);
  const fromPaste = await pageJson(page);
  assert.deepEqual(fromPaste, fromFile);
  assert.equal(fromFile.receipts, 3);
  assert.deepEqual(fromFile.failures.map((f) => f.line), [2, 3]);
});
