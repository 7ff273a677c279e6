// Shared fixtures: a heso project whose policy allows `search`, blocks `wire` and sends
// `drop_table` to a person; the `heso` command; counters of the calls that reached the server.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(HERE, '..', '..');
export const SERVER = join(HERE, 'server.mjs');

/** The heso CLI: $HESO_BIN, else the one the Python step installed in .venv. */
export function hesoBin() {
  const bin = process.env.HESO_BIN || join(REPO, '.venv', 'bin', 'heso');
  if (!existsSync(bin)) {
    throw new Error(`no heso CLI at ${bin}: run scripts/python-env.sh, or set HESO_BIN`);
  }
  return bin;
}

const RULES = `
[[rule]]
id = "wire.block"
order = 1
verb = "tool_call"
tool = "wire"
decision = "block"

[[rule]]
id = "drop.approve"
order = 2
verb = "tool_call"
tool = "drop_table"
decision = "require_approval"
`;

export const PASSPHRASE = 'approver pass';

/** The environment for heso and the server: no HESO_* from outside, a HOME of our own. */
export function envFor(root, extra = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HESO_')));
  return { ...env, HOME: join(root, 'home'), CALLS_DIR: join(root, 'calls'), ...extra };
}

/** Runs `heso ARGS…` in the project; fails the test with its stderr when it fails. */
export function heso(fixture, args, extraEnv = {}) {
  const done = spawnSync(hesoBin(), args, {
    cwd: fixture.project, env: envFor(fixture.root, extraEnv), encoding: 'utf8', timeout: 120_000,
  });
  if (done.status !== 0) {
    throw new Error(`heso ${args.join(' ')} exited ${done.status}: ${done.stderr}`);
  }
  return done;
}

/** A new project with an approver key and the three rules above. */
export function makeProject() {
  const root = mkdtempSync(join(tmpdir(), 'heso-mcp-'));
  const project = join(root, 'project');
  mkdirSync(project);
  mkdirSync(join(root, 'calls'));
  mkdirSync(join(root, 'home'));
  const fixture = { root, project, key: join(root, 'alice.key') };
  heso(fixture, ['init']);
  heso(fixture, ['keys', 'new-approver', 'alice', '--out', fixture.key, '--default'],
    { HESO_APPROVER_PASSPHRASE: PASSPHRASE });
  appendFileSync(join(project, 'heso.toml'), RULES);
  return fixture;
}

/** How many times TOOL ran on the server. */
export function count(fixture, tool) {
  const path = join(fixture.root, 'calls', tool);
  return existsSync(path) ? readFileSync(path, 'utf8').length : 0;
}

export function textOf(result) {
  return result.content.map((c) => c.text ?? '').join(' ');
}

/** The receipts in the project's log, parsed. */
export function receipts(fixture) {
  return readFileSync(join(fixture.project, 'heso-local-data', 'receipts.jsonl'), 'utf8')
    .split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

/** `heso approve ID` by the approver, non-interactively. */
export function approve(fixture, pendingId) {
  heso(fixture, ['approve', pendingId, '--key', fixture.key, '--yes'],
    { HESO_APPROVER_PASSPHRASE: PASSPHRASE });
}

/** The pending id a require_approval refusal names. */
export function pendingIdOf(text) {
  const match = /pending action ([0-9a-f]{16})\b/.exec(text);
  if (!match) throw new Error(`no pending id in: ${text}`);
  return match[1];
}

/**
 * Starts CMD and waits for a line on its stderr matching PATTERN; returns the child and the
 * match. Fails when the process exits first or 30 s pass.
 */
export function startAndWait(cmd, args, options, pattern) {
  const child = spawn(cmd, args, { ...options, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start within 30 s: ${stderr}`)), 30_000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const match = pattern.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolvePromise({ child, match, stderr: () => stderr });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited with ${code} before it was ready: ${stderr}`));
    });
  });
}

/** Stops a child we started and waits for it. */
export async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
