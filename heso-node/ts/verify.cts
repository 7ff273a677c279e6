/** `heso.verify` and `heso.verifyLog`: a receipt or a log, offline, by the Rust verifier (heso-receipt). */

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';

import { ConfigError, translate } from './errors.cjs';
import { native } from './native.cjs';
import { describe, opened } from './state.cjs';

/** Whether a signer's key is among the pinned keys. */
export type PinStatus = 'nothing_pinned' | 'pinned' | 'not_pinned';

/** A key a receipt says signed it: verified only when the report is `valid`. */
export interface Signer {
  /** The role of its signature entry. */
  readonly role: 'operator' | 'approver';
  /** The key as a did:key (as the receipt wrote it, when it does not decode). */
  readonly key: string;
  /** Whether it is pinned. */
  readonly pin: PinStatus;
}

/**
 * The report on one receipt: heso-receipt's `ReceiptReport`, the object
 * `heso verify FILE --json` prints and Python's `heso.verify` gives, field for field
 * (`JSON.stringify` of it is that JSON).
 */
export interface ReceiptReport {
  /** The receipt's `action_hash`, when it parsed. */
  readonly action_hash: string | null;
  /** True for a `Valid` receipt. */
  readonly valid: boolean;
  /** `Valid`, `Malformed`, `HashMismatch`, `InvalidSignature`, `UntrustedSigner`, … */
  readonly verdict: string;
  /** What was wrong, in one line (empty when valid). */
  readonly detail: string;
  /** `L0` or `L1`, derived from the signatures, when valid; else `null`. */
  readonly trust_level: 'L0' | 'L1' | null;
  /** The operator's key (did:key), when valid. */
  readonly operator: string | null;
  /** The approver's key (did:key), on a valid L1 receipt. */
  readonly approver: string | null;
  /** The approver's decision, on a valid L1 receipt. */
  readonly approver_decision: 'approved' | 'rejected' | 'escalated' | null;
  /** True when signers were checked against pinned keys (given, or the project's). */
  readonly pinned: boolean;
  /** The pinned keys as did:key, each once. */
  readonly pinned_keys: readonly string[];
  /** Every signature entry's role and key with its pin status (claims unless `valid`). */
  readonly signers: readonly Signer[];
  /** @deprecated The old name of `verdict` (not enumerable: not in `JSON.stringify`). */
  readonly kind: string;
  /** @deprecated The old name of `trust_level` (not enumerable). */
  readonly trustLevel: 'L0' | 'L1' | null;
  /** @deprecated The old name of `action_hash` (not enumerable). */
  readonly actionHash: string | null;
}

/** The same type as `ReceiptReport`, under the name Python gives it (`heso.Verdict`). */
export type Verdict = ReceiptReport;

/** Options of `verify` and `verifyLog`. */
export interface VerifyOptions {
  /** Pin exactly these keys (did:key or base64): every signer must be one of them. */
  readonly signers?: string | readonly string[];
}

/** A receipt as `verify` takes it. */
export type ReceiptInput = string | URL | Uint8Array | object;

function bytesOf(receipt: unknown): Buffer {
  if (typeof receipt === 'string') {
    return /^\s*[[{]/.test(receipt) ? Buffer.from(receipt, 'utf8') : readFileSync(receipt);
  }
  if (receipt instanceof URL) {
    return readFileSync(receipt);
  }
  if (receipt instanceof Uint8Array) {
    return Buffer.from(receipt.buffer, receipt.byteOffset, receipt.byteLength);
  }
  if (receipt !== null && typeof receipt === 'object') {
    return Buffer.from(JSON.stringify(receipt), 'utf8');
  }
  throw new TypeError(
    `heso.verify: a receipt is an object, JSON text, bytes or a file path, not ${describe(receipt)}`,
  );
}

function signerList(signers: unknown, caller: string): string[] | undefined {
  if (signers === undefined) {
    return undefined;
  }
  const list = typeof signers === 'string' ? [signers] : signers;
  if (!Array.isArray(list)) {
    throw new TypeError(`${caller}: signers must be a public key or a list of them, not ${describe(signers)}`);
  }
  return (list as unknown[]).map((key, index) => {
    if (typeof key !== 'string') {
      throw new TypeError(`${caller}: signers[${index}] must be a public key as a string (did:key or base64), not ${describe(key)}`);
    }
    return key;
  });
}

/** The `signers` of `options`, checked (`undefined` when not given). */
function signersOf(options: unknown, caller: string): string[] | undefined {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new TypeError(`${caller}: options must be {signers?}, not ${describe(options)}`);
  }
  return signerList((options as VerifyOptions | undefined)?.signers, caller);
}

/**
 * Verifies one receipt (an object, JSON text, bytes, or a file path or `file:` URL),
 * offline. `signers` pins exactly those keys; without it, the project's keys are pinned
 * after `heso.init()`, and nothing before. Bytes that are not a receipt give a
 * `Malformed` verdict, never an exception; a file that cannot be read throws Node's own
 * error (`ENOENT`), a signer that is not a key a `TypeError`.
 */
export function verify(receipt: ReceiptInput, options?: VerifyOptions): ReceiptReport {
  const signers = signersOf(options, 'heso.verify');
  const data = bytesOf(receipt);
  let report: ReceiptReport;
  try {
    // The addon returns heso-receipt's ReceiptReport serialised to an object (typed
    // `unknown` by napi); its fields are the ones declared above.
    report = native.verify(data, signers ?? null, signers === undefined ? (opened() ?? null) : null) as ReceiptReport;
  } catch (error) {
    throw translate(error, ConfigError);
  }
  // The old names, kept as read-only aliases that JSON and deep equality do not see.
  Object.defineProperties(report, {
    kind: { value: report.verdict },
    trustLevel: { value: report.trust_level },
    actionHash: { value: report.action_hash },
  });
  return report;
}

/** A line of a log that is not valid. */
export interface LineFailure {
  /** Its 1-based line number. */
  readonly line: number;
  /** The receipt's seq, when it has one. */
  readonly seq: number | null;
  /** Its verdict (`LinkBroken` for a valid receipt whose link to the one before is broken). */
  readonly verdict: string;
  /** What was wrong, in one line. */
  readonly detail: string;
}

/** Bytes after the log's last newline: not a receipt, not verified. */
export interface TornTail {
  /** The line number they would have. */
  readonly line: number;
  /** How many bytes. */
  readonly bytes: number;
}

/** Where a session's chain ends: record `head_hash` elsewhere to detect truncation. */
export interface SessionHead {
  readonly session_id: string;
  /** The last seq seen. */
  readonly last_seq: number;
  /** The last receipt's action_hash. */
  readonly head_hash: string;
  /** The session's receipts. */
  readonly receipts: number;
}

/** A key that signed receipts of the log, in one role. */
export interface SignerCount {
  /** The role it signed in. */
  readonly role: 'operator' | 'approver';
  /** The key as a did:key (as the receipts wrote it, when it does not decode). */
  readonly key: string;
  /** The receipts carrying its signature in this role. */
  readonly receipts: number;
  /** Of those, the ones counted `Valid`. */
  readonly valid: number;
  /** Whether it is pinned. */
  readonly pin: PinStatus;
}

/**
 * The report on a log: heso-receipt's `PinnedLogReport`, the object
 * `heso verify LOG.jsonl --json` prints and Python's `heso.verify_log` gives, field for
 * field (`JSON.stringify` of it is that JSON).
 */
export interface LogReport {
  /** The complete lines seen (each is a receipt, a blank one `Malformed`). */
  readonly receipts: number;
  /** True when every receipt is valid, every link holds and there is no torn tail. */
  readonly all_valid: boolean;
  /** Each verdict (`Valid`, `HashMismatch`, `LinkBroken`, …) and its number of lines. */
  readonly counts: Readonly<Record<string, number>>;
  /** The first 20 lines that are not valid, in line order. */
  readonly failures: readonly LineFailure[];
  /** A last line without its newline (a writer stopped mid-write), if any. */
  readonly torn_tail: TornTail | null;
  /** Every session's head, in order of first appearance. */
  readonly sessions: readonly SessionHead[];
  /** Every key that signed, in order of first appearance. */
  readonly signers: readonly SignerCount[];
  /** True when signers were checked against pinned keys (given, or the project's). */
  readonly pinned: boolean;
  /** The pinned keys as did:key, each once. */
  readonly pinned_keys: readonly string[];
}

/** A log as `verifyLog` takes it. */
export type LogInput = string | URL | Uint8Array;

/**
 * The addon's error for a log file that cannot be read (code `errno:N`), as Node's own
 * file errors are: `code` (`ENOENT`, …), `errno`, `path`, and a message naming the file.
 */
function readError(error: unknown, path: string): unknown {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  const errno = typeof code === 'string' ? /^errno:(\d+)$/.exec(code)?.[1] : undefined;
  if (errno === undefined) {
    return undefined;
  }
  let name: string | undefined;
  // The number is the OS's: errno on POSIX, where Node names it (on Windows, a Windows code).
  if (process.platform !== 'win32' && Number(errno) > 0) {
    try {
      name = getSystemErrorName(-Number(errno));
    } catch {
      name = undefined;
    }
  }
  const message = (error as Error).message;
  const read = new Error(`heso.verifyLog: cannot read ${path}: ${message}${name === undefined ? '' : ` (${name})`}`) as NodeJS.ErrnoException;
  if (name !== undefined) {
    read.code = name;
    read.errno = -Number(errno);
  }
  read.path = path;
  return read;
}

/**
 * Verifies a log (a `.jsonl` file path or `file:` URL, read streaming; its bytes; or its
 * text, a string starting with `{`), offline, as `heso verify LOG.jsonl` does: every
 * receipt, every session's chain, the signers, a torn tail. Every complete line is a
 * receipt (a blank one is `Malformed`); bytes after the last newline are a torn tail,
 * reported and not verified. `signers` as for `verify`. A file that cannot be read throws
 * an `Error` with Node's `code` (`ENOENT`, `EISDIR`, …) and `path`, a signer that is not a
 * key a `TypeError`. It runs on the calling thread.
 */
export function verifyLog(log: LogInput, options?: VerifyOptions): LogReport {
  const signers = signersOf(options, 'heso.verifyLog');
  let input: string | Buffer;
  if (typeof log === 'string') {
    input = /^\s*\{/.test(log) ? Buffer.from(log, 'utf8') : log;
  } else if (log instanceof URL) {
    input = fileURLToPath(log);
  } else if (log instanceof Uint8Array) {
    input = Buffer.from(log.buffer, log.byteOffset, log.byteLength);
  } else {
    throw new TypeError(`heso.verifyLog: a log is a file path, a file: URL or bytes, not ${describe(log)}`);
  }
  let text: string;
  try {
    text = native.verifyLog(input, signers ?? null, signers === undefined ? (opened() ?? null) : null);
  } catch (error) {
    throw (typeof input === 'string' ? readError(error, input) : undefined) ?? translate(error, ConfigError);
  }
  // JSON text from the addon (see heso-node/src/verify.rs: its seqs can pass 2^32).
  return JSON.parse(text) as LogReport;
}
