// `tsc --noEmit --strict` (module nodenext) on a usage example of each entry point: the ES
// module (test/typing/usage.mts) and CommonJS (test/typing/usage.cts) resolve through the
// package's `exports`, and their types hold (@ts-expect-error lines must stay errors).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

import { PACKAGE } from './helpers.mjs';

test('tsc --noEmit --strict accepts the usage examples, ESM and CommonJS', () => {
  const tsc = join(PACKAGE, 'node_modules', 'typescript', 'bin', 'tsc');
  const done = spawnSync(
    process.execPath,
    [tsc, '-p', join(PACKAGE, 'test', 'typing', 'tsconfig.json'), '--noEmit', '--strict'],
    { encoding: 'utf8' },
  );
  assert.equal(done.status, 0, done.stdout + done.stderr);
});
