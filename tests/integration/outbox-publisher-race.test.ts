import { randomUUID } from 'node:crypto';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { createPoolDb, type PoolDb } from '../../lib/db';
import { eventBridgePublisher } from '../../lib/events/eventbridge-publisher';
import { type EventPublisher, type PublishSummary, publishOutbox } from '../../lib/events/publisher';
import type { Logger } from '../../lib/log';
import { testEnvironment } from '../../scripts/test-environment';

/**
 * Two publishers at once (two scheduled runs overlapping, or a run and a request's publishSoon), each
 * with its own PostgreSQL pool, on COMMITTED rows: outside the per-test transaction, whose single
 * connection would make them take turns. Each round lines both claims up behind a table lock so
 * they start together, and holds every send until both publishers have claimed, so a row claimed
 * twice is also sent twice. Every row must go out exactly once, and no lock may be held while a
 * publisher waits on EventBridge.
 */
const eventBridge = mockClient(EventBridgeClient);
const ROWS = 40;
const ROUNDS = 5;

const silent: Logger = { info: () => undefined, error: () => undefined, child: () => silent };

/** Holds every send until each publisher is at a send or done, and the test lets them go. */
class SendGate {
  private readonly arrived = new Set<number>();
  private readonly waiting: (() => void)[] = [];
  private opened = false;
  private resolveAllThere: () => void = () => undefined;
  /** Resolves once every publisher is at a send or done (or after 5 s: something kept one away). */
  readonly allThere: Promise<void>;
  forcedOpen = false;

  constructor(private readonly publishers: number) {
    this.allThere = new Promise((resolve) => {
      this.resolveAllThere = resolve;
    });
    setTimeout(() => {
      if (this.arrived.size < this.publishers) this.forcedOpen = true;
      this.resolveAllThere();
    }, 5_000).unref();
  }

  /** Wraps `publisher` as publisher number `index`: its sends wait here. */
  wrap(index: number, publisher: EventPublisher): EventPublisher {
    return {
      put: async (events, o) => {
        this.at(index);
        if (!this.opened) await new Promise<void>((go) => this.waiting.push(go));
        return publisher.put(events, o);
      },
    };
  }

  at(index: number): void {
    this.arrived.add(index);
    if (this.arrived.size === this.publishers) this.resolveAllThere();
  }

  open(): void {
    this.opened = true;
    for (const go of this.waiting.splice(0)) go();
  }
}

describe('two publishers at once', () => {
  const { databaseUrl } = testEnvironment();
  const pools: PoolDb[] = [];
  let observer: PoolDb;
  const orderId = randomUUID();

  beforeAll(async () => {
    observer = createPoolDb(databaseUrl, 2);
    for (let i = 0; i < 2; i += 1) pools.push(createPoolDb(databaseUrl, 2));
    // A bare committed order for the outbox rows to belong to (a placed order would also leave
    // append-only history rows behind).
    await observer.query(
      `INSERT INTO orders (id, idempotency_key, request_hash, customer_id, payment_method_id, status, amount_cents, currency)
       VALUES ($1, $2, 'race', 'cus_1', 'pm_card_visa', 'paid', 1500, 'usd')`,
      [orderId, `outbox-race-${orderId}`],
    );
  });
  beforeEach(() => {
    eventBridge.reset();
    eventBridge.on(PutEventsCommand).callsFake((input: { Entries: PutEventsRequestEntry[] }) => ({
      FailedEntryCount: 0,
      Entries: input.Entries.map(() => ({ EventId: randomUUID() })),
    }));
  });
  afterEach(() => observer.query('DELETE FROM outbox WHERE order_id = $1', [orderId]));
  afterAll(async () => {
    await observer.query('DELETE FROM outbox WHERE order_id = $1', [orderId]);
    await observer.query('DELETE FROM orders WHERE id = $1', [orderId]);
    for (const pool of [...pools, observer]) await pool.end();
  });

  /** Sessions other than the observer's holding any lock on outbox. */
  async function outboxLocksHeld(): Promise<number> {
    const { rows } = await observer.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_locks
        WHERE database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND relation = 'outbox'::regclass AND pid <> pg_backend_pid() AND granted`,
    );
    return Number(rows[0]?.n);
  }

  /** Sessions waiting for a lock on outbox (the two claims lined up behind the table lock). */
  async function waitForClaimsQueued(count: number): Promise<void> {
    for (let tries = 0; tries < 500; tries += 1) {
      const { rows } = await observer.query<{ n: string }>(
        `SELECT count(*) AS n FROM pg_locks
          WHERE database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND relation = 'outbox'::regclass AND NOT granted`,
      );
      if (Number(rows[0]?.n) >= count) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`the ${count} claims never queued behind the table lock`);
  }

  test(`${ROWS} committed rows, two publishers claiming at the same moment: each row is sent exactly once, and no lock is held while sending (${ROUNDS} rounds)`, async () => {
    for (let round = 1; round <= ROUNDS; round += 1) {
      // Prepare
      eventBridge.resetHistory();
      // Older than any row another test file may have left committed: these are the ones claimed.
      const { rows } = await observer.query<{ id: string }>(
        `INSERT INTO outbox (topic, order_id, payload, created_at)
         SELECT 'order.paid', $1, jsonb_build_object('amountCents', i), timestamptz '2000-01-01' + make_interval(secs => i)
           FROM generate_series(1, $2) AS i RETURNING id`,
        [orderId, ROWS],
      );
      const gate = new SendGate(pools.length);
      const locker = await observer.pool.connect();
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE');

      // Act: both claims wait for the table lock, then run together
      const runs = pools.map((db, index) => {
        const events = gate.wrap(index, eventBridgePublisher(new EventBridgeClient({ region: 'eu-west-1' }), 'bus'));
        return publishOutbox({ db, log: silent, events }, { limit: ROWS / 2 }).finally(() => gate.at(index));
      });
      let summaries: PublishSummary[];
      let locksWhileSending: number;
      try {
        await waitForClaimsQueued(pools.length);
      } finally {
        await locker.query('COMMIT');
        locker.release();
      }
      try {
        await gate.allThere;
        locksWhileSending = await outboxLocksHeld();
      } finally {
        gate.open();
        summaries = await Promise.all(runs);
      }

      // Assess
      const sent = eventBridge
        .commandCalls(PutEventsCommand)
        .flatMap((call) =>
          (call.args[0].input.Entries ?? []).map((e) => JSON.parse(e.Detail ?? '{}').eventId as string),
        );
      const { rows: after } = await observer.query<{ published: boolean; attempts: number }>(
        'SELECT published_at IS NOT NULL AS published, attempts FROM outbox WHERE order_id = $1',
        [orderId],
      );
      expect({ round, forcedOpen: gate.forcedOpen, locksWhileSending }).toEqual({
        round,
        forcedOpen: false,
        locksWhileSending: 0,
      });
      expect({ round, sent: [...sent].sort() }).toEqual({ round, sent: rows.map((r) => r.id).sort() });
      expect({ round, summaries }).toEqual({
        round,
        summaries: [
          { claimed: ROWS / 2, published: ROWS / 2, failed: 0 },
          { claimed: ROWS / 2, published: ROWS / 2, failed: 0 },
        ],
      });
      expect(after.filter((r) => r.published && r.attempts === 1)).toHaveLength(ROWS);

      await observer.query('DELETE FROM outbox WHERE order_id = $1', [orderId]);
    }
  });
});
