// `npm run build`: installs the package's dev dependencies when they are missing, builds
// the native addon for this machine (release, through @napi-rs/cli, honouring
// CARGO_TARGET_DIR) into dist/heso.node with its generated types (dist/binding.d.cts),
// then compiles the TypeScript in ts/ into dist/ (CommonJS and ES module entry points,
// with their .d.cts/.d.mts types). Everything it writes is gitignored.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);

function run(command, args) {
  const started = Date.now();
  const done = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (done.error) {
    throw done.error;
  }
  if (done.status !== 0) {
    console.error(`heso-node build: \`${command} ${args.join(' ')}\` failed (exit ${done.status ?? done.signal})`);
    process.exit(1);
  }
  console.log(`heso-node build: ${[command.split('/').pop(), ...args].join(' ')} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

const needed = ['@napi-rs/cli', 'typescript', '@types/node', 'openai', '@anthropic-ai/sdk'];
if (needed.some((name) => !existsSync(join(root, 'node_modules', name, 'package.json')))) {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const install = existsSync(join(root, 'package-lock.json')) ? 'ci' : 'install';
  run(npm, [install, '--no-audit', '--no-fund', '--loglevel=error']);
}

mkdirSync(join(root, 'dist'), { recursive: true });
run(bin('napi'), ['build', '--release', '--output-dir', 'dist', '--dts', 'binding.d.cts']);
run(bin('tsc'), ['-p', 'tsconfig.json']);
