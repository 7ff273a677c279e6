// Many writers, one chain: 1,000 concurrent async gated calls from one Node process, and a
// Node and a Python process gating into the same project at once. The log stays one valid
// chain (`heso log verify`, from Node's and from Python's heso command alike).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import * as heso from 'heso';

import { childEnv, makeProject, python, receipts, REPO, verifyLog } from './helpers.mjs';

function assertOneChain(root, expected) {
  const all = receipts(root);
  assert.equal(all.length, expected);
  assert.deepEqual(
    all.map((r) => r.content.seq),
    Array.from({ length: expected }, (_, i) => i),
    'seq runs 0..n-1 in log order',
  );
  assert.equal(new Set(all.map((r) => r.content.session_id)).size, 1, 'one session');
  const verified = verifyLog(root);
  assert.equal(verified.status, 0, verified.stdout + verified.stderr);
  assert.match(verified.stdout, new RegExp(`Valid: ${expected}\\b`));
  return all;
}

test('1,000 concurrent gated calls: every receipt in one unbroken chain', async () => {
  const root = makeProject();
  heso.init(root);
  const step = heso.tool(async function concurrent_step(index) {
    return index;
  });
  let ticks = 0;
  const timer = setInterval(() => {
    ticks += 1;
  }, 5);
  const started = Date.now();
  const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => step(i)));
  const elapsed = Date.now() - started;
  clearInterval(timer);
  assert.deepEqual(results, Array.from({ length: 1000 }, (_, i) => i));
  const all = assertOneChain(root, 1000);
  const indices = all.map((r) => r.content.action.fields['0']).sort((a, b) => a - b);
  assert.deepEqual(indices, Array.from({ length: 1000 }, (_, i) => i), 'each call has its own receipt');
  assert.ok(ticks > 0, 'the event loop ran while the gates fsynced');
  console.log(`1,000 concurrent gated calls (fsync): ${elapsed} ms, ${ticks} timer ticks meanwhile`);
});

const PYTHON_WRITER = `
import os, sys, time
import heso

root, go, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
heso.init(root)

@heso.tool
def python_step(index: int) -> int:
    return index

while not os.path.exists(go):
    time.sleep(0.001)
for index in range(count):
    python_step(index)
`;

test('a Node and a Python process gate into one project at once: one log, one lock, one chain', async () => {
  const py = python();
  const root = makeProject();
  const script = join(root, 'writer.py');
  const go = join(root, 'go');
  writeFileSync(script, PYTHON_WRITER);
  const count = 300;
  const child = spawn(py, [script, root, go, String(count)], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (part) => {
    stderr += part;
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));

  heso.init(root);
  const nodeStep = heso.tool(async function node_step(index) {
    return index;
  });
  // Start together: the Python writer spins until the file exists.
  await new Promise((resolve) => setTimeout(resolve, 300));
  writeFileSync(go, '');
  for (let index = 0; index < count; index += 10) {
    await Promise.all(Array.from({ length: 10 }, (_, k) => nodeStep(index + k)));
  }
  assert.equal(await exited, 0, stderr);

  const all = assertOneChain(root, 2 * count);
  const tools = all.map((r) => r.content.action.tool_name);
  assert.equal(tools.filter((t) => t === 'python_step').length, count);
  assert.equal(tools.filter((t) => t === 'node_step').length, count);
  let switches = 0;
  for (let i = 1; i < tools.length; i += 1) {
    switches += tools[i] !== tools[i - 1] ? 1 : 0;
  }
  console.log(`Python and Node receipts interleaved: ${switches} switches between writers in ${2 * count} receipts`);
  assert.ok(switches >= 2, `the two processes wrote at the same time (${switches} switches)`);

  const pythonHeso = join(REPO, '.venv', 'bin', 'heso');
  if (existsSync(pythonHeso)) {
    const byPython = spawnSync(pythonHeso, ['log', 'verify'], { cwd: root, env: childEnv(), encoding: 'utf8' });
    assert.equal(byPython.status, 0, byPython.stdout + byPython.stderr);
  }
});
