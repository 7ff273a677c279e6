/**
 * The native addon (`heso.node`, built from heso-node/src by `npm run build`): the engine
 * with policy, redaction, hashing, signing and the log. This package only binds calls.
 */

import { join } from 'node:path';

import type * as Binding from './binding.cjs';

export type { ClaimResult, GateRequest, GateResult, PendingInfo, Project } from './binding.cjs';

function load(): typeof Binding {
  const path = join(__dirname, 'heso.node');
  try {
    return require(path) as typeof Binding;
  } catch (error) {
    throw new Error(
      `heso: cannot load its native addon ${path} (${(error as Error).message}); ` +
        'build it with `npm run build` in heso-node/',
      { cause: error },
    );
  }
}

/** The addon, loaded once. */
export const native: typeof Binding = load();
