// The session both transports run: a listed tool allowed, one blocked, one that needs a
// person, approved with `heso approve`, then retried.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { approve, count, envFor, hesoBin, pendingIdOf, receipts, textOf } from './helpers.mjs';

/** Connects a real SDK client over TRANSPORT, runs WORK(client), closes the client. */
export async function withClient(transport, work) {
  const client = new Client({ name: 'heso-mcp-tests', version: '1.0.0' });
  await client.connect(transport);
  try {
    return await work(client);
  } finally {
    await client.close();
  }
}

const call = (client, name, args) => client.callTool({ name, arguments: args });

/** NEW_TRANSPORT() gives a fresh client transport to the proxy for each of two sessions. */
export async function allowedBlockedApproved(fixture, newTransport) {
  const first = await withClient(newTransport(), async (client) => ({
    tools: await client.listTools(),
    allowed: await call(client, 'search', { query: 'pricing' }),
    blocked: await call(client, 'wire', { amount: 5000, to: 'acct-9' }),
    parked: await call(client, 'drop_table', { name: 'users' }),
  }));
  const names = first.tools.tools.map((t) => t.name);
  for (const tool of ['search', 'wire', 'drop_table']) assert.ok(names.includes(tool), names.join());

  assert.ok(!first.allowed.isError, textOf(first.allowed));
  assert.equal(textOf(first.allowed), 'results for pricing');
  assert.equal(count(fixture, 'search'), 1);

  assert.equal(first.blocked.isError, true);
  const blocked = textOf(first.blocked);
  assert.match(blocked, /wire\.block/);
  const hashes = receipts(fixture).map((r) => r.content.action_hash);
  assert.ok(hashes.some((h) => blocked.includes(h)), `no receipt hash in: ${blocked}`);
  assert.equal(count(fixture, 'wire'), 0, 'a blocked call never reaches the server');

  assert.equal(first.parked.isError, true);
  const pending = pendingIdOf(textOf(first.parked));
  assert.equal(count(fixture, 'drop_table'), 0);
  approve(fixture, pending);

  const second = await withClient(newTransport(), async (client) => ({
    other: await call(client, 'drop_table', { name: 'orders' }),
    same: await call(client, 'drop_table', { name: 'users' }),
    again: await call(client, 'drop_table', { name: 'users' }),
  }));
  assert.equal(second.other.isError, true, 'an approval covers only the call that was approved');
  assert.ok(!second.same.isError, textOf(second.same));
  assert.equal(textOf(second.same), 'dropped users');
  assert.equal(second.again.isError, true, 'an approval runs once');
  assert.equal(count(fixture, 'drop_table'), 1);

  const actions = receipts(fixture).map((r) => r.content.action).filter((a) => a.verb === 'tool_call');
  assert.ok(actions.length > 0 && actions.every((a) => a.workflow === 'mcp-test'));
  assert.ok(actions.some((a) => a.tool_name === 'search' && JSON.stringify(a.fields) === '{"query":"pricing"}'));
  const verified = spawnSync(hesoBin(), ['log', 'verify'], {
    cwd: fixture.project, env: envFor(fixture.root), encoding: 'utf8',
  });
  assert.equal(verified.status, 0, verified.stdout + verified.stderr);
}
