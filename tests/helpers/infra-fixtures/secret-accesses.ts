import { stripeSecretKey } from '../../../lib/config';
import type { AccessKind } from '../env-spy';

/**
 * Every way a test (or lib/) can touch process.env.STRIPE_SECRET_KEY. reads-secret.fixture.ts runs
 * one test per entry; tests/integration/infra-secret-trap.test.ts checks each one failed the run
 * with the trap's message and the access kind named here.
 */
const KEY = 'STRIPE_SECRET_KEY';

export interface SecretAccess {
  name: string;
  kind: AccessKind;
  touch: () => unknown;
}

export const SECRET_ACCESSES: SecretAccess[] = [
  { name: 'process.env.STRIPE_SECRET_KEY', kind: 'get', touch: () => process.env.STRIPE_SECRET_KEY },
  {
    name: 'destructuring',
    kind: 'get',
    touch: () => {
      const { STRIPE_SECRET_KEY: key } = process.env;
      return key;
    },
  },
  { name: 'Reflect.get', kind: 'get', touch: () => Reflect.get(process.env, KEY) },
  { name: "lib/config's stripeSecretKey()", kind: 'get', touch: () => stripeSecretKey() },
  { name: 'the in operator', kind: 'has', touch: () => KEY in process.env },
  { name: 'Reflect.has', kind: 'has', touch: () => Reflect.has(process.env, KEY) },
  {
    name: 'Object.getOwnPropertyDescriptor',
    kind: 'getOwnPropertyDescriptor',
    touch: () => Object.getOwnPropertyDescriptor(process.env, KEY),
  },
  { name: 'Object.hasOwn', kind: 'getOwnPropertyDescriptor', touch: () => Object.hasOwn(process.env, KEY) },
  // eslint-disable-next-line no-prototype-builtins
  {
    name: 'process.env.hasOwnProperty',
    kind: 'getOwnPropertyDescriptor',
    touch: () => Object.hasOwn(process.env, KEY),
  },
  {
    name: 'Object.prototype.propertyIsEnumerable',
    kind: 'getOwnPropertyDescriptor',
    touch: () => Object.prototype.propertyIsEnumerable.call(process.env, KEY),
  },
  { name: 'assignment', kind: 'set', touch: () => (process.env.STRIPE_SECRET_KEY = 'sk_test_set_by_a_test') },
  {
    name: 'Object.defineProperty',
    kind: 'defineProperty',
    touch: () => Object.defineProperty(process.env, KEY, { value: 'sk_test_defined' }),
  },
  {
    name: 'a read whose error the code under test swallows',
    kind: 'get',
    touch: () => {
      try {
        return process.env.STRIPE_SECRET_KEY;
      } catch {
        return undefined;
      }
    },
  },
  {
    name: 'a swallowed read in a timer callback',
    kind: 'get',
    touch: () =>
      new Promise<void>((resolve) =>
        setTimeout(() => {
          try {
            void process.env.STRIPE_SECRET_KEY;
          } catch {
            // swallowed
          }
          resolve();
        }, 1),
      ),
  },
];
