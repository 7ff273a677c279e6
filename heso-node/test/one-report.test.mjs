// One verifier report: `heso.verify(bytes, {signers})` returns the report `heso verify FILE
// --json` prints for the same bytes and pins, field for field, on the reference vectors
// (heso-receipt/tests/data), their tampered cases and bytes that are not a receipt, each
// under several pin sets, and on a project's receipt (pinned by the project's keys) and a
// tampered copy. A pin that is not a key is refused with the CLI's words.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { childEnv, cliReports, makeProject, PACKAGE, receipts, REPO } from './helpers.mjs';

const require = createRequire(import.meta.url);
const heso = require('../dist/index.cjs');

const VECTORS = join(REPO, 'heso-receipt', 'tests', 'data');
const vector = (name) => JSON.parse(readFileSync(join(VECTORS, name), 'utf8'));

function receiptCases() {
  const cases = new Map();
  for (const name of ['receipt_l0', 'receipt_l1', 'redaction_commit_reveal', 'redaction_destructive']) {
    cases.set(name, Buffer.from(JSON.stringify(vector(`${name}.json`).receipt)));
  }
  for (const c of vector('tampered.json').cases) {
    cases.set(`tampered: ${c.name}`, Buffer.from(JSON.stringify(c.receipt)));
  }
  cases.set('not json', Buffer.from('{not json'));
  cases.set('empty', Buffer.alloc(0));
  cases.set('not utf-8', Buffer.from([0xff]));
  return cases;
}

// Pin sets: name -> keys (undefined: nothing pinned, the CLI's --any-signer).
function pinSets() {
  const keys = vector('keys.json');
  return new Map([
    ['any', undefined],
    ['operator', [keys.operator.did_key]],
    // One as did:key, one as base64: both forms parse the same.
    ['both', [keys.operator.did_key, keys.approver.public_key_b64]],
    // The same key twice, in both forms: pinned once.
    ['twice', [keys.operator.did_key, keys.operator.public_key_b64]],
    ['other', [keys.other.did_key]],
  ]);
}

test('heso.verify returns the report `heso verify FILE --json` prints, field for field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'heso-node-one-report-'));
  const jobs = [];
  let n = 0;
  for (const [name, bytes] of receiptCases()) {
    n += 1;
    const file = join(dir, `case-${n}.json`);
    writeFileSync(file, bytes);
    for (const [pinName, pins] of pinSets()) {
      jobs.push({ label: `${name} under ${pinName}`, file, bytes, pins });
    }
  }
  const cli = cliReports(jobs, dir);
  const kinds = new Set();
  jobs.forEach((job, i) => {
    const report = heso.verify(job.bytes, job.pins === undefined ? undefined : { signers: job.pins });
    // JSON's view of the report (what --json prints): the enumerable fields only.
    const seen = JSON.parse(JSON.stringify(report));
    assert.deepEqual(seen, cli[i], `${job.label}: heso.verify differs from the CLI`);
    kinds.add(cli[i].verdict);
  });
  // The cases reach more than one verdict (a comparison of identical Malformed reports
  // would prove little).
  for (const kind of ['Valid', 'HashMismatch', 'InvalidSignature', 'UntrustedSigner', 'Malformed']) {
    assert.ok(kinds.has(kind), `no case gave ${kind}: ${[...kinds].join(', ')}`);
  }
});

test('a pin that is not a key is refused with the words of the CLI', () => {
  const bytes = Buffer.from(JSON.stringify(vector('receipt_l0.json').receipt));
  const dir = mkdtempSync(join(tmpdir(), 'heso-node-one-report-'));
  const file = join(dir, 'r.json');
  writeFileSync(file, bytes);
  for (const bad of ['nope', 'A'.repeat(500)]) {
    const done = spawnSync(process.execPath, [join(PACKAGE, 'bin', 'heso.cjs'), 'verify', file, '--signer', bad, '--json'], {
      cwd: dir,
      env: childEnv(),
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(done.status, 2, done.stderr);
    // heso: error: --signer "nope" is not a public key (did:key or base64): …
    const words = /--signer (.*)$/m.exec(done.stderr)?.[1];
    assert.ok(words !== undefined, done.stderr);
    assert.throws(
      () => heso.verify(bytes, { signers: ['did:key:z6Mkon3Necd6NkkyfoGoHxid2znGc59LU3K7mubaRcFbLfLX', bad] }),
      (error) => error instanceof TypeError && error.message === `signer ${words}`,
    );
  }
});

// Last: it opens a project in this process, after which verify without signers pins the
// project's keys (as `heso verify FILE` does inside the project).
test("with a project open, heso.verify pins the project's keys as `heso verify FILE --json` in it does", async () => {
  const root = makeProject({ durability: 'os' });
  heso.init(root);
  const search = heso.tool(async function search(q) {});
  await search('x');
  const receipt = receipts(root).at(-1);
  const tampered = structuredClone(receipt);
  tampered.content.action.fields['0'] = 'y';
  const jobs = [];
  for (const [label, value] of [['from the log', receipt], ['tampered', tampered]]) {
    const file = join(root, `${jobs.length}.json`);
    const bytes = Buffer.from(JSON.stringify(value));
    writeFileSync(file, bytes);
    jobs.push({ label, file, bytes, pins: null });
  }
  const cli = cliReports(jobs, root);
  assert.equal(cli[0].verdict, 'Valid');
  assert.equal(cli[0].pinned, true);
  assert.equal(cli[1].verdict, 'HashMismatch');
  jobs.forEach((job, i) => {
    assert.deepEqual(JSON.parse(JSON.stringify(heso.verify(job.bytes))), cli[i], `${job.label}: heso.verify differs from the CLI`);
  });
});
