/**
 * heso's errors. A mistake in how heso is called (a wrong type, an unknown verb, a value
 * that cannot be recorded) is JavaScript's own `TypeError`, thrown before anything is
 * recorded; everything else heso throws is a `HesoError`.
 */

/** Base of every heso error. */
export class HesoError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The project cannot be used: no heso.toml, a broken policy, a key that will not open. */
export class ConfigError extends HesoError {}

/** The gate could not record the action (too large, log, salts or signing failed): it did not run. */
export class GateError extends HesoError {}

/** An approval step was refused: unknown id, rejected, expired, resumed twice, changed arguments. */
export class ApprovalError extends HesoError {}

/** What a `BlockedError` carries besides its message. */
export interface BlockedDetails {
  readonly actionHash: string;
  readonly ruleId: string;
  readonly reason: string;
}

/** The policy refused the action. It was recorded and did not run. */
export class BlockedError extends HesoError {
  /** The receipt of the refusal. */
  readonly actionHash: string;
  /** The deciding rule. */
  readonly ruleId: string;
  /** The rule in words, as the receipt records it. */
  readonly reason: string;

  constructor(message: string, details: BlockedDetails) {
    super(message);
    this.actionHash = details.actionHash;
    this.ruleId = details.ruleId;
    this.reason = details.reason;
  }
}

/** What a `SuspendedError` carries besides its message. */
export interface SuspendedDetails {
  readonly actionHash: string;
  readonly pendingId: string;
  readonly approvers: readonly string[];
  readonly expiresAt: string;
  readonly ruleId: string;
}

/**
 * The action needs a person's approval. It was recorded and parked; it did not run.
 * Approve it with `heso approve PENDING_ID`, then `await heso.resume(pendingId)` runs it once.
 */
export class SuspendedError extends HesoError {
  /** The parked receipt. */
  readonly actionHash: string;
  /** The pending id (`heso approve ID`, `heso.resume(ID)`). */
  readonly pendingId: string;
  /** Who may approve it. */
  readonly approvers: readonly string[];
  /** When it expires (RFC 3339 UTC). */
  readonly expiresAt: string;
  /** The deciding rule. */
  readonly ruleId: string;

  constructor(message: string, details: SuspendedDetails) {
    super(message);
    this.actionHash = details.actionHash;
    this.pendingId = details.pendingId;
    this.approvers = [...details.approvers];
    this.expiresAt = details.expiresAt;
    this.ruleId = details.ruleId;
  }
}

type HesoErrorClass = new (message: string) => HesoError;

/**
 * An error from the native addon as heso shows it: its `InvalidArg` errors are
 * `TypeError`s (a value heso cannot take), its other failures `kind`; anything else (an
 * exception thrown by the caller's own getter or `toJSON`) passes through unchanged.
 */
export function translate(error: unknown, kind: HesoErrorClass): unknown {
  if (error instanceof Error && error.constructor === Error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'InvalidArg') {
      return new TypeError(error.message);
    }
    if (code === 'GenericFailure') {
      return new kind(error.message);
    }
  }
  return error;
}
