/** `heso.verify`: one receipt, offline, by the Rust verifier (heso-receipt). */

import { readFileSync } from 'node:fs';

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

/** Options of `verify`. */
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

function signerList(signers: unknown): string[] | undefined {
  if (signers === undefined) {
    return undefined;
  }
  const list = typeof signers === 'string' ? [signers] : signers;
  if (!Array.isArray(list)) {
    throw new TypeError(`heso.verify: signers must be a public key or a list of them, not ${describe(signers)}`);
  }
  return (list as unknown[]).map((key, index) => {
    if (typeof key !== 'string') {
      throw new TypeError(`heso.verify: signers[${index}] must be a public key as a string (did:key or base64), not ${describe(key)}`);
    }
    return key;
  });
}

/**
 * Verifies one receipt (an object, JSON text, bytes, or a file path or `file:` URL),
 * offline. `signers` pins exactly those keys; without it, the project's keys are pinned
 * after `heso.init()`, and nothing before. Bytes that are not a receipt give a
 * `Malformed` verdict, never an exception; a file that cannot be read throws Node's own
 * error (`ENOENT`), a signer that is not a key a `TypeError`.
 */
export function verify(receipt: ReceiptInput, options?: VerifyOptions): ReceiptReport {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new TypeError(`heso.verify: options must be {signers?}, not ${describe(options)}`);
  }
  const data = bytesOf(receipt);
  const signers = signerList(options?.signers);
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
