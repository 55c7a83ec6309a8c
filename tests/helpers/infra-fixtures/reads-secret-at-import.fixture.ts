import { secretAtImport } from './reads-secret-at-import';

/** Run by infra-secret-trap.test.ts: the file must fail to load, with the trap's message. */
test('is never reached: importing this file reads the secret', () => {
  expect(secretAtImport).toBeUndefined();
});
