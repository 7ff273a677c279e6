// heso.wrap with the real `openai` and `@anthropic-ai/sdk` npm packages against a loopback
// stub server (node:http
// on 127.0.0.1, port 0): every request the stub receives must already have its receipt
// in the log, and a refused call never reaches it. Also fetch-style requests as
// http_request with the real target host, credentials committed.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';

import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import * as heso from 'heso';

import { makeProject, receipts, snapshot, verifyLog } from './helpers.mjs';

const RULES = `
[[rule]]
id = "llm.expensive.block"
order = 1
verb = "llm_call"
conditions = [{ field = "model", op = "eq", value = "gpt-expensive" }]
decision = "block"

[[rule]]
id = "llm.evil.block"
order = 2
verb = "llm_call"
scope = "api.evil.example"
decision = "block"

[[rule]]
id = "http.loopback"
order = 3
verb = "http_request"
scope = "127.0.0.1"
decision = "allow"
`;

const root = makeProject({ rules: RULES, durability: 'os' });
heso.init(root);

/** What the stub saw; `violations` lists requests that arrived without their receipt. */
const seen = { requests: [], violations: [] };

const LOOPBACK = (content) => content.action.target_host === '127.0.0.1';

function allowed(covers) {
  return receipts(root).filter((r) => r.content.policy.decision_path === 'allow' && covers(r.content)).length;
}

/**
 * Which receipts must cover the requests from now on (by default, every allowed receipt
 * to 127.0.0.1): at each request, the receipts of that kind appended since must be at
 * least the requests received since.
 */
let coverage = { covers: LOOPBACK, receipts: 0, requests: 0 };
function expectCoverage(covers) {
  coverage = { covers, receipts: allowed(covers), requests: seen.requests.length };
}

function completion(model, content) {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, finish_reason: 'stop', logprobs: null }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  };
}

function chunk(model, delta, finish) {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1,
    model,
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
  };
}

const server = createServer((request, response) => {
  let body = '';
  request.on('data', (part) => {
    body += part;
  });
  request.on('end', () => {
    seen.requests.push({ method: request.method, url: request.url, headers: request.headers, body });
    const gated = allowed(coverage.covers) - coverage.receipts;
    const received = seen.requests.length - coverage.requests;
    if (gated < received) {
      seen.violations.push(`${request.method} ${request.url}: ${gated} receipts for ${received} requests`);
      response.writeHead(500, { 'content-type': 'application/json' });
      response.end('{"error":{"message":"no receipt"}}');
      return;
    }
    let parsed = {};
    try {
      parsed = JSON.parse(body);
    } catch {
      // not JSON: a plain fetch
    }
    if (request.url === '/v1/chat/completions' && parsed.stream) {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const part of [
        chunk(parsed.model, { role: 'assistant', content: 'Hel' }, null),
        chunk(parsed.model, { content: 'lo' }, 'stop'),
      ]) {
        response.write(`data: ${JSON.stringify(part)}\n\n`);
      }
      response.end('data: [DONE]\n\n');
      return;
    }
    if (request.url === '/v1/messages' && parsed.stream) {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      const message = { id: 'msg_1', type: 'message', role: 'assistant', model: parsed.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 1, output_tokens: 0 } };
      for (const event of [
        { type: 'message_start', message },
        { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
        { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } },
        { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'lo' } },
        { type: 'content_block_stop', index: 0 },
        { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 2 } },
        { type: 'message_stop' },
      ]) {
        response.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
      }
      response.end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    if (request.url === '/v1/messages') {
      response.end(
        JSON.stringify({
          id: 'msg_1',
          type: 'message',
          role: 'assistant',
          model: parsed.model,
          content: [{ type: 'text', text: `claude echo: ${parsed.messages.at(-1).content}` }],
          stop_reason: 'end_turn',
          stop_sequence: null,
          usage: { input_tokens: 1, output_tokens: 1 },
        }),
      );
    } else if (request.url === '/v1/chat/completions') {
      response.end(JSON.stringify(completion(parsed.model, `echo: ${parsed.messages.at(-1).content}`)));
    } else if (request.url === '/v1/responses') {
      response.end(
        JSON.stringify({
          id: 'resp_1',
          object: 'response',
          created_at: 1,
          model: parsed.model,
          status: 'completed',
          output: [
            {
              type: 'message',
              id: 'msg_1',
              status: 'completed',
              role: 'assistant',
              content: [{ type: 'output_text', text: 'from responses', annotations: [] }],
            },
          ],
        }),
      );
    } else {
      response.end(JSON.stringify({ ok: true, path: request.url }));
    }
  });
});

let base;
before(async () => {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => {
  server.close();
  assert.deepEqual(seen.violations, [], 'the stub never received a request without its receipt');
  assert.equal(verifyLog(root).status, 0);
});

function client(options = {}) {
  return new OpenAI({ apiKey: 'sk-test-client-key', baseURL: `${base}/v1`, maxRetries: 0, ...options });
}

test('chat.completions.create is gated as llm_call to the client baseURL host, then sent', async () => {
  const raw = client();
  const openai = heso.wrap(raw);
  assert.ok(openai instanceof OpenAI);
  assert.equal(openai.baseURL, `${base}/v1`);
  const before = seen.requests.length;
  const answer = await openai.chat.completions.create({
    model: 'gpt-test',
    messages: [{ role: 'user', content: 'hello' }],
  });
  assert.equal(answer.choices[0].message.content, 'echo: hello');
  assert.equal(seen.requests.length, before + 1);
  const content = receipts(root).at(-1).content;
  assert.equal(content.action.verb, 'llm_call');
  assert.equal(content.action.tool_name, 'chat.completions.create');
  assert.equal(content.action.target_host, '127.0.0.1');
  assert.deepEqual(content.action.fields, { model: 'gpt-test', messages: [{ role: 'user', content: 'hello' }] });
  assert.ok(!snapshot(root).log.includes('sk-test-client-key'));

  const { data, response } = await openai.chat.completions
    .create({ model: 'gpt-test', messages: [{ role: 'user', content: 'again' }] })
    .withResponse();
  assert.equal(data.choices[0].message.content, 'echo: again');
  assert.equal(response.status, 200);
});

test('a refused llm_call never reaches the server: by a field condition, and by the real host', async () => {
  const openai = heso.wrap(client());
  const before = seen.requests.length;
  await assert.rejects(
    openai.chat.completions.create({ model: 'gpt-expensive', messages: [{ role: 'user', content: 'x' }] }),
    (error) => error instanceof heso.BlockedError && error.ruleId === 'llm.expensive.block',
  );
  const elsewhere = heso.wrap(new OpenAI({ apiKey: 'k', baseURL: 'https://API.Evil.Example./v1', maxRetries: 0 }));
  await assert.rejects(
    elsewhere.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'x' }] }),
    (error) => error instanceof heso.BlockedError && error.ruleId === 'llm.evil.block',
  );
  assert.equal(receipts(root).at(-1).content.action.target_host, 'api.evil.example');
  assert.equal(seen.requests.length, before, 'the stub received nothing');
});

test('streams: create({stream: true}) and the chat.completions.stream helper', async () => {
  const openai = heso.wrap(client());
  const stream = await openai.chat.completions.create({
    model: 'gpt-test',
    messages: [{ role: 'user', content: 's' }],
    stream: true,
  });
  let text = '';
  for await (const part of stream) {
    text += part.choices[0]?.delta?.content ?? '';
  }
  assert.equal(text, 'Hello');
  assert.equal(receipts(root).at(-1).content.action.fields.stream, true);

  const helper = openai.chat.completions.stream({ model: 'gpt-test', messages: [{ role: 'user', content: 'h' }] });
  const final = await helper.finalChatCompletion();
  assert.equal(final.choices[0].message.content, 'Hello');
  assert.equal(receipts(root).at(-1).content.action.tool_name, 'chat.completions.stream');

  await assert.rejects(async () => {
    const refused = openai.chat.completions.stream({ model: 'gpt-expensive', messages: [] });
    await refused.finalChatCompletion();
  }, heso.BlockedError);
});

test('responses.create is gated too', async () => {
  const openai = heso.wrap(client());
  const response = await openai.responses.create({ model: 'gpt-test', input: 'hi' });
  assert.equal(response.output_text, 'from responses');
  const content = receipts(root).at(-1).content;
  assert.equal(content.action.tool_name, 'responses.create');
  assert.equal(content.action.fields.input, 'hi');
});

test('@anthropic-ai/sdk: messages.create and messages.stream are gated as llm_call', async () => {
  const anthropic = heso.wrap(new Anthropic({ apiKey: 'sk-ant-test-key', baseURL: base, maxRetries: 0 }));
  const message = await anthropic.messages.create({
    model: 'claude-test',
    max_tokens: 16,
    messages: [{ role: 'user', content: 'hi' }],
  });
  assert.equal(message.content[0].text, 'claude echo: hi');
  let content = receipts(root).at(-1).content;
  assert.equal(content.action.tool_name, 'messages.create');
  assert.equal(content.action.verb, 'llm_call');
  assert.equal(content.action.target_host, '127.0.0.1');
  assert.equal(content.action.fields.model, 'claude-test');

  const stream = anthropic.messages.stream({ model: 'claude-test', max_tokens: 16, messages: [{ role: 'user', content: 's' }] });
  assert.equal(await stream.finalText(), 'Hello');
  content = receipts(root).at(-1).content;
  assert.equal(content.action.tool_name, 'messages.stream');
  const before = seen.requests.length;
  assert.throws(
    () => anthropic.messages.stream({ model: 'gpt-expensive', max_tokens: 1, messages: [] }),
    heso.BlockedError,
  );
  assert.equal(seen.requests.length, before);
  assert.ok(!snapshot(root).log.includes('sk-ant-test-key'));
});

test('a wrapped fetch gates each request as http_request to its host, credentials committed', async () => {
  const fetchGated = heso.wrap(globalThis.fetch);
  const before = seen.requests.length;
  const reply = await fetchGated(`${base}/data?q=1`, {
    method: 'post',
    headers: { Authorization: 'Bearer sk-live-fetch-secret', 'X-Trace': 't1' },
    body: 'payload',
  });
  assert.deepEqual(await reply.json(), { ok: true, path: '/data?q=1' });
  assert.equal(seen.requests.at(-1).headers.authorization, 'Bearer sk-live-fetch-secret');
  const content = receipts(root).at(-1).content;
  assert.equal(content.action.verb, 'http_request');
  assert.equal(content.action.tool_name, 'fetch');
  assert.equal(content.action.target_host, '127.0.0.1');
  assert.equal(content.action.fields.method, 'POST');
  assert.equal(content.action.fields.url, `${base}/data?q=1`);
  assert.equal(content.action.fields.body, 'payload');
  assert.equal(content.action.fields.headers['x-trace'], 't1');
  assert.equal(typeof content.action.fields.headers.authorization._sd, 'string');
  assert.ok(!snapshot(root).log.includes('sk-live-fetch-secret'));
  assert.ok(!snapshot(root).salts.includes('sk-live-fetch-secret'));

  await assert.rejects(fetchGated('http://not-allowed.example/x'), heso.SuspendedError);
  await assert.rejects(fetchGated('/relative'), heso.GateError);
  assert.equal(seen.requests.length, before + 1);

  const request = new Request(`${base}/from-request`, { headers: { cookie: 'session=abc' } });
  await fetchGated(request);
  const fields = receipts(root).at(-1).content.action.fields;
  assert.equal(fields.url, `${base}/from-request`);
  assert.equal(typeof fields.headers.cookie._sd, 'string');
});

test('the openai client with fetch: heso.wrap(fetch) gates every HTTP request it sends', async () => {
  expectCoverage((content) => content.action.verb === 'http_request' && LOOPBACK(content));
  try {
    const openai = client({ fetch: heso.wrap(globalThis.fetch) });
    const before = receipts(root).length;
    const answer = await openai.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'f' }] });
    assert.equal(answer.choices[0].message.content, 'echo: f');
    const added = receipts(root).slice(before).map((r) => r.content.action);
    assert.equal(added.length, 1);
    assert.equal(added[0].verb, 'http_request');
    assert.equal(added[0].fields.url, `${base}/v1/chat/completions`);
    assert.equal(typeof added[0].fields.headers.authorization._sd, 'string', 'the API key is committed');
    assert.ok(!snapshot(root).log.includes('sk-test-client-key'));
  } finally {
    expectCoverage(LOOPBACK);
  }
});

test('wrap options: more verbs, sync methods; everything else passes through', async () => {
  const api = {
    baseURL: `${base}/api`,
    calls: 0,
    send(path, payload) {
      this.calls += 1;
      return Promise.resolve(`${path}:${payload.n}`);
    },
    lookup(key) {
      this.calls += 1;
      return `value of ${key}`;
    },
    helper() {
      return this.calls;
    },
    nested: { deeper: { create: async ({ prompt }) => prompt } },
  };
  const wrapped = heso.wrap(api, { verbs: { send: 'http_request', lookup: 'tool_call' }, sync: ['lookup'] });
  assert.equal(await wrapped.send('/things', { n: 1 }), '/things:1');
  let content = receipts(root).at(-1).content;
  assert.equal(content.action.tool_name, 'send');
  assert.equal(content.action.target_host, '127.0.0.1');
  assert.deepEqual(content.action.fields, { 0: '/things', 1: { n: 1 } });
  const http = heso.wrap({ baseURL: 'https://api.example', request: async (method, url) => `${method} ${url}` });
  await assert.rejects(http.request('GET', 'https://elsewhere.example/x'), heso.SuspendedError);
  assert.equal(receipts(root).at(-1).content.action.target_host, 'elsewhere.example', 'the URL argument, not the method');
  assert.equal(await http.request('GET', `${base}/relative-ok`), `GET ${base}/relative-ok`);
  assert.equal(wrapped.lookup('k'), 'value of k');
  assert.equal(receipts(root).at(-1).content.action.verb, 'tool_call');
  assert.equal(wrapped.helper(), 2);
  assert.equal(wrapped.nested.deeper.create, wrapped.nested.deeper.create, 'stable identity');
  assert.equal(await wrapped.nested.deeper.create({ prompt: 'p' }), 'p');
  content = receipts(root).at(-1).content;
  assert.equal(content.action.tool_name, 'nested.deeper.create');
  assert.equal(content.action.verb, 'llm_call');
  await wrapped.nested.deeper.create({ prompt: 'q', url: 'https://hooks.elsewhere.example/x' });
  assert.equal(receipts(root).at(-1).content.action.target_host, '127.0.0.1', "a create body's url is data");
  wrapped.extra = 5;
  assert.equal(api.extra, 5);
  const count = receipts(root).length;
  await assert.rejects(wrapped.send('/things', 10n), TypeError);
  assert.equal(receipts(root).length, count);
});
