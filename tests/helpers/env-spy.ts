import { resolve, sep } from 'node:path';

/**
 * The STRIPE_SECRET_KEY trap. Stripe is mocked in the suite, so nothing may touch the real secret:
 * lib/ reads it only in `stripeSecretKey()` (lib/config.ts), when a real Stripe client is built.
 *
 * Importing this module replaces the test file's `process.env` with a Proxy that, for the key:
 * - fails every direct access: a read (`process.env.X`, destructuring, `Reflect.get`), `in`,
 *   `Object.getOwnPropertyDescriptor` / `hasOwnProperty` / `Object.hasOwn`, a write or a
 *   defineProperty. Each throws at once (an access at import time fails the file) and is recorded
 *   (a thrown error that the code under test swallows still fails the test: tests/helpers/
 *   infra-secret-check.ts checks the record after every test and after every file);
 * - is absent from enumeration: the value is dropped from this test file's environment, so
 *   `Object.keys`, `{ ...process.env }`, `Object.entries`, `JSON.stringify`, `for...in`,
 *   `util.inspect` and a child process spawned with a spread copy keep working and never carry it.
 *   Enumeration is how jest, node and libraries legitimately copy the environment, so it must not
 *   fail; it cannot hand over what is no longer there. (A child spawned with no `env` inherits the
 *   jest process's own environment, which this sandbox cannot reach: tests/helpers/global-setup.ts
 *   removes the key there.)
 *
 * It must be installed before anything of lib/ is loaded, or a read at import time would pass
 * unseen: it is the first import of tests/helpers/setup.ts, and belongs in jest's `setupFiles`
 * (which run before the test framework and every test module). Installing it after a lib/ module
 * was loaded throws, so the order cannot silently regress.
 */
export const SECRET_NAME = 'STRIPE_SECRET_KEY';
export const TRAP_MESSAGE = 'STRIPE_SECRET_KEY trap';

export type AccessKind = 'get' | 'has' | 'getOwnPropertyDescriptor' | 'set' | 'defineProperty';

export class SecretAccessError extends Error {
  override name = 'SecretAccessError';
}

/** Shared by every copy of this module in one test file (jest.resetModules re-evaluates modules, not globals). */
interface TrapState {
  accesses: string[];
  /** lib/ modules already in the module registry when the trap went in: must stay empty. */
  loadedBefore: string[];
}
const STATE = Symbol.for('order-service.stripe-secret-trap');
type WithState = typeof globalThis & { [STATE]?: TrapState };

/**
 * `env` with every access to `name` refused (`onAccess`, then throw) and `name` removed from it, so
 * enumeration never shows it. Deleting it is allowed (a no-op): that is how a secret is scrubbed.
 */
export function trapSecret(
  env: NodeJS.ProcessEnv,
  name: string,
  onAccess: (kind: AccessKind, error: SecretAccessError) => void,
): NodeJS.ProcessEnv {
  delete env[name];
  const refuse = (kind: AccessKind): never => {
    const error = new SecretAccessError(
      `${TRAP_MESSAGE}: process.env.${name} was accessed (${kind}) under test. ` +
        'Stripe is mocked: neither lib/ nor a test may touch the real secret key.',
    );
    onAccess(kind, error);
    throw error;
  };
  return new Proxy(env, {
    get: (target, property, receiver) => (property === name ? refuse('get') : Reflect.get(target, property, receiver)),
    has: (target, property) => (property === name ? refuse('has') : Reflect.has(target, property)),
    getOwnPropertyDescriptor: (target, property) =>
      property === name ? refuse('getOwnPropertyDescriptor') : Reflect.getOwnPropertyDescriptor(target, property),
    set: (target, property, value, receiver) =>
      property === name ? refuse('set') : Reflect.set(target, property, value, receiver),
    defineProperty: (target, property, descriptor) =>
      property === name ? refuse('defineProperty') : Reflect.defineProperty(target, property, descriptor),
    ownKeys: (target) => Reflect.ownKeys(target).filter((key) => key !== name),
  });
}

const LIB = resolve(__dirname, '..', '..', 'lib') + sep;

function installSecretTrap(): TrapState {
  const holder = globalThis as WithState;
  const existing = holder[STATE];
  if (existing) return existing;
  // jest's require.cache lists this test file's module registry.
  const state: TrapState = {
    accesses: [],
    loadedBefore: Object.keys(require.cache).filter((path) => path.startsWith(LIB)),
  };
  holder[STATE] = state;
  process.env = trapSecret(process.env, SECRET_NAME, (kind, error) => {
    state.accesses.push(`${kind}: ${error.stack ?? error.message}`);
  });
  return state;
}

const state = installSecretTrap();
if (state.loadedBefore.length > 0) {
  throw new Error(
    `${TRAP_MESSAGE} was installed after lib/ modules were loaded (${state.loadedBefore.join(', ')}): an access at their import went unseen. ` +
      'Import tests/helpers/env-spy.ts first (jest setupFiles, or the first import of tests/helpers/setup.ts).',
  );
}

/** Every access to the secret since the last forget, each with its kind and stack. */
export const secretAccesses = (): readonly string[] => state.accesses;
export const forgetSecretAccesses = (): void => {
  state.accesses.length = 0;
};
/** lib/ modules that were loaded before the trap (empty, or this module would have thrown). */
export const libLoadedBeforeTrap = (): readonly string[] => state.loadedBefore;
