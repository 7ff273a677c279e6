/** `heso.verify`: one receipt, offline, by the Rust verifier (heso-receipt). */

import { readFileSync } from 'node:fs';

import { ConfigError, translate } from './errors.cjs';
import { native } from './native.cjs';
import { describe, opened } from './state.cjs';

/** One signer of a receipt. */
export interface Signer {
  /** `operator` or `approver`. */
  readonly role: 'operator' | 'approver';
  /** Their public key, as a did:key. */
  readonly key: string;
  /** The approver's decision (`approved`, `rejected`, `escalated`). */
  readonly decision?: string;
}

/** The verdict on one receipt. */
export interface Verdict {
  /** True for a `Valid` receipt. */
  readonly valid: boolean;
  /** `Valid`, `Malformed`, `HashMismatch`, `InvalidSignature`, `UntrustedSigner`, … */
  readonly kind: string;
  /** What was wrong, in words (empty when valid). */
  readonly detail: string;
  /** `L0` or `L1`, derived from the signatures; `null` when they could not be checked. */
  readonly trustLevel: 'L0' | 'L1' | null;
  /** Who signed (empty when the signatures could not be checked). */
  readonly signers: readonly Signer[];
  /** True when the signers were checked against pinned keys (given, or the project's). */
  readonly pinned: boolean;
  /** The receipt's action_hash, when it could be read. */
  readonly actionHash: string | null;
}

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
export function verify(receipt: ReceiptInput, options?: VerifyOptions): Verdict {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new TypeError(`heso.verify: options must be {signers?}, not ${describe(options)}`);
  }
  const data = bytesOf(receipt);
  const signers = signerList(options?.signers);
  let result;
  try {
    result = native.verify(data, signers ?? null, signers === undefined ? (opened() ?? null) : null);
  } catch (error) {
    throw translate(error, ConfigError);
  }
  return {
    valid: result.valid,
    kind: result.kind,
    detail: result.detail,
    trustLevel: result.trustLevel === 'L0' || result.trustLevel === 'L1' ? result.trustLevel : null,
    signers: result.signers.map((s) => {
      const role = s.role === 'approver' ? 'approver' : 'operator';
      return s.decision === undefined ? { role, key: s.key } : { role, key: s.key, decision: s.decision };
    }),
    pinned: result.pinned,
    actionHash: result.actionHash ?? null,
  };
}
