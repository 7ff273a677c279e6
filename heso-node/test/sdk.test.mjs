// The API of the npm package against the built addon: init, tool, toolSync, destructive,
// step, verify, the error classes, and the CommonJS entry point sharing the ES one's state.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';

import * as heso from 'heso';

import { last, makeProject, receipts, snapshot, verifyLog, PACKAGE } from './helpers.mjs';

const BLOCK_RULES = `
[[rule]]
id = "wire.block"
order = 1
verb = "tool_call"
tool = "wire_*"
decision = "block"
`;

test('init without a project is a ConfigError that says to run heso init', () => {
  assert.throws(() => heso.init(join(PACKAGE, 'no-such-folder')), (error) => {
    assert.ok(error instanceof heso.ConfigError);
    assert.ok(error instanceof heso.HesoError);
    assert.equal(error.name, 'ConfigError');
    return true;
  });
  assert.throws(() => heso.init(42), TypeError);
});

test('an allowed tool runs after its receipt is in the log, with the arguments as fields', async () => {
  const root = makeProject();
  heso.init(root);
  const seen = [];
  const search = heso.tool(async function search(query, limit) {
    seen.push(receipts(root).length);
    return `results for ${query}`;
  });
  assert.equal(search.name, 'search');
  assert.equal(await search('pricing', 3), 'results for pricing');
  assert.deepEqual(seen, [1], 'the receipt was appended before the body ran');
  const content = last(root);
  assert.equal(content.action.verb, 'tool_call');
  assert.equal(content.action.tool_name, 'search');
  assert.deepEqual(content.action.fields, { 0: 'pricing', 1: 3 });
  assert.equal(content.policy.decision_path, 'allow');
  assert.equal(verifyLog(root).status, 0);
});

test('a single plain-object argument records its keys; params name positional arguments', async () => {
  const root = makeProject();
  heso.init(root);
  const send = heso.tool(async function send({ to, body }) {
    return to;
  });
  await send({ to: 'ops@example.com', body: 'hi', skipped: undefined });
  assert.deepEqual(last(root).action.fields, { to: 'ops@example.com', body: 'hi' });

  await send({ to: 'a', body: 'b' }, 'extra');
  assert.deepEqual(last(root).action.fields, { to: 'a', body: 'b', 1: 'extra' });

  const transfer = heso.tool(async (from, to, amount) => amount, { name: 'transfer', params: ['from', 'to', 'amount'] });
  await transfer('acct-1', 'acct-2', 12.5);
  assert.deepEqual(last(root).action.fields, { from: 'acct-1', to: 'acct-2', amount: 12.5 });
  assert.equal(last(root).action.tool_name, 'transfer');

  const twoParams = heso.tool(async function pair(a, b) {});
  await twoParams({ x: 1 }, 2);
  assert.deepEqual(last(root).action.fields, { 0: { x: 1 }, 1: 2 });
});

test('a blocked tool throws BlockedError before its body and leaves a receipt', async () => {
  const root = makeProject({ rules: BLOCK_RULES });
  heso.init(root);
  let ran = false;
  const wire = heso.tool(async function wire_transfer(amount) {
    ran = true;
  });
  await assert.rejects(wire(100), (error) => {
    assert.ok(error instanceof heso.BlockedError);
    assert.equal(error.ruleId, 'wire.block');
    assert.match(error.message, /heso blocked wire_transfer: rule wire\.block/);
    assert.equal(error.actionHash, last(root).action_hash);
    return true;
  });
  assert.equal(ran, false);
  assert.equal(last(root).policy.decision_path, 'block');

  const wireSync = heso.toolSync(function wire_sync() {
    ran = true;
  });
  assert.throws(() => wireSync(), heso.BlockedError);
  assert.equal(ran, false);
});

test('observe-only (blocking: false) records the refusal and runs the body', async () => {
  const root = makeProject({ rules: BLOCK_RULES });
  heso.init(root);
  const wire = heso.tool(async function wire_observed() {
    return 'ran';
  }, { blocking: false });
  assert.equal(await wire(), 'ran');
  const content = last(root);
  assert.equal(content.policy.decision_path, 'block');
  assert.match(content.policy.rule_display, /\(observed, not enforced\)$/);
});

test('toolSync returns the value itself and keeps this', () => {
  const root = makeProject();
  heso.init(root);
  const counter = {
    base: 10,
    add: heso.toolSync(function add(n) {
      return this.base + n;
    }),
  };
  assert.equal(counter.add(5), 15);
  assert.deepEqual(last(root).action.fields, { 0: 5 });
});

test('exceptions from the body propagate unchanged', async () => {
  const root = makeProject();
  heso.init(root);
  const failing = heso.tool(async function failing() {
    throw new RangeError('from the body');
  });
  await assert.rejects(failing(), RangeError);
});

test('redact commits a field (salted, revealable); destructive drops it; the value is written nowhere', async () => {
  const root = makeProject();
  heso.init(root);
  const call = heso.tool(async function call_partner({ apiKey, endpoint }) {}, { redact: ['apiKey'] });
  await call({ apiKey: 'sk-live-secret-1', endpoint: '/v1' });
  let content = last(root);
  assert.equal(typeof content.action.fields.apiKey._sd, 'string');
  assert.equal(content.action.fields.endpoint, '/v1');
  assert.equal(content.redaction.mode, 'commit_and_reveal');
  const drop = heso.tool(async function drop_it(token, note) {}, { redact: '0', redactMode: 'destructive' });
  await drop('sk-live-secret-2', 'n');
  content = last(root);
  assert.equal(content.action.fields['0'], '[redacted]');
  assert.equal(content.redaction.mode, 'destructive');
  const { log, salts } = snapshot(root);
  for (const secret of ['sk-live-secret-1', 'sk-live-secret-2']) {
    assert.ok(!log.includes(secret) && !salts.includes(secret), `${secret} is written nowhere`);
  }
  assert.equal(verifyLog(root).status, 0);
});

test('a redact path that finds no value refuses the call; one on a left-out argument does not', async () => {
  const root = makeProject();
  heso.init(root);
  const call = heso.tool(async function nested({ auth, body }) {}, { redact: ['auth.token'] });
  const before = snapshot(root);
  await assert.rejects(call({ auth: { tokn: 'sk-typo' }, body: 1 }), (error) => {
    assert.ok(error instanceof heso.GateError);
    assert.match(error.message, /redact path "auth\.token" matches no value/);
    assert.ok(!error.message.includes('sk-typo'));
    return true;
  });
  assert.deepEqual(snapshot(root), before);
  await call({ body: 1 }); // auth left out: nothing to hide
  assert.throws(
    () => heso.tool(async (a) => a, { name: 'p', params: ['apiKey'], redact: ['apikey'] }),
    /cannot match: there is no parameter "apikey"/,
  );
});

test('destructive always suspends for a person, whatever blocking says', async () => {
  const root = makeProject();
  heso.init(root);
  let ran = false;
  const remove = heso.destructive(async function delete_record(id) {
    ran = true;
  }, { blocking: false });
  await assert.rejects(remove('r-981'), (error) => {
    assert.ok(error instanceof heso.SuspendedError);
    assert.match(error.pendingId, /^[0-9a-f]{16}$/);
    assert.deepEqual(error.approvers, []);
    assert.match(error.message, /heso keys new-approver NAME --default/);
    return true;
  });
  assert.equal(ran, false);
  const content = last(root);
  assert.equal(content.action.verb, 'delete');
  assert.equal(content.policy.decision_path, 'require_approval');
  assert.throws(() => heso.destructive(async () => {}, { name: 'd', verb: 'tool_call' }), TypeError);
});

test('step scopes workflow and account with AsyncLocalStorage; concurrent work keeps its own', async () => {
  const root = makeProject({ durability: 'os' });
  heso.init(root);
  const probe = heso.tool(async function probe(tag) {});
  const run = (workflow, tag) =>
    heso.step({ workflow, account: `acct-${tag}` }, async () => {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 20));
      await probe(tag);
      await heso.step({ workflow: `${workflow}.inner` }, () => probe(`${tag}-inner`));
      await probe(`${tag}-after`);
    });
  await Promise.all(['a', 'b', 'c', 'd'].map((tag) => run(`wf-${tag}`, tag)));
  await probe('outside');
  const byTag = new Map(receipts(root).map((r) => [r.content.action.fields['0'], r.content.action]));
  for (const tag of ['a', 'b', 'c', 'd']) {
    assert.equal(byTag.get(tag).workflow, `wf-${tag}`);
    assert.equal(byTag.get(tag).account, `acct-${tag}`);
    assert.equal(byTag.get(`${tag}-inner`).workflow, `wf-${tag}.inner`);
    assert.equal(byTag.get(`${tag}-inner`).account, `acct-${tag}`, 'the account is inherited');
    assert.equal(byTag.get(`${tag}-after`).workflow, `wf-${tag}`, 'the outer step is restored');
  }
  assert.equal(byTag.get('outside').workflow, 'default');
  assert.equal(byTag.get('outside').account, 'default');
  assert.equal(heso.step({ workflow: 'sync' }, () => 7), 7);
});

test('verify: a receipt from the log, by object, text, bytes, path and URL, with signers and pins', async () => {
  const root = makeProject();
  heso.init(root);
  const search = heso.tool(async function search(q) {});
  await search('x');
  const receipt = receipts(root).at(-1);
  const text = JSON.stringify(receipt);
  const file = join(root, 'receipt.json');
  writeFileSync(file, text);
  for (const input of [receipt, text, Buffer.from(text), new Uint8Array(Buffer.from(text)), file, pathToFileURL(file)]) {
    const report = heso.verify(input);
    assert.equal(report.valid, true, report.detail);
    assert.equal(report.verdict, 'Valid');
    assert.equal(report.trust_level, 'L0');
    assert.equal(report.pinned, true, 'the project pins its operator after init');
    assert.equal(report.signers.length, 1);
    assert.equal(report.signers[0].role, 'operator');
    assert.equal(report.signers[0].pin, 'pinned');
    assert.match(report.signers[0].key, /^did:key:z6Mk/);
    assert.equal(report.operator, report.signers[0].key);
    assert.deepEqual(report.pinned_keys, [report.operator]);
    assert.equal(report.action_hash, receipt.content.action_hash);
    // The old names are read-only aliases, not enumerable (JSON is the CLI's report).
    assert.equal(report.kind, 'Valid');
    assert.equal(report.trustLevel, 'L0');
    assert.equal(report.actionHash, receipt.content.action_hash);
    assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(report))), Object.keys(report));
    assert.ok(!Object.keys(report).includes('kind'));
  }
  const operator = heso.verify(receipt).operator;
  assert.equal(heso.verify(receipt, { signers: [operator] }).valid, true);
  const stranger = 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK';
  const untrusted = heso.verify(receipt, { signers: stranger });
  assert.equal(untrusted.valid, false);
  assert.equal(untrusted.verdict, 'UntrustedSigner');
  assert.equal(untrusted.operator, null);
  assert.deepEqual(untrusted.signers, [{ role: 'operator', key: operator, pin: 'not_pinned' }]);

  const tampered = structuredClone(receipt);
  tampered.content.action.fields['0'] = 'y';
  const report = heso.verify(tampered);
  assert.equal(report.valid, false);
  assert.equal(report.verdict, 'HashMismatch');

  for (const garbage of ['{"alg":', Buffer.from([0xff, 0xfe, 0x00]), '[]', '{"a":1,"a":2}']) {
    const bad = heso.verify(garbage);
    assert.equal(bad.valid, false);
    assert.equal(bad.verdict, 'Malformed');
    assert.deepEqual(bad.signers, []);
    assert.equal(bad.trust_level, null);
    assert.equal(bad.action_hash, null);
  }
  assert.equal(heso.verify({ alg: 1 }).verdict, 'WrongAlgorithm');
  assert.throws(() => heso.verify(receipt, { signers: ['not a key'] }), TypeError);
  assert.throws(() => heso.verify(receipt, { signers: [1] }), TypeError);
  assert.throws(() => heso.verify(42), TypeError);
  assert.throws(() => heso.verify(join(root, 'missing.json')), { code: 'ENOENT' });
  assert.equal(readFileSync(file, 'utf8'), text);
});

test('the CommonJS entry point is the same module: one project, one set of classes', () => {
  const require = createRequire(import.meta.url);
  const cjs = require('heso');
  assert.equal(cjs.tool, heso.tool);
  assert.equal(cjs.BlockedError, heso.BlockedError);
  assert.equal(heso.default.init, heso.init);
  assert.deepEqual([...heso.VERBS].sort(), [
    'account_change', 'data_export', 'delete', 'http_request', 'llm_call', 'payment', 'tool_call',
  ]);
  assert.equal(typeof heso.version, 'string');
  const esmNames = Object.keys(heso).filter((n) => n !== 'default').sort();
  const cjsNames = Object.keys(cjs).filter((n) => n !== '__esModule').sort();
  assert.deepEqual(esmNames, cjsNames, 'the ES entry point exports every name of the CommonJS one');
});

test('the heso command runs from the package (npx heso)', async () => {
  const root = makeProject();
  heso.init(root);
  await heso.tool(async function one() {})();
  const done = verifyLog(root);
  assert.equal(done.status, 0, done.stderr);
  assert.match(done.stdout, /all receipts valid/);
});
