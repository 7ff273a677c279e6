// Approvals from Node: a parked call (SuspendedError), a person's decision with the heso
// command, and resume: once, in this process or another one, waiting or not.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';

import * as heso from 'heso';

import { addApprover, childEnv, decide, HESO_BIN, last, makeProject, PACKAGE, receipts, verifyLog } from './helpers.mjs';

const run = promisify(execFile);

async function parked(call) {
  try {
    await call();
  } catch (error) {
    if (error instanceof heso.SuspendedError) {
      return error;
    }
    throw error;
  }
  throw new Error('the call was not suspended');
}

test('a parked call resumes once after approval, with the arguments held in this process', async () => {
  const root = makeProject();
  const key = addApprover(root);
  heso.init(root);
  const runs = [];
  const remove = heso.destructive(async function delete_record(id, { reason }) {
    runs.push([id, reason]);
    return `deleted ${id}`;
  });
  const suspended = await parked(() => remove('r-981', { reason: 'gdpr' }));
  assert.deepEqual(suspended.approvers, ['alice']);
  assert.match(suspended.message, /heso approve [0-9a-f]{16}`, then heso\.resume\('[0-9a-f]{16}'\)/);
  assert.equal(runs.length, 0);

  await assert.rejects(heso.resume(suspended.pendingId), (error) => {
    assert.ok(error instanceof heso.SuspendedError);
    assert.match(error.message, /has not been decided yet/);
    return true;
  });

  const approved = decide(root, 'approve', suspended.pendingId, key);
  assert.equal(approved.status, 0, approved.stderr);
  assert.equal(await heso.resume(suspended.pendingId), 'deleted r-981');
  assert.deepEqual(runs, [['r-981', 'gdpr']]);
  assert.match(last(root).policy.rule_display, /\(resumed: approved in [0-9a-f]+\)$/);
  await assert.rejects(heso.resume(suspended.pendingId), (error) => {
    assert.ok(error instanceof heso.ApprovalError);
    assert.match(error.message, /already resumed/);
    return true;
  });
  assert.equal(runs.length, 1, 'an approval runs once');
  const levels = receipts(root).map((r) => r.content.trust_level);
  assert.ok(levels.includes('L1'));
  assert.equal(verifyLog(root).status, 0);
});

test('resume with timeoutMs waits for the decision off the event loop', async () => {
  const root = makeProject();
  const key = addApprover(root);
  heso.init(root);
  const remove = heso.destructive(async function delete_waiting(id) {
    return id;
  });
  const suspended = await parked(() => remove('r-1'));
  let ticks = 0;
  const timer = setInterval(() => {
    ticks += 1;
  }, 10);
  const waiting = heso.resume(suspended.pendingId, { timeoutMs: 60_000 });
  await new Promise((resolve) => setTimeout(resolve, 200));
  await run(process.execPath, [HESO_BIN, 'approve', suspended.pendingId, '--key', key, '--yes'], {
    cwd: root,
    env: childEnv({ HESO_APPROVER_PASSPHRASE: 'approver pass' }),
  });
  assert.equal(await waiting, 'r-1');
  clearInterval(timer);
  assert.ok(ticks >= 10, `the event loop kept running while waiting (${ticks} ticks)`);

  const other = await parked(() => remove('r-2'));
  const started = Date.now();
  await assert.rejects(heso.resume(other.pendingId, { timeoutMs: 300 }), heso.SuspendedError);
  assert.ok(Date.now() - started >= 250);
});

test('another process resumes a call parked elsewhere, with the recorded arguments', async () => {
  const root = makeProject();
  const key = addApprover(root);
  const script = join(root, 'park.mjs');
  writeFileSync(
    script,
    `import * as heso from ${JSON.stringify(join(PACKAGE, 'dist', 'index.mjs'))};
heso.init(process.argv[2]);
const remove = heso.destructive(async function purge_account({ account, keepInvoices }) {});
try { await remove({ account: 'acct-7', keepInvoices: true }); } catch (e) { console.log(e.pendingId); }
`,
  );
  const child = spawnSync(process.execPath, [script, root], { env: childEnv(), encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  const pendingId = child.stdout.trim();
  assert.match(pendingId, /^[0-9a-f]{16}$/);
  assert.equal(decide(root, 'approve', pendingId, key).status, 0);

  heso.init(root);
  await assert.rejects(heso.resume(pendingId), (error) => {
    assert.ok(error instanceof heso.ApprovalError);
    assert.match(error.message, /runs tool "purge_account", which this process has not gated/);
    return true;
  });
  const seen = [];
  heso.destructive(async function purge_account(options) {
    seen.push(options);
    return 'purged';
  });
  assert.equal(await heso.resume(pendingId), 'purged');
  assert.deepEqual(seen, [{ account: 'acct-7', keepInvoices: true }]);
});

test('a rejected call, changed arguments and unknown ids never run', async () => {
  const root = makeProject();
  const key = addApprover(root);
  heso.init(root);
  let runs = 0;
  const update = heso.destructive(async function update_rows(spec) {
    runs += 1;
  });
  const rejected = await parked(() => update({ where: 'id = 1' }));
  assert.equal(decide(root, 'reject', rejected.pendingId, key).status, 0);
  await assert.rejects(heso.resume(rejected.pendingId), heso.ApprovalError);

  const spec = { where: 'id = 7' };
  const changed = await parked(() => update(spec));
  assert.equal(decide(root, 'approve', changed.pendingId, key).status, 0);
  spec.where = '1 = 1';
  await assert.rejects(heso.resume(changed.pendingId), (error) => {
    assert.ok(error instanceof heso.ApprovalError);
    return true;
  });
  assert.equal(runs, 0);

  for (const id of ['0000000000000000', '../../etc/passwd', '']) {
    await assert.rejects(heso.resume(id), heso.ApprovalError);
  }
  await assert.rejects(heso.resume(5), TypeError);
  await assert.rejects(heso.resume('abc', { timeoutMs: -1 }), TypeError);
  await assert.rejects(heso.resume('abc', { timeoutMs: '5' }), TypeError);
});
