/**
 * Turning a call into an action: options checked once, arguments bound to fields, and
 * back again (a call parked by another process rebuilt from its recorded fields).
 *
 * How arguments become fields (JavaScript cannot name a function's parameters reliably,
 * so heso never parses a function's source):
 * - `params: ["to", "amount"]` names the arguments in order; any beyond the list are
 *   recorded under their position (`"2"`, …);
 * - otherwise, when the first argument is a plain object and the function declares at
 *   most one parameter (`fn({to, amount})`), that object's own keys are the fields, and
 *   any further arguments are recorded under their position (`"1"`, …);
 * - otherwise every argument is recorded under its position: `{"0": …, "1": …}`.
 * An argument that is `undefined` is left out.
 */

import { GateError } from './errors.cjs';
import { native } from './native.cjs';
import { describe, label } from './state.cjs';

/** The verbs a receipt may record. */
export type Verb =
  | 'llm_call'
  | 'tool_call'
  | 'http_request'
  | 'payment'
  | 'data_export'
  | 'account_change'
  | 'delete';

/** How redacted fields are hidden. */
export type RedactMode = 'commit_and_reveal' | 'destructive';

/** The verbs, as the engine lists them. */
export const VERBS: readonly Verb[] = Object.freeze(native.verbs() as Verb[]);

/** Options of `tool`, `toolSync`, `destructive` and `destructiveSync`. */
export interface ToolOptions {
  /** The receipt's `tool_name`; default: the function's name. */
  readonly name?: string;
  /** Field paths hidden before anything is signed or written (`"apiKey"`, `"headers.authorization"`). */
  readonly redact?: string | readonly string[];
  /** `commit_and_reveal` (default: salted BLAKE3, revealable) or `destructive` (`"[redacted]"`). */
  readonly redactMode?: RedactMode;
  /** `false`: observe-only (a refusal is recorded, the body runs; never for a delete). */
  readonly blocking?: boolean;
  /** The verb (default `tool_call`; `delete` for `destructive`). */
  readonly verb?: Verb;
  /** The parameters' names, in order: the fields are the arguments by these names. */
  readonly params?: readonly string[];
}

/** Options as checked once, when a function is gated. */
export interface Options {
  readonly name: string | undefined;
  readonly redact: readonly string[];
  readonly redactMode: RedactMode;
  readonly blocking: boolean;
  readonly verb: Verb;
  readonly params: readonly string[] | undefined;
}

/** How one function's arguments become fields. */
export interface Binding {
  /** The arguments' names, in order, when given. */
  readonly params: readonly string[] | undefined;
  /** True when a first plain-object argument's keys may be the fields. */
  readonly objectArgument: boolean;
}

function checkVerb(where: string, verb: unknown): Verb {
  if (typeof verb !== 'string') {
    throw new TypeError(`${where}: verb must be a string, not ${describe(verb)}`);
  }
  if (!(VERBS as readonly string[]).includes(verb)) {
    throw new TypeError(`${where}: unknown verb ${JSON.stringify(verb.slice(0, 80))} (one of ${VERBS.join(', ')})`);
  }
  return verb as Verb;
}

function checkRedactMode(where: string, mode: unknown): RedactMode {
  if (mode === 'commit_and_reveal' || mode === 'destructive') {
    return mode;
  }
  const shown = typeof mode === 'string' ? JSON.stringify(mode.slice(0, 80)) : describe(mode);
  throw new TypeError(`${where}: redactMode must be "commit_and_reveal" or "destructive", not ${shown}`);
}

/** Checks `redact` paths; returns them with each one's first segment (`null` for `*`). */
export function checkRedact(where: string, redact: unknown): { paths: readonly string[]; heads: (string | null)[] } {
  if (redact === undefined) {
    return { paths: [], heads: [] };
  }
  const list = typeof redact === 'string' ? [redact] : redact;
  if (!Array.isArray(list)) {
    throw new TypeError(`${where}: redact must be a field path or a list of them, not ${describe(redact)}`);
  }
  const paths: string[] = [];
  const heads: (string | null)[] = [];
  for (const path of list as unknown[]) {
    if (typeof path !== 'string') {
      throw new TypeError(`${where}: a redact path must be a string, not ${describe(path)}`);
    }
    try {
      heads.push(native.checkFieldPath(path) ?? null);
    } catch (error) {
      throw new TypeError(`${where}: redact: ${(error as Error).message}`);
    }
    paths.push(path);
  }
  return { paths, heads };
}

function checkParams(where: string, params: unknown): readonly string[] | undefined {
  if (params === undefined) {
    return undefined;
  }
  if (!Array.isArray(params)) {
    throw new TypeError(`${where}: params must be a list of parameter names, not ${describe(params)}`);
  }
  const names: string[] = [];
  for (const name of params as unknown[]) {
    names.push(label(where, 'a parameter name in params', name));
  }
  if (new Set(names).size !== names.length) {
    throw new TypeError(`${where}: params names a parameter twice`);
  }
  return Object.freeze(names);
}

/**
 * Checks a gated function's options once, when it is gated: a mistake there throws
 * `TypeError` then, not on every call.
 */
export function checkOptions(where: string, options: unknown, defaultVerb: Verb, verbAllowed: boolean): Options {
  if (options === undefined) {
    options = {};
  }
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${where}: options must be an object, not ${describe(options)}`);
  }
  const given = options as Record<string, unknown>;
  const known = new Set(['name', 'redact', 'redactMode', 'blocking', 'params', ...(verbAllowed ? ['verb'] : [])]);
  for (const key of Object.keys(given)) {
    if (!known.has(key)) {
      throw new TypeError(`${where}: unknown option ${JSON.stringify(key.slice(0, 80))} (${[...known].join(', ')})`);
    }
  }
  const name = given.name === undefined ? undefined : label(where, 'name', given.name);
  const verb = given.verb === undefined ? defaultVerb : checkVerb(where, given.verb);
  const redactMode = given.redactMode === undefined ? 'commit_and_reveal' : checkRedactMode(where, given.redactMode);
  if (given.blocking !== undefined && typeof given.blocking !== 'boolean') {
    throw new TypeError(`${where}: blocking must be true or false, not ${describe(given.blocking)}`);
  }
  const params = checkParams(where, given.params);
  const { paths, heads } = checkRedact(where, given.redact);
  if (params !== undefined) {
    paths.forEach((path, index) => {
      const head = heads[index];
      if (head !== null && head !== undefined && !params.includes(head) && !isIndex(head)) {
        throw new TypeError(
          `${where}: redact path ${JSON.stringify(path.slice(0, 200))} cannot match: there is no ` +
            `parameter ${JSON.stringify(head.slice(0, 80))} (params: ${params.join(', ') || 'none'})`,
        );
      }
    });
  }
  return {
    name,
    redact: Object.freeze([...paths]),
    redactMode,
    blocking: given.blocking !== false,
    verb,
    params,
  };
}

/** `fn`'s name as a tool name (`bound ` prefixes dropped), or a `TypeError` asking for one. */
export function nameOf(where: string, fn: (...args: never[]) => unknown): string {
  let name = typeof fn.name === 'string' ? fn.name : '';
  while (name.startsWith('bound ')) {
    name = name.slice('bound '.length);
  }
  if (name.length === 0) {
    throw new TypeError(
      `${where}: the function has no name, and the receipt needs one: pass {name: "…"} ` +
        '(or gate a named function)',
    );
  }
  return label(where, 'the function name', name);
}

/** A canonical array index (`0`, `12`; not `01`), as the engine reads path segments. */
function isIndex(key: string): boolean {
  return /^(0|[1-9][0-9]*)$/.test(key);
}

/** A plain object: made by `{}`, `Object.create(null)` or `new Object()`. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return false;
  }
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === null || prototype === Object.prototype;
}

/** The fields of one call, and whether another process could rebuild the call from them. */
export interface Bound {
  readonly fields: Record<string, unknown>;
  readonly exact: boolean;
}

/** The fields of one call (see the rule at the top of this module). */
export function bindFields(binding: Binding, args: readonly unknown[], where: string): Bound {
  const fields: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  let exact = true;
  let first = 0;
  if (binding.params !== undefined) {
    binding.params.forEach((name, index) => {
      if (index < args.length && args[index] !== undefined) {
        fields[name] = args[index];
      }
    });
    first = binding.params.length;
  } else if (binding.objectArgument && isPlainObject(args[0])) {
    const object = args[0];
    const keys = Object.keys(object);
    if (args.length === 1) {
      // The object itself: its own keys are read by the converter, never copied.
      return { fields: object, exact: keys.length > 0 && !keys.some(isIndex) };
    }
    for (const key of keys) {
      fields[key] = object[key];
    }
    exact = keys.length > 0 && !keys.some(isIndex);
    first = 1;
  }
  for (let index = first; index < args.length; index += 1) {
    if (args[index] === undefined) {
      continue;
    }
    const key = String(index);
    if (Object.prototype.hasOwnProperty.call(fields, key)) {
      throw new GateError(
        `heso refused ${where}: argument ${index} would be recorded under "${key}", a key its ` +
          'first argument already has; rename that key (nothing was recorded and the call did not run)',
      );
    }
    fields[key] = args[index];
  }
  return { fields, exact };
}

/** The arguments of a call from its recorded fields: the inverse of `bindFields`. */
export function rebuildArguments(binding: Binding, fields: Record<string, unknown>): unknown[] {
  const args: unknown[] = [];
  const positional = (from: number): void => {
    for (const key of Object.keys(fields)) {
      if (isIndex(key) && Number(key) >= from) {
        args[Number(key)] = fields[key];
      }
    }
  };
  if (binding.params !== undefined) {
    binding.params.forEach((name, index) => {
      args[index] = fields[name];
    });
    positional(binding.params.length);
    return args;
  }
  const keys = Object.keys(fields);
  if (keys.every(isIndex)) {
    positional(0);
    return args;
  }
  const object: Record<string, unknown> = {};
  for (const key of keys) {
    if (!isIndex(key)) {
      object[key] = fields[key];
    }
  }
  args[0] = object;
  positional(1);
  return args;
}
