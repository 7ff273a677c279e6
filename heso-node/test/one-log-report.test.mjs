// One log report: `heso.verifyLog(log, {signers})` returns the report `heso verify LOG.jsonl
// --json` prints for the same log and pins, field for field, given the log as a path and as
// bytes. The logs are real ones made by `heso demo`: as written, with one line tampered,
// one line removed, two lines swapped, a torn tail, and two projects' logs interleaved (two
// signers), each under several pin sets (nothing, the right key in either form, a wrong
// key, both keys). Unreadable files and bad pins throw errors naming what and where.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

import { cliReports, heso as hesoCli, REPO } from './helpers.mjs';

const require = createRequire(import.meta.url);
const heso = require('../dist/index.cjs');

const OTHER_KEY = JSON.parse(readFileSync(join(REPO, 'heso-receipt', 'tests', 'data', 'keys.json'), 'utf8')).other.did_key;

const dir = mkdtempSync(join(tmpdir(), 'heso-node-one-log-report-'));

/** A project made by `heso demo` run `runs` times: its log's lines (each without its newline). */
function demoLog(name, runs) {
  const root = join(dir, name);
  mkdirSync(root);
  for (let i = 0; i < runs; i += 1) {
    const made = hesoCli(['demo', root], { cwd: dir });
    assert.equal(made.status, 0, made.stderr);
  }
  const text = readFileSync(join(root, 'heso-local-data', 'receipts.jsonl'), 'utf8');
  assert.ok(text.endsWith('\n'));
  return { root, lines: text.slice(0, -1).split('\n') };
}

const a = demoLog('a', 2);
const b = demoLog('b', 1);
assert.equal(a.lines.length, 4);
assert.equal(b.lines.length, 2);

/** The operator key of a log's first line, as the receipt carries it (base64) and as did:key. */
function operator(lines) {
  const b64 = JSON.parse(lines[0]).signatures[0].public_key;
  return { b64, did: heso.verify(Buffer.from(lines[0]), { signers: [b64] }).operator };
}
const keyA = operator(a.lines);
const keyB = operator(b.lines);

const text = (lines) => lines.map((line) => `${line}\n`).join('');

function tampered(line, change = (content) => { content.captured_at = '2001-01-01T00:00:00Z'; }) {
  const receipt = JSON.parse(line);
  change(receipt.content);
  return JSON.stringify(receipt);
}

// Log name -> its bytes.
const logs = new Map([
  ['as written', text(a.lines)],
  ['line 2 tampered', text([a.lines[0], tampered(a.lines[1]), ...a.lines.slice(2)])],
  ['line 2 removed', text([a.lines[0], ...a.lines.slice(2)])],
  ['lines 2 and 3 swapped', text([a.lines[0], a.lines[2], a.lines[1], a.lines[3]])],
  // A writer stopped in the middle of the last line.
  ['torn tail', text(a.lines.slice(0, 3)) + a.lines[3].slice(0, 100)],
  ['two signers', text([a.lines[0], b.lines[0], a.lines[1], b.lines[1], a.lines[2], a.lines[3]])],
  // A seq above 2^32 (and below 2^53): a number in the report, as in the CLI's JSON, never
  // a BigInt (which JSON.stringify refuses).
  ['seq 5e9', text([a.lines[0], tampered(a.lines[1], (content) => { content.seq = 5_000_000_000; })])],
  ['empty', ''],
]);

// Pin set name -> keys (undefined: nothing pinned, the CLI's --any-signer).
const pinSets = new Map([
  ['nothing', undefined],
  ['the right key', [keyA.did]],
  ['the right key as base64', [keyA.b64]],
  ['a wrong key', [OTHER_KEY]],
  ['both keys', [keyA.did, keyB.b64]],
]);

// The fields of a LogReport and of its parts, as index.d.ts declares them.
const FIELDS = ['receipts', 'all_valid', 'counts', 'failures', 'torn_tail', 'sessions', 'signers', 'pinned', 'pinned_keys'];
const FAILURE = ['line', 'seq', 'verdict', 'detail'];
const SESSION = ['session_id', 'last_seq', 'head_hash', 'receipts'];
const SIGNER = ['role', 'key', 'receipts', 'valid', 'pin'];

/** The report has the declared fields, with numbers as numbers (never BigInt). */
function assertShape(report, label) {
  assert.deepEqual(Object.keys(report), FIELDS, label);
  assert.equal(typeof report.receipts, 'number', label);
  assert.equal(typeof JSON.stringify(report), 'string', label);
  for (const n of Object.values(report.counts)) {
    assert.equal(typeof n, 'number', label);
  }
  for (const f of report.failures) {
    assert.deepEqual(Object.keys(f), FAILURE, label);
    assert.ok(f.seq === null || typeof f.seq === 'number', label);
  }
  for (const s of report.sessions) {
    assert.deepEqual(Object.keys(s), SESSION, label);
    assert.equal(typeof s.last_seq, 'number', label);
  }
  for (const s of report.signers) {
    assert.deepEqual(Object.keys(s), SIGNER, label);
  }
  if (report.torn_tail !== null) {
    assert.deepEqual(Object.keys(report.torn_tail), ['line', 'bytes'], label);
  }
}

test('heso.verifyLog returns the report `heso verify LOG.jsonl --json` prints, field for field', () => {
  const jobs = [];
  let n = 0;
  for (const [name, bytes] of logs) {
    n += 1;
    const file = join(dir, `log-${n}.jsonl`);
    writeFileSync(file, bytes);
    for (const [pinName, pins] of pinSets) {
      jobs.push({ label: `${name} under ${pinName}`, file, bytes: Buffer.from(bytes), pins });
    }
  }
  const cli = cliReports(jobs, dir);
  const seen = { verdicts: new Set(), torn: false, allValid: new Set(), signers: 0, bigSeq: false };
  jobs.forEach((job, i) => {
    const options = job.pins === undefined ? undefined : { signers: job.pins };
    // The same log given four ways: a path, a file: URL, its bytes and its text.
    const forms = [['path', job.file], ['URL', pathToFileURL(job.file)], ['bytes', job.bytes]];
    if (job.bytes.length > 0) {
      forms.push(['text', job.bytes.toString('utf8')]);
    }
    for (const [form, log] of forms) {
      const report = heso.verifyLog(log, options);
      assertShape(report, `${job.label} (${form})`);
      assert.deepEqual(report, cli[i], `${job.label} (${form}): heso.verifyLog differs from the CLI`);
    }
    for (const kind of Object.keys(cli[i].counts)) {
      seen.verdicts.add(kind);
    }
    for (const f of cli[i].failures) {
      seen.verdicts.add(f.verdict);
    }
    seen.torn ||= cli[i].torn_tail !== null;
    seen.bigSeq ||= cli[i].sessions.some((s) => s.last_seq > 2 ** 32);
    seen.allValid.add(cli[i].all_valid);
    seen.signers = Math.max(seen.signers, cli[i].signers.length);
  });
  // The cases reach what a log can report (a comparison of identical reports would prove little).
  for (const kind of ['Valid', 'HashMismatch', 'LinkBroken', 'UntrustedSigner']) {
    assert.ok(seen.verdicts.has(kind), `no case gave ${kind}: ${[...seen.verdicts].join(', ')}`);
  }
  assert.ok(seen.torn, 'no case had a torn tail');
  assert.deepEqual([...seen.allValid].sort(), [false, true]);
  assert.equal(seen.signers, 2);
  assert.ok(seen.bigSeq, 'no case had a seq above 2^32');
});

test("verifyLog takes the same pins as verify: a bad one is a TypeError in verify's words (the CLI's: one-report.test.mjs)", () => {
  const bytes = Buffer.from(logs.get('as written'));
  const wordsOf = (key) => {
    try {
      heso.verify(bytes, { signers: [key] });
    } catch (error) {
      return error.message;
    }
    assert.fail(`verify accepted ${key}`);
  };
  for (const bad of ['nope', 'A'.repeat(500)]) {
    assert.throws(
      () => heso.verifyLog(bytes, { signers: [keyA.did, bad] }),
      (error) => error instanceof TypeError && error.message === wordsOf(bad) && error.message.startsWith('signer "'),
    );
  }
  assert.throws(() => heso.verifyLog(bytes, { signers: [keyA.did, 7] }), {
    name: 'TypeError',
    message: 'heso.verifyLog: signers[1] must be a public key as a string (did:key or base64), not a number',
  });
  assert.throws(() => heso.verifyLog(bytes, { signers: 7 }), { name: 'TypeError', message: /^heso\.verifyLog: signers must be/ });
  assert.throws(() => heso.verifyLog(bytes, 'x'), { name: 'TypeError', message: /^heso\.verifyLog: options must be \{signers\?\}/ });
  assert.throws(() => heso.verifyLog(42), { name: 'TypeError', message: /^heso\.verifyLog: a log is a file path, a file: URL or bytes, not a number/ });
  // A single key is a list of one, as for verify.
  assert.deepEqual(heso.verifyLog(bytes, { signers: keyA.did }).pinned_keys, [keyA.did]);
});

test('a log that cannot be read throws an error naming the file and the reason, with its errno code', () => {
  const missing = join(dir, 'no-such-log.jsonl');
  assert.throws(() => heso.verifyLog(missing), (error) => {
    assert.equal(error.code, 'ENOENT');
    assert.equal(error.path, missing);
    assert.equal(error.message, `heso.verifyLog: cannot read ${missing}: No such file or directory (ENOENT)`);
    return true;
  });
  assert.throws(() => heso.verifyLog(dir), (error) => {
    assert.equal(error.code, 'EISDIR');
    assert.equal(error.path, dir);
    assert.match(error.message, /^heso\.verifyLog: cannot read .*: Is a directory \(EISDIR\)$/);
    return true;
  });
});

// Last: it opens a project in this process, after which verifyLog without signers pins
// the project's keys (as `heso verify LOG.jsonl` does inside the project).
test("with a project open, heso.verifyLog pins the project's keys as `heso verify LOG.jsonl --json` in it does", () => {
  heso.init(a.root);
  const jobs = [];
  for (const name of ['as written', 'two signers']) {
    const file = join(a.root, `${jobs.length}.jsonl`);
    writeFileSync(file, logs.get(name));
    jobs.push({ label: name, file, pins: null });
  }
  const cli = cliReports(jobs, a.root);
  assert.equal(cli[0].all_valid, true);
  assert.equal(cli[0].pinned, true);
  assert.equal(cli[1].all_valid, false);
  jobs.forEach((job, i) => {
    assert.deepEqual(heso.verifyLog(job.file), cli[i], `${job.label}: heso.verifyLog differs from the CLI`);
  });
});
