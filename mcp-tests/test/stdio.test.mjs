// heso mcp-proxy over stdio, between the real @modelcontextprotocol/sdk client and server.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { count, envFor, hesoBin, makeProject, REPO, SERVER, textOf } from './helpers.mjs';
import { allowedBlockedApproved, withClient } from './scenario.mjs';

const proxyArgs = ['mcp-proxy', '--workflow', 'mcp-test', '--', process.execPath, SERVER, 'stdio'];

function transport(fixture) {
  return new StdioClientTransport({
    command: hesoBin(), args: proxyArgs, cwd: fixture.project, env: envFor(fixture.root), stderr: 'inherit',
  });
}

test('stdio: allowed, blocked and approved calls', async () => {
  const fixture = makeProject();
  await allowedBlockedApproved(fixture, () => transport(fixture));
});

const INIT = {
  jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};
const line = (message) => `${JSON.stringify(message)}\n`;

/**
 * Runs the proxy with raw lines from a client: writes INIT and the initialized notification,
 * then each of LINES; calls CLOSEWHEN(replies) after each reply and ends stdin when it says
 * so ('now': right after the lines; null: never). Resolves with the exit code, signal, replies and stderr.
 */
function rawSession(fixture, lines, closeWhen, init = INIT) {
  const child = spawn(hesoBin(), proxyArgs, {
    cwd: fixture.project, env: envFor(fixture.root), stdio: ['pipe', 'pipe', 'pipe'],
  });
  const replies = [];
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c) => { stderr += c; });
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    stdout += chunk;
    let newline;
    while ((newline = stdout.indexOf('\n')) >= 0) {
      replies.push(JSON.parse(stdout.slice(0, newline)));
      stdout = stdout.slice(newline + 1);
    }
    if (typeof closeWhen === 'function' && closeWhen(replies)) child.stdin.end();
  });
  child.stdin.write(line(init) + line({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  for (const l of lines) child.stdin.write(l);
  if (closeWhen === 'now') child.stdin.end();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the proxy did not exit within 30 s; stderr: ${stderr}`));
    }, 30_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, replies, stderr });
    });
  });
}

test('stdio: a session the client ends exits 0 and says nothing', async () => {
  const fixture = makeProject();
  const listed = line({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
  const done = await rawSession(fixture, [listed], (replies) => replies.some((r) => r.id === 2));
  assert.equal(done.code, 0, done.stderr);
  assert.equal(done.stderr, '');
  assert.ok(done.replies.find((r) => r.id === 2).result.tools.length >= 4);
});

test('stdio: answers still on their way when the client closes its end are delivered', async () => {
  const fixture = makeProject();
  const search = line({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'search', arguments: { query: 'late' } } });
  // Ends stdin right after writing: the call's answer comes after the client's EOF.
  const done = await rawSession(fixture, [search], 'now');
  assert.equal(done.code, 0, done.stderr);
  const answer = done.replies.find((r) => r.id === 2);
  assert.ok(answer, `no answer to the call: ${JSON.stringify(done.replies)}`);
  assert.equal(answer.result.content[0].text, 'results for late');
  assert.equal(count(fixture, 'search'), 1);
});

test('stdio: a server that crashes mid-call ends the proxy with a clear error', async () => {
  const fixture = makeProject();
  const crash = line({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'crash', arguments: {} } });
  const done = await rawSession(fixture, [crash], null); // the client never closes its end
  assert.equal(done.code, 1, done.stderr);
  assert.match(done.stderr, /the MCP server exited with status 3/);
  assert.match(done.stderr, /1 request unanswered \(tools\/call crash\)/);
});

test('stdio: the SDK client sees a crash as a closed connection, not a timeout', async () => {
  const fixture = makeProject();
  const started = Date.now();
  await withClient(transport(fixture), async (client) => {
    await assert.rejects(
      client.callTool({ name: 'crash', arguments: {} }, undefined, { timeout: 60_000 }),
      (error) => !/timed out/i.test(error.message) && /closed/i.test(error.message),
    );
  });
  assert.ok(Date.now() - started < 50_000, 'the client waited for its timeout');
});

test('stdio: every protocol revision the SDK speaks is passed through and gated', async () => {
  const fixture = makeProject();
  const search = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'search', arguments: { query: 'v' } } };
  const wire = { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'wire', arguments: { amount: 1, to: 'x' } } };
  for (const version of SUPPORTED_PROTOCOL_VERSIONS) {
    const init = { ...INIT, params: { ...INIT.params, protocolVersion: version } };
    const done = await rawSession(fixture, [line(search), line(wire)],
      (replies) => [1, 2, 3].every((id) => replies.some((r) => r.id === id)), init);
    assert.equal(done.code, 0, done.stderr);
    const reply = (id) => done.replies.find((r) => r.id === id);
    assert.equal(reply(1).result.protocolVersion, version, 'the server agreed to the client\'s revision');
    assert.equal(reply(2).result.content[0].text, 'results for v');
    assert.equal(reply(3).result.isError, true);
    assert.match(reply(3).result.content[0].text, /wire\.block/);
  }
  assert.equal(count(fixture, 'search'), SUPPORTED_PROTOCOL_VERSIONS.length);
  assert.equal(count(fixture, 'wire'), 0);
});

test('stdio: a client that stops reading ends the session with a clear error', async () => {
  const fixture = makeProject();
  const child = spawn(hesoBin(), proxyArgs, {
    cwd: fixture.project, env: envFor(fixture.root), stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c) => { stderr += c; });
  child.stdout.destroy(); // our end of the proxy's output: its writes now fail
  child.stdin.write(line(INIT)); // the stdin stays open
  const [code] = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`no exit: ${stderr}`)); }, 30_000);
    child.on('exit', (...args) => { clearTimeout(timer); resolve(args); });
  });
  assert.equal(code, 1, stderr);
  assert.match(stderr, /cannot write to the MCP client \(its end is closed\); stopped the MCP server/);
});

test('stdio: the SDK client through the proxy to a server of the mcp Python package', async () => {
  const fixture = makeProject();
  // heso-py/tests/test_mcp_proxy.py's server (the same tools), run with the main .venv's mcp.
  const python = process.env.HESO_MCP2_PYTHON || join(REPO, '.venv', 'bin', 'python');
  const server = join(fixture.root, 'server.py');
  const wrote = spawnSync(python, ['-c',
    'import sys; sys.path.insert(0, sys.argv[1]); import test_mcp_proxy as t; open(sys.argv[2], "w").write(t.SERVER)',
    join(REPO, 'heso-py', 'tests'), server], { encoding: 'utf8' });
  assert.equal(wrote.status, 0, wrote.stderr);
  const pyTransport = new StdioClientTransport({
    command: hesoBin(), args: ['mcp-proxy', '--workflow', 'mcp-test', '--', python, server],
    cwd: fixture.project, env: envFor(fixture.root),
  });
  const [info, allowed, blocked] = await withClient(pyTransport, async (client) => [
    client.getServerVersion(),
    await client.callTool({ name: 'search', arguments: { query: 'mixed' } }),
    await client.callTool({ name: 'wire', arguments: { amount: 1, to: 'x' } }),
  ]);
  assert.equal(info.name, 'stub');
  assert.ok(!allowed.isError && textOf(allowed).includes('results for mixed'), textOf(allowed));
  assert.equal(blocked.isError, true);
  assert.match(textOf(blocked), /wire\.block/);
  assert.equal(count(fixture, 'search'), 1);
  assert.equal(count(fixture, 'wire'), 0);
});
