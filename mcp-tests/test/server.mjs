// The MCP server the tests put behind `heso mcp-proxy`, written with the real
// @modelcontextprotocol/sdk. Each tool that runs appends one byte to CALLS_DIR/<tool>, so a
// test can tell whether a call reached it.
//   node server.mjs stdio
//   node server.mjs http PORT json|sse      (streamable HTTP at /mcp, stateful sessions)
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const calls = process.env.CALLS_DIR;
if (!calls) throw new Error('set CALLS_DIR');
const record = (tool) => appendFileSync(join(calls, tool), 'x');
const text = (t) => ({ content: [{ type: 'text', text: t }] });

function build() {
  const server = new McpServer({ name: 'stub', version: '1.0.0' });
  server.registerTool('search', { inputSchema: { query: z.string() } }, async ({ query }) => {
    record('search');
    return text(`results for ${query}`);
  });
  server.registerTool('wire', { inputSchema: { amount: z.number(), to: z.string() } }, async () => {
    record('wire');
    return text('sent');
  });
  server.registerTool('drop_table', { inputSchema: { name: z.string() } }, async ({ name }) => {
    record('drop_table');
    return text(`dropped ${name}`);
  });
  server.registerTool('crash', { inputSchema: {} }, async () => {
    process.exit(3);
  });
  return server;
}

const [mode, port, format] = process.argv.slice(2);
if (mode === 'stdio') {
  await build().connect(new StdioServerTransport());
} else if (mode === 'http') {
  const sessions = new Map();
  const http = createServer(async (req, res) => {
    if (new URL(req.url, 'http://x').pathname !== '/mcp') {
      res.writeHead(404).end();
      return;
    }
    let body;
    if (req.method === 'POST') {
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    }
    const id = req.headers['mcp-session-id'];
    let transport = id ? sessions.get(id) : undefined;
    if (!transport && !id && body && isInitializeRequest(body)) {
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: format === 'json',
        onsessioninitialized: (sid) => sessions.set(sid, transport),
      });
      transport.onclose = () => sessions.delete(transport.sessionId);
      await build().connect(transport);
    }
    if (!transport) {
      res.writeHead(id ? 404 : 400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'no such session' } }));
      return;
    }
    await transport.handleRequest(req, res, body);
  });
  http.listen(Number(port), '127.0.0.1', () => process.stderr.write(`listening on ${http.address().port}\n`));
} else {
  throw new Error(`usage: node server.mjs stdio | http PORT json|sse (got ${mode})`);
}
