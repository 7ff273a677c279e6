/**
 * `heso.wrap`: a client (such as `new OpenAI()`) or a `fetch` function whose
 * request-sending calls are gated, through a `Proxy`.
 */

import { bindFields, checkRedact, isPlainObject, type RedactMode, type Verb, VERBS } from './bind.cjs';
import { GateError } from './errors.cjs';
import { gateAsync, gateRequest, gateSync, type HeldCall, settle } from './gate.cjs';
import { describe, label } from './state.cjs';

/**
 * Method names gated by default: an LLM client's calls (`chat.completions.create`,
 * `responses.create`, `messages.create`, their `stream`, `parse` and `runTools` helpers)
 * as `llm_call`; `request` and `fetch` as `http_request`.
 */
export const DEFAULT_VERBS: Readonly<Record<string, Verb>> = Object.freeze({
  create: 'llm_call',
  stream: 'llm_call',
  parse: 'llm_call',
  runTools: 'llm_call',
  request: 'http_request',
  fetch: 'http_request',
});

/** Methods that return their value synchronously (a stream helper): gated on the calling thread. */
export const DEFAULT_SYNC: readonly string[] = Object.freeze(['stream', 'runTools']);

/** Options of `wrap`. */
export interface WrapOptions {
  /** More method names to gate, with their verbs (`{send: "http_request"}`). */
  readonly verbs?: Readonly<Record<string, Verb>>;
  /** Field paths hidden in every gated call, besides credentials (hidden always). */
  readonly redact?: string | readonly string[];
  /** How they are hidden (default `commit_and_reveal`). */
  readonly redactMode?: RedactMode;
  /**
   * Gated method names that return their value synchronously: they are gated on the
   * calling thread and return the method's own value (default: `stream`, `runTools`).
   */
  readonly sync?: readonly string[];
}

interface WrapState {
  readonly root: object;
  readonly verbs: ReadonlyMap<string, Verb>;
  readonly sync: ReadonlySet<string>;
  readonly redact: readonly string[];
  readonly redactMode: RedactMode;
  /** Proxies already made for objects under this wrap (stable identity). */
  readonly proxies: WeakMap<object, object>;
  /** Functions already bound or gated under this wrap. */
  readonly functions: WeakMap<object, Map<string, unknown>>;
}

/**
 * Objects passed through as they are: built-ins whose methods need their own `this`. Any
 * other object (a client's resource, a plain namespace object) is wrapped in turn.
 */
function passThrough(value: object): boolean {
  return (
    Array.isArray(value) ||
    ArrayBuffer.isView(value) ||
    value instanceof ArrayBuffer ||
    value instanceof Promise ||
    value instanceof Date ||
    value instanceof RegExp ||
    value instanceof Map ||
    value instanceof Set ||
    value instanceof WeakMap ||
    value instanceof WeakSet ||
    value instanceof Error
  );
}

/** A property the proxy must return as it is (a proxy invariant). */
function fixed(target: object, prop: string | symbol): boolean {
  const descriptor = Reflect.getOwnPropertyDescriptor(target, prop);
  return descriptor !== undefined && descriptor.configurable === false && descriptor.writable === false;
}

/** The host of an absolute URL; `undefined` for a relative one; `GateError` when unreadable. */
function hostOf(url: string | URL, base?: string): string | undefined {
  let parsed: URL;
  try {
    parsed = url instanceof URL ? url : base === undefined ? new URL(url) : new URL(url, base);
  } catch {
    if (base === undefined && typeof url === 'string' && !/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(url)) {
      return undefined; // relative, and no base to resolve it against
    }
    throw unreadableHost();
  }
  if (parsed.hostname === '') {
    throw unreadableHost();
  }
  return parsed.hostname;
}

function unreadableHost(): GateError {
  return new GateError(
    'heso refused the call: cannot tell which host the request goes to from its URL, so no ' +
      'rule on hosts could apply (nothing was recorded and the call did not run)',
  );
}

/** The client's base URL (`baseURL`, as the openai and anthropic clients name it). */
function baseOf(client: object): string | undefined {
  for (const name of ['baseURL', 'baseUrl', 'base_url']) {
    const value: unknown = Reflect.get(client, name, client);
    if (typeof value === 'string' && value !== '') {
      return value;
    }
    if (value instanceof URL) {
      return value.href;
    }
  }
  return undefined;
}

/** An HTTP request object (a WHATWG `Request`): it has a URL, a method and headers. */
function isRequest(value: unknown): value is { url: string; method: string; headers: unknown } {
  return (
    value !== null &&
    typeof value === 'object' &&
    !isPlainObject(value) &&
    typeof (value as { url?: unknown }).url === 'string' &&
    typeof (value as { method?: unknown }).method === 'string' &&
    'headers' in value
  );
}

/** Headers in any form `fetch` takes, as a plain object (names in lower case). */
function headerObject(headers: unknown): Record<string, string> | undefined {
  if (headers === undefined || headers === null) {
    return undefined;
  }
  return Object.fromEntries(new Headers(headers as ConstructorParameters<typeof Headers>[0]));
}

/** A request object as its method, URL and headers (its body is a stream: not read). */
function requestFields(request: { url: string; method: string; headers: unknown }): Record<string, unknown> {
  return { method: request.method, url: request.url, headers: headerObject(request.headers) ?? {} };
}

interface Prepared {
  readonly fields: Record<string, unknown>;
  readonly host: string | undefined;
}

/** `fetch(input, init)`: `{url, method, headers, body}`, and the URL's host. */
function fetchCall(args: readonly unknown[]): Prepared {
  const [input, init] = args;
  let url: string;
  let method = 'GET';
  let headers: Record<string, string> = {};
  if (typeof input === 'string') {
    url = input;
  } else if (input instanceof URL) {
    url = input.href;
  } else if (isRequest(input)) {
    ({ url, method } = input);
    headers = headerObject(input.headers) ?? {};
  } else {
    throw new TypeError(`fetch: the first argument must be a URL or a Request, not ${describe(input)}`);
  }
  const fields: Record<string, unknown> = {};
  if (init !== undefined && init !== null) {
    if (typeof init !== 'object') {
      throw new TypeError(`fetch: the second argument must be an object, not ${describe(init)}`);
    }
    const options = init as { method?: unknown; headers?: unknown; body?: unknown };
    if (typeof options.method === 'string') {
      method = options.method;
    }
    headers = { ...headers, ...headerObject(options.headers) };
    if (options.body !== undefined && options.body !== null) {
      fields.body = options.body instanceof URLSearchParams ? options.body.toString() : options.body;
    }
  }
  const host = hostOf(url);
  if (host === undefined) {
    throw unreadableHost();
  }
  return { fields: { url, method: method.toUpperCase(), headers, ...fields }, host };
}

/**
 * A client method's call: fields by the binding rule, and where the request goes. Only an
 * `http_request` method's arguments name its URL (a `create` body's `url` key is data, such
 * as a webhook's address, not where the call goes).
 */
function methodCall(args: readonly unknown[], client: object, where: string, verb: Verb): Prepared {
  const shaped = args.map((arg) => (isRequest(arg) ? requestFields(arg) : arg));
  const { fields } = bindFields({ params: undefined, objectArgument: true }, shaped, where);
  const base = baseOf(client);
  const request = args.find(isRequest);
  if (request !== undefined) {
    return { fields, host: hostOf(request.url) ?? (base === undefined ? undefined : hostOf(base)) };
  }
  if (verb !== 'http_request') {
    return { fields, host: base === undefined ? undefined : hostOf(base) };
  }
  // The first argument that is a URL, or a string with a `/` in it (`request("GET", url)`
  // skips the method), else a plain-object first argument's `url` or `path`.
  let url: unknown = args.find((arg) => arg instanceof URL || (typeof arg === 'string' && arg.includes('/')));
  if (url === undefined && isPlainObject(args[0])) {
    url = args[0].url ?? args[0].path;
  }
  if (typeof url === 'string' || url instanceof URL) {
    const host = hostOf(url, base);
    if (host !== undefined) {
      return { fields, host };
    }
  }
  return { fields, host: base === undefined ? undefined : hostOf(base) };
}

/**
 * A thenable standing for a call that runs once its gate allowed it: awaiting it gives
 * the call's result; any other method (openai's `.withResponse()`, `.asResponse()`) is
 * called on the call's own return value once it exists.
 */
function deferred(started: Promise<{ value: unknown }>): unknown {
  let settled: Promise<unknown> | undefined;
  const result = (): Promise<unknown> => (settled ??= started.then((box) => box.value));
  return new Proxy(Object.create(Promise.prototype) as object, {
    get(_target, prop) {
      if (prop === 'then' || prop === 'catch' || prop === 'finally') {
        const promise = result();
        const method = promise[prop] as (...args: unknown[]) => unknown;
        return method.bind(promise);
      }
      if (typeof prop === 'symbol') {
        return prop === Symbol.toStringTag ? 'Promise' : undefined;
      }
      return (...args: unknown[]) =>
        started.then((box) => {
          const value = box.value as Record<string, unknown>;
          const method = value[prop] as (...a: unknown[]) => unknown;
          return method.apply(value, args);
        });
    },
  });
}

/** One gated call: gate (off the thread, or on it for `sync` methods), then the call. */
function gatedCall(
  state: WrapState,
  verb: Verb,
  name: string,
  toolName: string,
  prepare: () => Prepared,
  call: () => unknown,
  plain = false,
): unknown {
  const options = { verb, redact: state.redact, redactMode: state.redactMode, blocking: true };
  const held = (): HeldCall => ({ run: call, fieldsNow: () => prepare().fields });
  if (state.sync.has(name)) {
    const { fields, host } = prepare();
    settle(gateSync(gateRequest(options, toolName, host, false, true), fields), toolName, held());
    return call();
  }
  let started: Promise<{ value: unknown }>;
  try {
    const { fields, host } = prepare();
    started = gateAsync(gateRequest(options, toolName, host, false, true), fields).then((result) => {
      settle(result, toolName, held());
      return { value: call() };
    });
  } catch (error) {
    started = Promise.reject(error);
  }
  return plain ? started.then((box) => box.value) : deferred(started);
}

function wrapObject(target: object, path: string, state: WrapState): object {
  const existing = state.proxies.get(target);
  if (existing !== undefined) {
    return existing;
  }
  const proxy = new Proxy(target, {
    get(object, prop) {
      const value: unknown = Reflect.get(object, prop, object);
      if (fixed(object, prop)) {
        return value;
      }
      if (typeof value === 'function') {
        return method(object, prop, value as (...args: unknown[]) => unknown, path, state);
      }
      if (typeof prop === 'symbol' || value === null || typeof value !== 'object' || passThrough(value)) {
        return value;
      }
      return wrapObject(value, path === '' ? prop : `${path}.${prop}`, state);
    },
    set(object, prop, value) {
      return Reflect.set(object, prop, value, object);
    },
  });
  state.proxies.set(target, proxy);
  return proxy;
}

/** A method of a wrapped object: gated when its name has a verb, else bound to its object. */
function method(
  object: object,
  prop: string | symbol,
  fn: (...args: unknown[]) => unknown,
  path: string,
  state: WrapState,
): unknown {
  const key = typeof prop === 'symbol' ? prop.toString() : prop;
  let cache = state.functions.get(fn);
  const cached = cache?.get(key);
  if (cached !== undefined) {
    return cached;
  }
  const verb = typeof prop === 'string' ? state.verbs.get(prop) : undefined;
  let made: unknown;
  if (verb === undefined || typeof prop !== 'string') {
    made = fn.bind(object);
  } else {
    const toolName = path === '' ? prop : `${path}.${prop}`;
    made = function gatedMethod(...args: unknown[]): unknown {
      const prepare = () => (prop === 'fetch' ? fetchCall(args) : methodCall(args, state.root, toolName, verb));
      return gatedCall(state, verb, prop, toolName, prepare, () => Reflect.apply(fn, object, args));
    };
  }
  if (cache === undefined) {
    cache = new Map();
    state.functions.set(fn, cache);
  }
  cache.set(key, made);
  return made;
}

function checkWrapOptions(options: unknown): { verbs: Map<string, Verb>; sync: Set<string>; redact: readonly string[]; redactMode: RedactMode } {
  const where = 'heso.wrap';
  if (options === undefined) {
    options = {};
  }
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${where}: options must be an object, not ${describe(options)}`);
  }
  const given = options as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!['verbs', 'redact', 'redactMode', 'sync'].includes(key)) {
      throw new TypeError(`${where}: unknown option ${JSON.stringify(key.slice(0, 80))} (verbs, redact, redactMode, sync)`);
    }
  }
  const verbs = new Map<string, Verb>(Object.entries(DEFAULT_VERBS));
  if (given.verbs !== undefined) {
    if (!isPlainObject(given.verbs)) {
      throw new TypeError(
        `${where}: verbs must be an object of method name to verb, e.g. {search: "tool_call"}, not ${describe(given.verbs)}`,
      );
    }
    for (const [name, verb] of Object.entries(given.verbs)) {
      if (typeof verb !== 'string' || !(VERBS as readonly string[]).includes(verb)) {
        throw new TypeError(`${where}: verbs[${JSON.stringify(name.slice(0, 80))}]: unknown verb (one of ${VERBS.join(', ')})`);
      }
      verbs.set(name, verb as Verb);
    }
  }
  let sync = new Set(DEFAULT_SYNC);
  if (given.sync !== undefined) {
    if (!Array.isArray(given.sync)) {
      throw new TypeError(`${where}: sync must be a list of method names, not ${describe(given.sync)}`);
    }
    sync = new Set((given.sync as unknown[]).map((name) => label(where, 'a method name in sync', name)));
  }
  const redactMode = given.redactMode ?? 'commit_and_reveal';
  if (redactMode !== 'commit_and_reveal' && redactMode !== 'destructive') {
    throw new TypeError(`${where}: redactMode must be "commit_and_reveal" or "destructive"`);
  }
  return { verbs, sync, redact: checkRedact(where, given.redact).paths, redactMode };
}

/**
 * Wraps a client so that its request-sending calls are gated, or a `fetch` function so
 * that every request it sends is, as `http_request` to the URL's host.
 *
 * On a client, a method named `create`, `stream`, `parse` or `runTools` is gated as
 * `llm_call`, `request` or `fetch` as `http_request` (`verbs` adds more), at any depth
 * (`client.chat.completions.create`); everything else passes through untouched and
 * `instanceof` holds. The tool name is the attribute path; the target host is where the
 * request goes (an absolute URL argument's host, else the client's `baseURL`), read at
 * each call. Credentials (`Authorization`, `Proxy-Authorization`, `Cookie`, `X-Api-Key`,
 * `Api-Key`, `api_key`, any case, at any depth) are committed in every receipt.
 *
 * A gated method returns a Promise-like of what the method returns, which also forwards
 * the method's own promise methods (openai's `.withResponse()`, `.asResponse()`); methods
 * in `sync` (`stream`, `runTools`) are gated on the calling thread and return their own
 * value.
 */
export function wrap<T extends object>(client: T, options?: WrapOptions): T {
  const checked = checkWrapOptions(options);
  if (typeof client === 'function') {
    const fn = client as unknown as (...args: unknown[]) => unknown;
    const toolName = fn.name === '' ? 'fetch' : fn.name;
    const state: WrapState = {
      root: fn,
      ...checked,
      proxies: new WeakMap(),
      functions: new WeakMap(),
    };
    return new Proxy(fn, {
      apply(target, thisArg, args: unknown[]) {
        return gatedCall(
          state,
          'http_request',
          'fetch',
          toolName,
          () => fetchCall(args),
          () => Reflect.apply(target, thisArg, args),
          true,
        );
      },
    }) as unknown as T;
  }
  if (client === null || typeof client !== 'object') {
    throw new TypeError(`heso.wrap wraps a client object or a fetch function, not ${describe(client)}`);
  }
  const state: WrapState = { root: client, ...checked, proxies: new WeakMap(), functions: new WeakMap() };
  return wrapObject(client, '', state) as T;
}
