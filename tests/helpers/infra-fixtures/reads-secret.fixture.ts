import { execFileSync } from 'node:child_process';
import { inspect } from 'node:util';
import { SECRET_ACCESSES } from './secret-accesses';

/**
 * Not part of the suite (outside its roots and testMatch): run by infra-secret-trap.test.ts in a jest
 * of its own, with the suite's setup files and STRIPE_SECRET_KEY set to a canary, whose value comes hex-encoded
 * in INFRA_SECRET_CANARY_HEX (so that variable cannot be what shows it). Every "touches the key" test must fail; every other test must pass.
 */
describe('touches the key', () => {
  test.each(SECRET_ACCESSES)('$name', async ({ touch }) => {
    await touch();
  });
});

describe('enumerates the environment', () => {
  const canary =
    Buffer.from(process.env.INFRA_SECRET_CANARY_HEX ?? '', 'hex').toString() || 'INFRA_SECRET_CANARY_HEX is not set';

  test('spreads, keys, entries, JSON, for...in and inspect work and show neither the key nor its value', () => {
    const forIn: string[] = [];
    for (const name in process.env) forIn.push(`${name}=${process.env[name]}`);
    const copies = [
      JSON.stringify({ ...process.env }),
      JSON.stringify(Object.assign({}, process.env)),
      JSON.stringify(Object.keys(process.env)),
      JSON.stringify(Object.entries(process.env)),
      JSON.stringify(Object.getOwnPropertyNames(process.env)),
      JSON.stringify(Object.getOwnPropertyDescriptors(process.env)),
      JSON.stringify(process.env),
      forIn.join('\n'),
      inspect(process.env, { showHidden: true }),
    ];

    expect(process.env.PATH).toBeTruthy();
    for (const copy of copies) {
      expect(copy).toContain('PATH');
      expect(copy).not.toContain('STRIPE_SECRET_KEY');
      expect(copy).not.toContain(canary);
    }
  });

  test('a child process spawned with a copy of the environment, or with none, does not get the key', () => {
    const childEnv = (env: NodeJS.ProcessEnv | undefined) =>
      execFileSync(process.execPath, ['-e', 'process.stdout.write(JSON.stringify(process.env))'], {
        env,
        encoding: 'utf8',
      });

    for (const seen of [childEnv({ ...process.env }), childEnv(undefined)]) {
      expect(seen).toContain('PATH');
      expect(seen).not.toContain('STRIPE_SECRET_KEY');
      expect(seen).not.toContain(canary);
    }
  });

  test('a test that leaves the key alone passes', () => {
    expect(canary).toMatch(/^sk_test_canary_/);
  });
});
