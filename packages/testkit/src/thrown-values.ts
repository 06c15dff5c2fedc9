/**
 * Values a handler may throw or reject with, chosen because each once broke (or could break) the
 * code that describes or classifies a failure: no prototype, cycles, throwing getters, Proxies
 * whose every trap throws, revoked proxies, symbols, huge strings. Each case builds a fresh value
 * (a revoked proxy or a consumed getter cannot be shared between runs).
 *
 * Use it to check that a failure path never throws itself: `describeError`, a dispatcher, a
 * logger serializer, an HTTP error mapper.
 */
export interface ThrownValueCase {
  name: string;
  make(): unknown;
}

const hostileTraps: ProxyHandler<object> = new Proxy(
  {},
  {
    // Every trap of the handler throws: get, has, ownKeys, getPrototypeOf, apply, ...
    get(_target, trap) {
      return () => {
        throw new Error(`trap ${String(trap)} refuses`);
      };
    },
  },
);

function nullPrototypeCycle(): object {
  const o = Object.create(null) as Record<string, unknown>;
  o.self = o;
  o.list = [o, { back: o }];
  return o;
}

function throwingGetters(): object {
  const o: Record<string, unknown> = {};
  for (const key of ['message', 'name', 'code', 'retryable', 'stack', 'toJSON', 'toString', 'then']) {
    Object.defineProperty(o, key, {
      enumerable: true,
      get() {
        throw new Error(`getter ${key} refuses`);
      },
    });
  }
  return o;
}

function errorWithThrowingMessage(): Error {
  const e = new Error('placeholder');
  Object.defineProperty(e, 'message', {
    get() {
      throw new Error('message getter refuses');
    },
  });
  Object.defineProperty(e, 'name', {
    get() {
      throw new Error('name getter refuses');
    },
  });
  return e;
}

function revokedProxy(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

function deepNesting(): object {
  let o: Record<string, unknown> = { leaf: true };
  for (let i = 0; i < 10_000; i++) o = { next: o };
  return o;
}

function wideObject(): object {
  const o: Record<string, string> = {};
  for (let i = 0; i < 100_000; i++) o[`key${i}`] = 'x'.repeat(100);
  return o;
}

function errorWithCauseCycle(): Error {
  const a = new Error('a') as Error & { cause?: unknown };
  const b = new Error('b', { cause: a });
  a.cause = b;
  return a;
}

function arrayWithHoleAndCycle(): unknown[] {
  const a: unknown[] = new Array(3);
  a[0] = 1;
  a[2] = a;
  return a;
}

function rejectedPromise(): Promise<never> {
  const p = Promise.reject(new Error('inner'));
  p.catch(() => {});
  return p;
}

export const THROWN_VALUES: readonly ThrownValueCase[] = [
  { name: 'undefined', make: () => undefined },
  { name: 'null', make: () => null },
  { name: 'zero', make: () => 0 },
  { name: 'empty string', make: () => '' },
  { name: 'a string', make: () => 'plain string' },
  { name: 'a string with NUL characters', make: () => 'nul\u0000inside\u0000' },
  { name: 'a 20 MB string', make: () => 'x'.repeat(20 * 1024 * 1024) },
  { name: 'a symbol', make: () => Symbol('thrown') },
  { name: 'a bigint', make: () => 12345678901234567890n },
  { name: 'false', make: () => false },
  { name: 'a function', make: () => function thrownFunction() {} },
  { name: 'a plain object', make: () => ({ reason: 'nope', status: 503 }) },
  { name: 'a null-prototype object with a cycle', make: nullPrototypeCycle },
  { name: 'an object whose getters throw', make: throwingGetters },
  { name: 'a Proxy whose every trap throws', make: () => new Proxy({}, hostileTraps) },
  { name: 'a function Proxy whose every trap throws', make: () => new Proxy(() => {}, hostileTraps) },
  { name: 'a revoked Proxy', make: revokedProxy },
  { name: 'an Error whose message and name getters throw', make: errorWithThrowingMessage },
  { name: 'an Error with a cause cycle', make: errorWithCauseCycle },
  { name: 'an Error with a 20 MB message', make: () => new Error('m'.repeat(20 * 1024 * 1024)) },
  {
    name: 'an Error with a non-string name and code',
    make: () => Object.assign(new Error('odd'), { name: { n: 1 }, code: 42 }),
  },
  { name: 'an object nested 10 000 deep', make: deepNesting },
  { name: 'an object with 100 000 keys', make: wideObject },
  { name: 'an array with a hole and a cycle', make: arrayWithHoleAndCycle },
  { name: 'a rejected promise', make: rejectedPromise },
];
