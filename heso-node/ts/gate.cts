/** The gate as JavaScript sees it: `tool`, `toolSync`, `destructive` and `resume`. */

import {
  type Binding,
  bindFields,
  checkOptions,
  nameOf,
  type Options,
  rebuildArguments,
  type ToolOptions,
  type Verb,
} from './bind.cjs';
import { ApprovalError, BlockedError, GateError, SuspendedError, translate } from './errors.cjs';
import type { GateRequest, GateResult, PendingInfo } from './native.cjs';
import { current, describe, scope } from './state.cjs';

/** A call this process parked: `resume` runs it with the arguments held here. */
export interface HeldCall {
  /** Runs the call (once). */
  readonly run: () => unknown;
  /** The call's fields now (to check they are still the ones that were approved). */
  readonly fieldsNow: () => Record<string, unknown>;
}

const held = new Map<string, HeldCall>();

interface Registered {
  readonly fn: (...args: never[]) => unknown;
  readonly binding: Binding;
}

/** Gated functions by tool name, so `resume` can run a call parked by another process. */
const registry = new Map<string, Registered>();

/** The request for one call, with the current step's workflow and account. */
export function gateRequest(
  options: Pick<Options, 'verb' | 'redact' | 'redactMode' | 'blocking'>,
  toolName: string,
  targetHost: string | undefined,
  exactBinding: boolean,
  credentials: boolean,
): GateRequest {
  const { workflow, account } = scope();
  const request: GateRequest = {
    verb: options.verb,
    toolName,
    workflow,
    account,
    redact: [...options.redact],
    redactMode: options.redactMode,
    blocking: options.blocking,
    exactBinding,
    credentials,
  };
  if (targetHost !== undefined) {
    request.targetHost = targetHost;
  }
  return request;
}

/** Gates one call off the JavaScript thread; a refusal to record is a `TypeError` or `GateError`. */
export async function gateAsync(request: GateRequest, fields: Record<string, unknown>): Promise<GateResult> {
  const project = current();
  try {
    return await project.gate(request, fields);
  } catch (error) {
    throw translate(error, GateError);
  }
}

/** Gates one call on the calling thread. */
export function gateSync(request: GateRequest, fields: Record<string, unknown>): GateResult {
  const project = current();
  try {
    return project.gateSync(request, fields);
  } catch (error) {
    throw translate(error, GateError);
  }
}

function suspendedMessage(tool: string, pendingId: string, approvers: readonly string[], expiresAt: string): string {
  if (approvers.length === 0) {
    return (
      `heso suspended ${tool} until a person approves it, but no approver is named for it: ` +
      'create one with `heso keys new-approver NAME --default`, then ' +
      `\`heso approve ${pendingId}\` and heso.resume('${pendingId}') (expires ${expiresAt})`
    );
  }
  return (
    `heso suspended ${tool} until a person approves it (${approvers.join(', ')}): ` +
    `\`heso approve ${pendingId}\`, then heso.resume('${pendingId}') (expires ${expiresAt})`
  );
}

/**
 * Returns when the call may run; throws `BlockedError` or `SuspendedError` (holding the
 * call, so `resume` can run it) otherwise.
 */
export function settle(result: GateResult, tool: string, call: HeldCall): void {
  if (result.status === 'allowed') {
    return;
  }
  if (result.status === 'blocked') {
    throw new BlockedError(
      `heso blocked ${tool}: rule ${result.ruleId} (${result.ruleDisplay}); receipt ${result.actionHash}`,
      { actionHash: result.actionHash, ruleId: result.ruleId, reason: result.ruleDisplay },
    );
  }
  const pendingId = result.pendingId ?? '';
  const approvers = result.approvers ?? [];
  const expiresAt = result.expiresAt ?? '';
  if (pendingId !== '') {
    held.set(pendingId, call);
  }
  throw new SuspendedError(suspendedMessage(tool, pendingId, approvers, expiresAt), {
    actionHash: result.actionHash,
    pendingId,
    approvers,
    expiresAt,
    ruleId: result.ruleId,
  });
}

type AnyFunction = (this: never, ...args: never[]) => unknown;

/** A gated function, async: its result is a Promise of `fn`'s. */
export type Gated<F> = F extends (this: infer T, ...args: infer A) => infer R
  ? (this: T, ...args: A) => Promise<Awaited<R>>
  : never;

/** A gated function that gates on the calling thread: it returns what `fn` returns. */
export type GatedSync<F> = F extends (this: infer T, ...args: infer A) => infer R ? (this: T, ...args: A) => R : never;

function gateFunction(fn: unknown, given: unknown, where: string, defaultVerb: Verb, sync: boolean): AnyFunction {
  if (typeof fn !== 'function') {
    throw new TypeError(`${where} gates a function, not ${describe(fn)}`);
  }
  const target = fn as (this: unknown, ...args: unknown[]) => unknown;
  const options = checkOptions(where, given, defaultVerb, defaultVerb !== 'delete');
  const toolName = options.name ?? nameOf(where, target);
  const binding: Binding = { params: options.params, objectArgument: target.length <= 1 };
  registry.set(toolName, { fn: target, binding });

  const prepare = (thisArg: unknown, args: unknown[]) => {
    const bound = bindFields(binding, args, toolName);
    const request = gateRequest(options, toolName, undefined, bound.exact, false);
    const call: HeldCall = {
      run: () => target.apply(thisArg, args),
      fieldsNow: () => bindFields(binding, args, toolName).fields,
    };
    return { bound, request, call };
  };

  const gated = sync
    ? function gatedSync(this: unknown, ...args: unknown[]): unknown {
        const { bound, request, call } = prepare(this, args);
        settle(gateSync(request, bound.fields), toolName, call);
        return target.apply(this, args);
      }
    : async function gatedAsync(this: unknown, ...args: unknown[]): Promise<unknown> {
        const { bound, request, call } = prepare(this, args);
        settle(await gateAsync(request, bound.fields), toolName, call);
        return await target.apply(this, args);
      };
  Object.defineProperty(gated, 'name', { value: target.name, configurable: true });
  return gated as AnyFunction;
}

/**
 * Gates every call of `fn` (verb `tool_call` unless `verb` says otherwise). The returned
 * function takes `fn`'s arguments and returns a Promise of its result: the gate (policy,
 * redaction, signing, the log's fsync) runs off the JavaScript thread, and `fn` runs only
 * once the receipt is in the log. A refusal rejects with `BlockedError` or
 * `SuspendedError` and `fn` never runs.
 */
export function tool<F extends (...args: never[]) => unknown>(fn: F, options?: ToolOptions): Gated<F> {
  return gateFunction(fn, options, 'heso.tool', 'tool_call', false) as Gated<F>;
}

/**
 * Like `tool`, but the gate runs on the calling thread and the function returns what `fn`
 * returns (for code that cannot await; the fsync blocks the event loop meanwhile).
 */
export function toolSync<F extends (...args: never[]) => unknown>(fn: F, options?: ToolOptions): GatedSync<F> {
  return gateFunction(fn, options, 'heso.toolSync', 'tool_call', true) as GatedSync<F>;
}

/**
 * Gates a delete: verb `delete`, under the delete floor (never runs without a person's
 * approval, whatever the policy or `blocking` say). Async, like `tool`.
 */
export function destructive<F extends (...args: never[]) => unknown>(
  fn: F,
  options?: Omit<ToolOptions, 'verb'>,
): Gated<F> {
  return gateFunction(fn, options, 'heso.destructive', 'delete', false) as Gated<F>;
}

/** `destructive`, gated on the calling thread (like `toolSync`). */
export function destructiveSync<F extends (...args: never[]) => unknown>(
  fn: F,
  options?: Omit<ToolOptions, 'verb'>,
): GatedSync<F> {
  return gateFunction(fn, options, 'heso.destructiveSync', 'delete', true) as GatedSync<F>;
}

/** Options of `resume`. */
export interface ResumeOptions {
  /** Wait up to this many milliseconds for a person's decision (no busy loop). */
  readonly timeoutMs?: number;
}

function suspendedFrom(info: PendingInfo): SuspendedError {
  return new SuspendedError(
    `pending action ${info.id} has not been decided yet. ` +
      suspendedMessage(info.toolName, info.id, info.approvers, info.expiresAt),
    {
      actionHash: info.parkedReceipt,
      pendingId: info.id,
      approvers: info.approvers,
      expiresAt: info.expiresAt,
      ruleId: info.ruleId,
    },
  );
}

async function approval<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw translate(error, ApprovalError);
  }
}

/**
 * Runs an approved call once and resolves to what it returns: in the process that made
 * it, with the arguments it holds (which must still be the ones approved); in any other
 * process of the project that gated a function under the same tool name, with the
 * arguments recorded when it was parked.
 *
 * Rejects with `SuspendedError` while nobody decided (after waiting up to `timeoutMs`),
 * and `ApprovalError` after a rejection, an expiry, a second resume, changed arguments,
 * for an unknown id, or when this process has not gated the tool.
 */
export async function resume<R = unknown>(pendingId: string, options?: ResumeOptions): Promise<R> {
  if (typeof pendingId !== 'string') {
    throw new TypeError(`heso.resume: pendingId must be a string, not ${describe(pendingId)}`);
  }
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new TypeError(`heso.resume: options must be {timeoutMs?}, not ${describe(options)}`);
  }
  const timeoutMs: unknown = options?.timeoutMs;
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !(timeoutMs >= 0) || !Number.isFinite(timeoutMs))) {
    throw new TypeError(`heso.resume: timeoutMs must be a number of milliseconds, 0 or more, not ${String(timeoutMs)}`);
  }
  const project = current();
  if (timeoutMs !== undefined) {
    await approval(() => project.wait(pendingId, timeoutMs));
  }
  const mine = held.get(pendingId);
  if (mine !== undefined) {
    let fields: Record<string, unknown>;
    try {
      fields = mine.fieldsNow();
    } catch (error) {
      throw translate(error, ApprovalError);
    }
    const claimed = await approval(() => project.claim(pendingId, fields));
    if (claimed.state === 'pending') {
      throw suspendedFrom(await approval(() => project.pendingInfo(pendingId)));
    }
    held.delete(pendingId);
    return (await mine.run()) as R;
  }
  const info = await approval(() => project.pendingInfo(pendingId));
  if (info.state === 'pending') {
    throw suspendedFrom(info);
  }
  const target = registry.get(info.toolName);
  if (target === undefined) {
    throw new ApprovalError(
      `pending action ${pendingId} runs tool ${JSON.stringify(info.toolName.slice(0, 80))}, which this ` +
        'process has not gated: import the module that gates it (heso.tool), then resume',
    );
  }
  const claimed = await approval(() => project.claim(pendingId, null));
  if (claimed.state === 'pending' || claimed.fieldsJson === undefined) {
    throw suspendedFrom(await approval(() => project.pendingInfo(pendingId)));
  }
  const fields = JSON.parse(claimed.fieldsJson) as Record<string, unknown>;
  const args = rebuildArguments(target.binding, fields);
  const fn = target.fn as (...args: unknown[]) => unknown;
  return (await fn(...args)) as R;
}
