// Per-call cost of a gated call from Node, against the bare function and against the same
// call from Python, measured in the same run.
//
//     node heso-node/bench/bench_gate.mjs [--calls 5000] [--rounds 5] [--python PATH]
//
// Needs the built package (`npm run build` in heso-node/) and a Python with the release
// wheel installed: the repo's .venv (scripts/python-env.sh installs it there), or --python
// (an editable `maturin develop` install is a debug build: do not compare against it). For each durability ("os", then the default "fsync") it
// makes one project per language with `heso init`, then runs --rounds rounds; each round
// starts a Node process, then a Python process, one after the other, and each measures the
// median of --calls calls of an allowed tool taking one string:
// - Node: the bare function; heso.toolSync (the gate on the calling thread); heso.tool
//   awaited one call at a time (the gate on a libuv worker thread); and 1,000 concurrent
//   heso.tool calls (wall time / 1,000); and, as the disk's own cost, a loop of 1 KB
//   write + fdatasync in the project's folder;
// - Python: the bare function and @heso.tool.
// Alternating the languages round by round spreads the machine's noise over both. The
// figures are the medians over the rounds; the ratios are taken within each round (Node's
// call over Node's bare function, over Python's call of the same round), then their median.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  closeSync,
  fdatasyncSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const pythonAt = process.argv.indexOf('--python');
const python = pythonAt > 0 ? process.argv[pythonAt + 1] : join(repo, '.venv', 'bin', 'python');
const hesoBin = join(here, '..', 'bin', 'heso.cjs');

function option(name, fallback) {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}

const env = { ...process.env };
for (const name of ['HESO_PROJECT_ROOT', 'HESO_KEY_PASSPHRASE', 'HESO_ENV']) {
  delete env[name];
}

function median(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function nodeChild(root, calls) {
  const heso = await import('../dist/index.mjs');
  heso.init(root);
  const bare = function search(query) {
    return query;
  };
  const gatedSync = heso.toolSync(bare);
  const gatedAsync = heso.tool(bare);
  gatedSync('warm-up');
  await gatedAsync('warm-up');
  const time = async (fn) => {
    const samples = new Array(calls);
    for (let i = 0; i < calls; i += 1) {
      const start = process.hrtime.bigint();
      await fn('pricing');
      samples[i] = Number(process.hrtime.bigint() - start);
    }
    return median(samples);
  };
  const bareNs = await time(bare);
  const syncNs = await time(gatedSync);
  const awaitedNs = await time(gatedAsync);
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: 1000 }, () => gatedAsync('pricing')));
  const concurrentNs = Number(process.hrtime.bigint() - start) / 1000;
  // The disk's own cost: a 1 KB write + fdatasync in the project's folder, in a loop.
  const fd = openSync(join(root, 'baseline.log'), 'a', 0o600);
  const line = Buffer.alloc(1024, 120);
  const fsyncNs = await time(() => {
    writeSync(fd, line);
    fdatasyncSync(fd);
  });
  closeSync(fd);
  console.log(JSON.stringify({ bareNs, syncNs, awaitedNs, concurrentNs, fsyncNs }));
}

const PYTHON_CHILD = `
import json, statistics, sys, time
import heso
root, n = sys.argv[1], int(sys.argv[2])
heso.init(root)
def bare(query: str) -> str:
    return query
gated = heso.tool(bare)
gated("warm-up")
def median(fn):
    samples = []
    for _ in range(n):
        start = time.perf_counter_ns()
        fn("pricing")
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples)
print(json.dumps({"bareNs": median(bare), "gatedNs": median(gated)}))
`;

function child(command, args) {
  const done = spawnSync(command, args, { env, encoding: 'utf8' });
  if (done.status !== 0) {
    throw new Error(`${command} failed: ${done.stderr}`);
  }
  return JSON.parse(done.stdout.trim().split('\n').at(-1));
}

function project(root, durability) {
  execFileSync(process.execPath, [hesoBin, 'init', root], { env, stdio: 'ignore' });
  const toml = join(root, 'heso.toml');
  writeFileSync(toml, readFileSync(toml, 'utf8').replace('durability = "fsync"', `durability = "${durability}"`));
}

async function main() {
  const calls = option('--calls', 5000);
  const rounds = option('--rounds', 5);
  const scratch = mkdtempSync(join(tmpdir(), 'heso-node-bench-'));
  const us = (ns) => `${(ns / 1000).toFixed(ns < 1000 ? 3 : 1)} µs`;
  const x = (ratio) => `${ratio >= 10 ? ratio.toFixed(0) : ratio.toFixed(2)}×`;
  try {
    console.log(`${calls} calls per measurement, ${rounds} rounds; medians over the rounds`);
    for (const durability of ['os', 'fsync']) {
      const nodeRoot = join(scratch, `node-${durability}`);
      const pyRoot = join(scratch, `python-${durability}`);
      project(nodeRoot, durability);
      project(pyRoot, durability);
      const got = [];
      for (let round = 0; round < rounds; round += 1) {
        const node = child(process.execPath, [fileURLToPath(import.meta.url), '--child', nodeRoot, String(calls)]);
        const py = child(python, ['-c', PYTHON_CHILD, pyRoot, String(calls)]);
        got.push({ ...node, pyBareNs: py.bareNs, pyGatedNs: py.gatedNs });
      }
      const m = (key) => median(got.map((g) => g[key]));
      const r = (f) => median(got.map(f));
      console.log(`\ndurability = "${durability}"`);
      const rows = [
        ['Node: bare function', m('bareNs'), ''],
        ['Node: heso.toolSync', m('syncNs'), `${x(r((g) => g.syncNs / g.bareNs))} bare; ${x(r((g) => g.syncNs / g.pyGatedNs))} Python's gated call`],
        ['Node: heso.tool, awaited one at a time', m('awaitedNs'), `${x(r((g) => g.awaitedNs / g.bareNs))} bare; ${x(r((g) => g.awaitedNs / g.pyGatedNs))} Python's gated call`],
        ['Node: 1,000 concurrent heso.tool calls, per call', m('concurrentNs'), `${x(r((g) => g.concurrentNs / g.awaitedNs))} one awaited at a time`],
        ...(durability === 'fsync'
          ? [['Node: baseline, 1 KB write + fdatasync in a loop', m('fsyncNs'), `heso.toolSync ${x(r((g) => g.syncNs / g.fsyncNs))} it`]]
          : []),
        ['Python: bare function', m('pyBareNs'), ''],
        ['Python: @heso.tool', m('pyGatedNs'), `${x(r((g) => g.pyGatedNs / g.pyBareNs))} Python's bare`],
      ];
      for (const [name, ns, note] of rows) {
        console.log(`  ${name.padEnd(50)} ${us(ns).padStart(10)}  ${note}`);
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  await nodeChild(process.argv[3], Number(process.argv[4]));
} else {
  await main();
}
