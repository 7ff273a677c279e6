// heso mcp-proxy --listen/--upstream (MCP's streamable HTTP transport), between the real
// @modelcontextprotocol/sdk client and server, with the server answering in SSE and in JSON.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { envFor, hesoBin, makeProject, SERVER, startAndWait, stop } from './helpers.mjs';
import { allowedBlockedApproved, withClient } from './scenario.mjs';

/** The SDK server over streamable HTTP and the proxy in front of it; yields the proxy's URL. */
async function withProxy(fixture, format, work) {
  const server = await startAndWait(process.execPath, [SERVER, 'http', '0', format],
    { env: envFor(fixture.root) }, /listening on (\d+)/);
  try {
    const upstream = `http://127.0.0.1:${server.match[1]}/mcp`;
    const proxy = await startAndWait(hesoBin(),
      ['mcp-proxy', '--workflow', 'mcp-test', '--listen', '127.0.0.1:0', '--upstream', upstream],
      { cwd: fixture.project, env: envFor(fixture.root) }, /listening on (http:\/\/\S+?),/);
    try {
      return await work(new URL(proxy.match[1]), proxy);
    } finally {
      await stop(proxy.child);
    }
  } finally {
    await stop(server.child);
  }
}

for (const format of ['sse', 'json']) {
  test(`http (${format}): allowed, blocked and approved calls`, async () => {
    const fixture = makeProject();
    await withProxy(fixture, format, async (url) => {
      assert.equal(url.pathname, '/mcp');
      await allowedBlockedApproved(fixture, () => new StreamableHTTPClientTransport(url));

      // The SDK ends a session with DELETE; relayed, the server forgets the session.
      const transport = new StreamableHTTPClientTransport(url);
      await withClient(transport, async (client) => {
        assert.ok(transport.sessionId, 'the session id came back through the proxy');
        await client.listTools();
        await transport.terminateSession();
        assert.equal(transport.sessionId, undefined);
        await assert.rejects(client.listTools(), /404|session/i);
      });
    });
  });
}

test('http: a server that crashes mid-call fails the call, no hang', async () => {
  const fixture = makeProject();
  await withProxy(fixture, 'sse', async (url) => {
    const started = Date.now();
    await withClient(new StreamableHTTPClientTransport(url), async (client) => {
      const outcome = await client.callTool({ name: 'crash', arguments: {} }, undefined, { timeout: 60_000 })
        .then((result) => ({ result }), (error) => ({ error }));
      if (outcome.error) {
        // The upstream died before its answer: the proxy's 502 names it.
        assert.match(outcome.error.message, /the upstream MCP server at \S+ did not answer/);
      } else {
        assert.equal(outcome.result.isError, true, JSON.stringify(outcome.result));
      }
    });
    assert.ok(Date.now() - started < 50_000, 'the client waited for its timeout');
  });
});
