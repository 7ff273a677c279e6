// Shared by the node --test suites: fresh projects made with the package's own `heso`
// command (the Rust CLI through the addon), the log as parsed receipts, and a clean
// environment (no HESO_* variable of the caller's leaks into a test).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE = join(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = join(PACKAGE, '..');
export const HESO_BIN = join(PACKAGE, 'bin', 'heso.cjs');

const HESO_VARS = ['HESO_PROJECT_ROOT', 'HESO_KEY_PASSPHRASE', 'HESO_OLD_KEY_PASSPHRASE', 'HESO_APPROVER_PASSPHRASE', 'HESO_ENV'];
for (const name of HESO_VARS) {
  delete process.env[name];
}

// Each test process works in its own folder, named after its pid. It is not removed at
// exit: the projects' engines are dropped after the last exit handler, and they keep a
// checkpoint of their log then. Folders of earlier runs whose process is gone are removed.
for (const name of readdirSync(tmpdir())) {
  const owner = /^heso-node-test-(\d+)-/.exec(name);
  if (owner === null) {
    continue;
  }
  try {
    process.kill(Number(owner[1]), 0);
  } catch (error) {
    if (error.code === 'ESRCH') {
      rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
  }
}
const scratch = mkdtempSync(join(tmpdir(), `heso-node-test-${process.pid}-`));
process.env.HOME = join(scratch, 'home');

/** The environment for a child process: this one's, without HESO_* variables, plus `extra`. */
export function childEnv(extra = {}) {
  const env = { ...process.env };
  for (const name of HESO_VARS) {
    delete env[name];
  }
  return { ...env, ...extra };
}

/** Runs the `heso` command in `cwd`; returns {status, stdout, stderr}. */
export function heso(args, { cwd, env = {} } = {}) {
  const done = spawnSync(process.execPath, [HESO_BIN, ...args], {
    cwd,
    env: childEnv(env),
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: done.status, stdout: done.stdout, stderr: done.stderr };
}

let projects = 0;

/**
 * A fresh project made with `heso init`. `rules`: TOML appended to heso.toml;
 * `durability`: "os" to skip the fsync (tests that only count receipts).
 */
export function makeProject({ rules = '', durability } = {}) {
  projects += 1;
  const root = join(scratch, `project-${projects}`);
  const made = heso(['init', root], { cwd: scratch });
  if (made.status !== 0) {
    throw new Error(`heso init failed: ${made.stderr}`);
  }
  const toml = join(root, 'heso.toml');
  let text = readFileSync(toml, 'utf8');
  if (durability !== undefined) {
    text = text.replace('durability = "fsync"', `durability = "${durability}"`);
  }
  writeFileSync(toml, text + '\n' + rules);
  return root;
}

/** The project's receipts, parsed, in log order. */
export function receipts(root) {
  const path = join(root, 'heso-local-data', 'receipts.jsonl');
  if (!existsSync(path)) {
    return [];
  }
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
}

/** The raw bytes of the log and of the salts (to show that nothing was written). */
export function snapshot(root) {
  const read = (name) => {
    const path = join(root, 'heso-local-data', name);
    return existsSync(path) ? readFileSync(path) : Buffer.alloc(0);
  };
  return { log: read('receipts.jsonl'), salts: read('salts.jsonl') };
}

/** The last receipt's content. */
export function last(root) {
  const all = receipts(root);
  return all[all.length - 1]?.content;
}

/** `heso log verify` in the project: exit status and output. */
export function verifyLog(root) {
  return heso(['log', 'verify'], { cwd: root });
}

/** An approver for the project (`heso keys new-approver NAME --default`); returns the key file. */
export function addApprover(root, name = 'alice', passphrase = 'approver pass') {
  const key = join(root, '..', `${name}-${projects}.key`);
  const made = heso(['keys', 'new-approver', name, '--out', key, '--default'], {
    cwd: root,
    env: { HESO_APPROVER_PASSPHRASE: passphrase },
  });
  if (made.status !== 0) {
    throw new Error(`new-approver failed: ${made.stderr}`);
  }
  return key;
}

/** `heso approve|reject ID --key KEY --yes` as the approver. */
export function decide(root, verb, pendingId, key, passphrase = 'approver pass') {
  const args = [verb, pendingId, '--key', key, '--yes'];
  if (verb === 'reject') {
    args.push('--reason', 'not today');
  }
  return heso(args, { cwd: root, env: { HESO_APPROVER_PASSPHRASE: passphrase } });
}

/** The repo's Python environment with the heso wheel (scripts/python-env.sh makes it). */
export function python() {
  const path = join(REPO, '.venv', 'bin', 'python');
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run \`bash scripts/python-env.sh\` from the repo root first`);
  }
  execFileSync(path, ['-c', 'import heso'], { env: childEnv() });
  return path;
}

const SEPARATOR = '\u0000heso-one-report\u0000';

/**
 * `heso verify FILE --json` for every job ({label, file, pins}; pins: a list of keys for
 * `--signer`, `undefined` for `--any-signer`, `null` for no flag: the project's keys inside
 * a project), parsed, run by the `heso` command's own entry point (bin/heso.cjs calls
 * runCli) in ONE child process in `cwd`: a process per job would cost about 80 ms each.
 * Its stdout is split at a separator written after each run. Each must exit 0 or 1.
 */
export function cliReports(jobs, cwd) {
  const script = `
    const { runCli } = require(${JSON.stringify(join(PACKAGE, 'dist', 'index.cjs'))});
    const { writeSync } = require('node:fs');
    const codes = [];
    for (const args of JSON.parse(process.argv[1])) {
      codes.push(runCli(args));
      writeSync(1, ${JSON.stringify(SEPARATOR)});
    }
    writeSync(2, JSON.stringify(codes));
  `;
  const argv = jobs.map(({ file, pins }) => [
    'verify',
    file,
    ...(pins === null ? [] : pins === undefined ? ['--any-signer'] : pins.flatMap((key) => ['--signer', key])),
    '--json',
  ]);
  const done = spawnSync(process.execPath, ['-e', script, JSON.stringify(argv)], {
    cwd,
    env: childEnv(),
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(done.status, 0, done.stderr);
  const codes = JSON.parse(done.stderr);
  const outputs = done.stdout.split(SEPARATOR).slice(0, -1);
  assert.equal(outputs.length, jobs.length);
  return outputs.map((out, i) => {
    assert.ok(codes[i] === 0 || codes[i] === 1, `${jobs[i].label}: heso verify exited ${codes[i]}`);
    return JSON.parse(out);
  });
}
