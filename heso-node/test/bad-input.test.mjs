// Bad input from JavaScript: each case gives a clear TypeError or HesoError, and nothing is
// written (the log and the salts are byte for byte what they were). Values that have a
// recorded form get it (the conversion table in docs/node.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as heso from 'heso';

import { last, makeProject, snapshot, verifyLog } from './helpers.mjs';

const root = makeProject({ durability: 'os' });
heso.init(root);
const record = heso.tool(async function record(value) {});
const recordSync = heso.toolSync(function record_sync(value) {});

function nested(depth) {
  let value = 'leaf';
  for (let i = 0; i < depth; i += 1) {
    value = [value];
  }
  return value;
}

const cyclic = { name: 'a' };
cyclic.self = cyclic;
const cyclicArray = [1];
cyclicArray.push({ back: cyclicArray });

/** [name, argument, error class, message pattern] */
const REFUSED = [
  ['BigInt', 10n, TypeError, /field "0" is a BigInt/],
  ['BigInt deep inside', { a: [{ b: 1n }] }, TypeError, /field "a\.0\.b" is a BigInt/],
  ['cyclic object', cyclic, TypeError, /field "self" contains itself/],
  ['cyclic array', cyclicArray, TypeError, /contains itself/],
  ['unsafe integer', 2 ** 53, TypeError, /beyond ±\(2\^53−1\)/],
  ['huge integral number', 1e300, TypeError, /beyond ±\(2\^53−1\)/],
  ['nesting 65 deep', nested(65), heso.GateError, /nests more than 64 levels/],
  ['more than 1,000,000 values', new Array(1_000_001).fill(0), heso.GateError, /more than 1000000 values/],
  ['more than 64 MiB of text', ['x'.repeat(40 << 20), 'y'.repeat(30 << 20)], heso.GateError, /more than 64 MiB of text/],
  [
    'a getter that throws',
    {
      get secret() {
        throw new SyntaxError('from the getter');
      },
    },
    SyntaxError,
    /from the getter/,
  ],
];

for (const [name, value, kind, pattern] of REFUSED) {
  test(`refused, nothing written: ${name}`, async () => {
    const before = snapshot(root);
    await assert.rejects(record(value), (error) => {
      assert.ok(error instanceof kind, `${error.name}: ${error.message}`);
      assert.match(error.message, pattern);
      return true;
    });
    assert.throws(() => recordSync(value), kind);
    assert.deepEqual(snapshot(root), before);
  });
}

test('the deepest nesting allowed (64) is recorded', async () => {
  await record(nested(64));
  assert.equal(verifyLog(root).status, 0);
});

test('values with a recorded form get it', async () => {
  class Client {
    constructor() {
      this.apiKey = 'sk-never-recorded';
    }
  }
  const values = {
    nan: NaN,
    inf: -Infinity,
    negZero: -0,
    float: 1.5,
    lone: 'a\uD800b',
    bytes: Buffer.from('hi'),
    typed: new Uint16Array([1]),
    date: new Date(Date.UTC(2026, 11, 1, 10, 30)),
    url: new URL('https://example.com/a?b=c'),
    map: new Map([[1, 'one'], ['1', 'also one']]),
    set: new Set(['x', 'y']),
    client: new Client(),
    fn: () => 1,
    symbol: Symbol('s'),
    undef: undefined,
    holes: [1, undefined, 3],
    nullProto: Object.assign(Object.create(null), { k: 'v' }),
    [Symbol('key')]: 'symbol keys are not data',
  };
  await record(values); // one plain object: its keys are the fields
  const fields = last(root).action.fields;
  assert.deepEqual(fields, {
    nan: 'NaN',
    inf: '-Infinity',
    negZero: 0,
    float: 1.5,
    lone: 'a\uFFFDb',
    bytes: { $bytes_b64: 'aGk=' },
    typed: { $bytes_b64: 'AQA=' },
    date: '2026-12-01T10:30:00.000Z',
    url: 'https://example.com/a?b=c',
    map: { 1: 'one', '1#2': 'also one' },
    set: ['x', 'y'],
    client: '<Client>',
    fn: '<Function>',
    symbol: '<Symbol>',
    holes: [1, null, 3],
    nullProto: { k: 'v' },
  });
  assert.ok(!snapshot(root).log.includes('sk-never-recorded'));
  const polluted = Object.prototype;
  polluted.injected = 'from the prototype';
  try {
    await record({ own: 1 });
    assert.deepEqual(last(root).action.fields, { own: 1 }, 'inherited keys are never fields');
  } finally {
    delete polluted.injected;
  }
});

test('mistakes in options are TypeErrors when the function is gated', () => {
  const fn = async function f() {};
  const cases = [
    () => heso.tool(42),
    () => heso.tool(fn, 'options'),
    () => heso.tool(fn, { nme: 'typo' }),
    () => heso.tool(fn, { name: '' }),
    () => heso.tool(fn, { name: 5 }),
    () => heso.tool(fn, { name: 'x\uD800' }),
    () => heso.tool(fn, { verb: 'launch_missiles' }),
    () => heso.tool(fn, { redact: 5 }),
    () => heso.tool(fn, { redact: ['a..b'] }),
    () => heso.tool(fn, { redact: ['key*'] }),
    () => heso.tool(fn, { redactMode: 'shred' }),
    () => heso.tool(fn, { blocking: 'no' }),
    () => heso.tool(fn, { params: 'a' }),
    () => heso.tool(fn, { params: ['a', 'a'] }),
    () => heso.tool(async () => {}),
    () => heso.step({ workflow: 5 }, () => {}),
    () => heso.step({ workflow: '' }, () => {}),
    () => heso.step({ workflow: 'w', account: Buffer.from([0xff]) }, () => {}),
    () => heso.step('w', () => {}),
    () => heso.step({ workflow: 'w' }, 'not a function'),
    () => heso.wrap(5),
    () => heso.wrap({}, { verbs: { send: 'nope' } }),
    () => heso.wrap({}, { verbs: 'create' }),
    () => heso.wrap({}, { redact: ['.'] }),
    () => heso.wrap({}, { sync: 'stream' }),
    () => heso.verify(null),
    () => heso.init(Buffer.from('/tmp')),
  ];
  for (const make of cases) {
    assert.throws(make, TypeError, make.toString());
  }
});

test('a key reserved for redaction markers is refused by the engine, naming the field', async () => {
  const before = snapshot(root);
  await assert.rejects(record({ inner: { _sd: 'forged' } }), (error) => {
    assert.ok(error instanceof heso.GateError);
    assert.match(error.message, /_sd/);
    return true;
  });
  assert.deepEqual(snapshot(root), before);
});

test('a gated call before init is a ConfigError', async () => {
  const script = `const heso = require(${JSON.stringify(require_path())});
const f = heso.tool(async function f() {});
f().then(() => process.exit(3), (e) => { console.log(e.name); process.exit(e instanceof heso.ConfigError ? 0 : 4); });`;
  const { spawnSync } = await import('node:child_process');
  const done = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  assert.equal(done.status, 0, done.stdout + done.stderr);
});

function require_path() {
  return new URL('../dist/index.cjs', import.meta.url).pathname;
}
