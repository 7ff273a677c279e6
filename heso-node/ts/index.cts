/**
 * heso for Node.js and TypeScript: every action your agent takes, checked against policy,
 * redacted, signed into an Action Receipt and appended to the audit log before it runs.
 *
 * ```ts
 * import * as heso from 'heso';
 * heso.init();
 * const search = heso.tool(async function search(query: string) { ... });
 * await search('pricing');   // BlockedError before the body when refused
 * ```
 *
 * Policy, redaction, hashing, signing and the log all run in the native addon (Rust,
 * heso-engine); this package only binds calls. The same project can be used from Python
 * and Node at once: one log, one lock.
 */

export {
  type RedactMode,
  type ToolOptions,
  type Verb,
  VERBS,
} from './bind.cjs';
export {
  ApprovalError,
  type BlockedDetails,
  BlockedError,
  ConfigError,
  GateError,
  HesoError,
  type SuspendedDetails,
  SuspendedError,
} from './errors.cjs';
export {
  destructive,
  destructiveSync,
  type Gated,
  type GatedSync,
  resume,
  type ResumeOptions,
  tool,
  toolSync,
} from './gate.cjs';
export { init, step, type StepScope } from './state.cjs';
export {
  type LineFailure,
  type LogInput,
  type LogReport,
  type PinStatus,
  type ReceiptInput,
  type ReceiptReport,
  type SessionHead,
  type Signer,
  type SignerCount,
  type TornTail,
  type Verdict,
  verify,
  verifyLog,
  type VerifyOptions,
} from './verify.cjs';
export { DEFAULT_VERBS, wrap, type WrapOptions } from './wrap.cjs';

import { native } from './native.cjs';

/** The version of the native addon (the heso workspace's). */
export const version: string = native.version();

/**
 * Runs the `heso` command line (the same program as the Rust `heso` binary) with `args`
 * (without the program name) and returns its exit code. It writes to this process's
 * stdout and stderr; `npx heso …` runs it as a command.
 */
export function runCli(args: readonly string[]): number {
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
    throw new TypeError('heso.runCli: args must be a list of strings');
  }
  return native.runCli(['heso', ...args]);
}
