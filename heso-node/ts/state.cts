/** The open project, and the context every gated call carries (workflow, account). */

import { AsyncLocalStorage } from 'node:async_hooks';
import { fileURLToPath } from 'node:url';

import { ConfigError, translate } from './errors.cjs';
import { native, type Project } from './native.cjs';

let project: Project | undefined;

/**
 * Opens the project: finds heso.toml (`dir`, `HESO_PROJECT_ROOT`, or the nearest folder
 * above the working directory), unlocks the operator key once for the process and opens
 * the log. Calling it again rebinds to the project found then.
 *
 * Throws `ConfigError` when there is no project (run `heso init`), the passphrase is
 * wrong or refused (production needs `HESO_KEY_PASSPHRASE`), or the policy is broken.
 */
export function init(dir?: string | URL): void {
  let path: string | null = null;
  if (dir instanceof URL) {
    path = fileURLToPath(dir);
  } else if (typeof dir === 'string') {
    path = dir;
  } else if (dir !== undefined) {
    throw new TypeError(`heso.init: dir must be a path (a string or a file: URL), not ${describe(dir)}`);
  }
  try {
    project = native.Project.open(path);
  } catch (error) {
    throw translate(error, ConfigError);
  }
}

/** The open project, or `ConfigError` before `init()`. */
export function current(): Project {
  if (project === undefined) {
    throw new ConfigError(
      'heso.init() has not been called: call it before a gated call; run `heso init` ' +
        '(npx heso init) to create a project',
    );
  }
  return project;
}

/** The open project, if any (verification pins its keys). */
export function opened(): Project | undefined {
  return project;
}

/** What a step sets for every action inside it. */
export interface StepScope {
  /** The workflow every action inside carries. */
  readonly workflow: string;
  /** The account; left out, the enclosing step's (or `default`). */
  readonly account?: string;
}

interface Scope {
  readonly workflow: string;
  readonly account: string;
}

const DEFAULT_SCOPE: Scope = { workflow: 'default', account: 'default' };
const storage = new AsyncLocalStorage<Scope>();

/** The workflow and account of the current step (`default` outside any). */
export function scope(): Scope {
  return storage.getStore() ?? DEFAULT_SCOPE;
}

/** A value's kind, for messages (never the value itself: it may be a secret). */
export function describe(value: unknown): string {
  if (value === null) {
    return 'null';
  }
  if (Array.isArray(value)) {
    return 'an array';
  }
  const kind = typeof value;
  return kind === 'object' || kind === 'undefined' ? kind : `a ${kind}`;
}

/** A lone surrogate (an unpaired UTF-16 half): in `u` mode a pair is one code point. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** A workflow, account or tool name: a non-empty string of valid Unicode. */
export function label(where: string, what: string, value: unknown): string {
  if (typeof value !== 'string') {
    throw new TypeError(`${where}: ${what} must be a string, not ${describe(value)}`);
  }
  if (value.length === 0) {
    throw new TypeError(`${where}: ${what} must not be empty`);
  }
  const lone = LONE_SURROGATE.exec(value);
  if (lone !== null) {
    throw new TypeError(`${where}: ${what} is not valid Unicode (a lone surrogate at index ${lone.index})`);
  }
  return value;
}

/**
 * Runs `fn` with every action inside it carrying `workflow` (and `account`), and returns
 * what `fn` returns (a Promise when `fn` is async). Built on `AsyncLocalStorage`, so
 * concurrent async work keeps its own step; a nested step restores the outer one on exit.
 */
export function step<R>(scope: StepScope, fn: () => R): R {
  if (scope === null || typeof scope !== 'object') {
    throw new TypeError(`heso.step: the first argument must be {workflow, account?}, not ${describe(scope)}`);
  }
  const workflow = label('heso.step', 'workflow', scope.workflow);
  const account =
    scope.account === undefined
      ? (storage.getStore()?.account ?? DEFAULT_SCOPE.account)
      : label('heso.step', 'account', scope.account);
  if (typeof fn !== 'function') {
    throw new TypeError(`heso.step: the second argument must be a function, not ${describe(fn)}`);
  }
  return storage.run({ workflow, account }, fn);
}
