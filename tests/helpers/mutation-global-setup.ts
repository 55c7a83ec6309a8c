import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { testEnvironment } from '../../scripts/test-environment';
import globalSetup from './global-setup';
import { type DbSnapshot, snapshotDatabase } from './infra-db-snapshot';

/**
 * The integration project's global setup under Stryker (`npm run test:mutation`).
 *
 * Stryker's jest runner calls jest once per mutant, in a long-lived worker process, two workers at
 * once. So, per worker process:
 *
 * - Its own database and Redis DB: slot n of SLOTS gets `orders_test_mut_<n>` and Redis DB
 *   `REDIS_DB_BASE + n`, on the server TEST_DATABASE_URL / TEST_REDIS_URL name (default local).
 *   Stryker numbers its workers (STRYKER_MUTATOR_WORKER) 0, 1, 2, ... and never reuses a number: a
 *   worker killed for a mutant's timeout comes back as 2, then 3, while its partner still runs. So
 *   the number only says which slot to try first; a slot is owned through a PostgreSQL advisory lock
 *   held on a connection that lives as long as the process (the lock goes when the process dies, so
 *   a killed worker's slot is free for the one replacing it, never for the partner's).
 * - global-setup.ts (refuse DB 0, drop the database, migrate it from zero) on its first run, as
 *   every jest run does; then on later runs only when the run before changed the database. Dropping
 *   and migrating takes about 2 s, as long as many mutants' whole test run. Each test rolls its
 *   transaction back and the committed-world tests delete what they commit, so normally the
 *   database is exactly as migrated; a mutant can break that (a cleanup that deletes too little),
 *   and then the next run would start from another database than a fresh one. So every run
 *   compares the database with the snapshot taken right after the migration (infra-db-snapshot.ts:
 *   every table's rows, the schema, the functions: what `npm run test:isolation` compares) and
 *   recreates it when they differ. Connections an earlier run leaked (a mutant that never released
 *   a pool) are closed first, as DROP DATABASE ... WITH (FORCE) would close them.
 *
 * Redis needs nothing: every test flushes its DB first.
 */
const SLOTS = 2; // stryker.config.json's concurrency
const DATABASE_PREFIX = 'orders_test_mut_';
const REDIS_DB_BASE = 6;
/** How long a new worker waits for the slot of the worker it replaces (that process is being killed). */
const SLOT_WAIT_MS = 60_000;

interface Worker {
  slot: number;
  databaseUrl: string;
  redisUrl: string;
  /** Holds the slot's advisory lock; on the `postgres` database, so dropping the test database spares it. */
  lock: Client;
  migrated?: DbSnapshot;
}

const STATE = Symbol.for('order-service.mutation-worker');
type WithWorker = typeof globalThis & { [STATE]?: Worker };

function adminUrl(url: string): string {
  return Object.assign(new URL(url), { pathname: '/postgres' }).toString();
}

async function claimSlot(): Promise<Worker> {
  const { databaseUrl, redisUrl } = testEnvironment();
  const lock = new Client({ connectionString: adminUrl(databaseUrl) });
  await lock.connect();
  const first = Number(process.env.STRYKER_MUTATOR_WORKER ?? 0) % SLOTS;
  const order = Array.from({ length: SLOTS }, (_, i) => (first + i) % SLOTS);
  const deadline = Date.now() + SLOT_WAIT_MS;
  for (;;) {
    for (const slot of order) {
      const { rows } = await lock.query<{ owned: boolean }>('SELECT pg_try_advisory_lock(hashtext($1), $2) AS owned', [
        DATABASE_PREFIX,
        slot,
      ]);
      if (rows[0]?.owned) {
        // Held, not waited on: it must not keep a jest process (one not run by Stryker) from exiting.
        (lock as unknown as { connection: { stream: Socket } }).connection.stream.unref();
        // A lost connection is a lost lock: the next run claims a slot again.
        lock.on('error', () => {
          const holder = globalThis as WithWorker;
          if (holder[STATE]?.lock === lock) holder[STATE] = undefined;
        });
        return {
          slot,
          databaseUrl: Object.assign(new URL(databaseUrl), { pathname: `/${DATABASE_PREFIX}${slot}` }).toString(),
          redisUrl: Object.assign(new URL(redisUrl), { pathname: `/${REDIS_DB_BASE + slot}` }).toString(),
          lock,
        };
      }
    }
    if (Date.now() > deadline) {
      await lock.end();
      throw new Error(
        `mutation-global-setup: all ${SLOTS} database slots (${DATABASE_PREFIX}0..${SLOTS - 1}) stayed taken for ` +
          `${SLOT_WAIT_MS / 1000} s: is another Stryker run using them?`,
      );
    }
    await sleep(250);
  }
}

async function unchangedSinceMigration(worker: Worker): Promise<boolean> {
  if (!worker.migrated) return false;
  try {
    const name = decodeURIComponent(new URL(worker.databaseUrl).pathname.slice(1));
    const admin = new Client({ connectionString: adminUrl(worker.databaseUrl) });
    await admin.connect();
    try {
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name]);
    } finally {
      await admin.end();
    }
    const now = await snapshotDatabase(worker.databaseUrl);
    const keys = new Set([...Object.keys(now), ...Object.keys(worker.migrated)]);
    return [...keys].every((key) => now[key] === worker.migrated?.[key]);
  } catch {
    return false; // the database is gone or does not answer: global-setup.ts says why
  }
}

export default async function mutationGlobalSetup(): Promise<void> {
  const holder = globalThis as WithWorker;
  holder[STATE] ??= await claimSlot();
  const worker = holder[STATE];
  process.env.TEST_DATABASE_URL = worker.databaseUrl;
  process.env.TEST_REDIS_URL = worker.redisUrl;
  if (await unchangedSinceMigration(worker)) return;
  await globalSetup();
  worker.databaseUrl = testEnvironment().databaseUrl; // as global-setup.ts left it (an embedded PostgreSQL has its own)
  worker.migrated = await snapshotDatabase(worker.databaseUrl);
}
