import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { publishEventsHandler } from '../../handlers/publish-events';
import type { Db } from '../../lib/db';
import { eventBridgePublisher } from '../../lib/events/eventbridge-publisher';
import { logPublisher } from '../../lib/events/log-publisher';
import {
  type EventPublisher,
  type PublishDeps,
  publishOutbox,
  publishSoon,
  withPublishSoon,
} from '../../lib/events/publisher';
import type { OutboxTopic } from '../../lib/orders/history';
import { givenProduct } from '../helpers/builders';
import { db, logs, testDeps } from '../helpers/harness';
import { givenPaidOrder } from '../helpers/orders';

/**
 * The outbox to EventBridge: the real publisher and the real SDK client, whose PutEvents calls
 * aws-sdk-client-mock answers, against the test's PostgreSQL transaction. What is asserted is what
 * EventBridge would receive (every entry of every request) and what the rows say afterwards.
 */
const eventBridge = mockClient(EventBridgeClient);
const BUS = 'shop-events';
const TOPICS: OutboxTopic[] = ['order.paid', 'order.refunded', 'refund.failed', 'dispute.opened'];

interface Row {
  id: string;
  topic: OutboxTopic;
  orderId: string;
  createdAt: Date;
  payload: { amountCents: number; currency: string };
}

/** A real order (placed and paid through the API), and an outbox holding nothing else. */
async function givenOrder(): Promise<string> {
  const product = await givenProduct({ priceCents: 1500, stock: 10 });
  const order = await givenPaidOrder([{ productId: product.id, quantity: 1 }]);
  // Whatever placing it wrote to the outbox goes: each test says exactly which rows are there.
  await db().query('DELETE FROM outbox');
  return order.id;
}

/** `n` outbox rows for the order, one second apart (oldest first), topics in turn. */
async function givenOutboxRows(orderId: string, n: number, payload?: (i: number) => unknown): Promise<Row[]> {
  const rows: Row[] = [];
  for (let i = 0; i < n; i += 1) {
    const topic = TOPICS[i % TOPICS.length] as OutboxTopic;
    const body = payload ? payload(i) : { amountCents: 1000 + i, currency: 'usd' };
    const { rows: inserted } = await db().query<{ id: string; created_at: Date }>(
      `INSERT INTO outbox (topic, order_id, payload, created_at)
       VALUES ($1, $2, $3, timestamptz '2025-03-01T10:00:00Z' + make_interval(secs => $4)) RETURNING id, created_at`,
      [topic, orderId, JSON.stringify(body), i],
    );
    const row = inserted[0] as { id: string; created_at: Date };
    rows.push({ id: row.id, topic, orderId, createdAt: row.created_at, payload: body as Row['payload'] });
  }
  return rows;
}

/** The PutEvents entry EventBridge must receive for a row, its Detail parsed. */
function expectedEntry(row: Row) {
  return {
    Source: 'order-service',
    DetailType: row.topic,
    EventBusName: BUS,
    Time: row.createdAt,
    Detail: {
      eventId: row.id,
      topic: row.topic,
      orderId: row.orderId,
      occurredAt: row.createdAt.toISOString(),
      ...row.payload,
    },
  };
}

/** Every PutEvents request sent, each as its entries with their Detail parsed. */
function sentRequests() {
  return eventBridge.commandCalls(PutEventsCommand).map((call) => {
    const { Entries, ...rest } = call.args[0].input;
    return { ...rest, Entries: (Entries ?? []).map((e) => ({ ...e, Detail: JSON.parse(e.Detail ?? 'null') })) };
  });
}

/** EventBridge accepts every entry, except those at `failing` positions (0-based) of each request. */
function eventBridgeAnswers(failing: number[] = []): void {
  eventBridge.on(PutEventsCommand).callsFake((input: { Entries: PutEventsRequestEntry[] }) => ({
    FailedEntryCount: input.Entries.filter((_, i) => failing.includes(i)).length,
    Entries: input.Entries.map((_, i) =>
      failing.includes(i)
        ? { ErrorCode: 'InternalFailure', ErrorMessage: 'The event bus could not take this entry' }
        : { EventId: `11111111-2222-3333-4444-${String(i).padStart(12, '0')}` },
    ),
  }));
}

async function outboxRows() {
  const { rows } = await db().query<{
    id: string;
    published: boolean;
    attempts: number;
    last_error: string | null;
    next_attempt_at: Date | null;
  }>(
    `SELECT id, published_at IS NOT NULL AS published, attempts, last_error, next_attempt_at
       FROM outbox ORDER BY created_at, id`,
  );
  return rows;
}

function deps(events: EventPublisher = eventBridgePublisher(new EventBridgeClient({ region: 'eu-west-1' }), BUS)) {
  const { db, log } = testDeps();
  return { db, log, events } satisfies PublishDeps;
}

beforeEach(() => eventBridge.reset());

describe('publishOutbox to EventBridge', () => {
  test('23 rows go out oldest first in PutEvents requests of 10, 10 and 3, each entry exactly as specified; all are marked published', async () => {
    // Prepare
    const orderId = await givenOrder();
    const rows = await givenOutboxRows(orderId, 23);
    eventBridgeAnswers();

    // Act
    const summary = await publishOutbox(deps(), { limit: 100 });

    // Assess
    expect(summary).toEqual({ claimed: 23, published: 23, failed: 0 });
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 3);
    expect(sentRequests()).toEqual([
      { Entries: rows.slice(0, 10).map(expectedEntry) },
      { Entries: rows.slice(10, 20).map(expectedEntry) },
      { Entries: rows.slice(20).map(expectedEntry) },
    ]);
    expect(await outboxRows()).toEqual(
      rows.map((r) => ({ id: r.id, published: true, attempts: 1, last_error: null, next_attempt_at: null })),
    );
  });

  test('a partial failure: entries 2 and 5 refused stay unpublished with attempts 1 and their error; the rest are published; a later run sends only those two', async () => {
    // Prepare
    const orderId = await givenOrder();
    const rows = await givenOutboxRows(orderId, 10);
    eventBridgeAnswers([1, 4]);
    const now = new Date();

    // Act
    const first = await publishOutbox(deps(), { limit: 100, now });

    // Assess
    expect(first).toEqual({ claimed: 10, published: 8, failed: 2 });
    expect(sentRequests()).toEqual([{ Entries: rows.map(expectedEntry) }]);
    const error = 'InternalFailure: The event bus could not take this entry';
    const retryAt = new Date(now.getTime() + 30_000);
    expect(await outboxRows()).toEqual(
      rows.map((r, i) =>
        i === 1 || i === 4
          ? { id: r.id, published: false, attempts: 1, last_error: error, next_attempt_at: retryAt }
          : { id: r.id, published: true, attempts: 1, last_error: null, next_attempt_at: null },
      ),
    );

    // Act: at once, the two wait out their backoff; 31 s later they go, alone
    eventBridge.reset();
    eventBridgeAnswers();
    const tooSoon = await publishOutbox(deps(), { limit: 100, now: new Date(now.getTime() + 29_000) });
    const later = await publishOutbox(deps(), { limit: 100, now: new Date(now.getTime() + 31_000) });

    // Assess
    expect(tooSoon).toEqual({ claimed: 0, published: 0, failed: 0 });
    expect(later).toEqual({ claimed: 2, published: 2, failed: 0 });
    expect(sentRequests()).toEqual([{ Entries: [rows[1], rows[4]].map((r) => expectedEntry(r as Row)) }]);
    expect((await outboxRows()).map((r) => [r.published, r.attempts])).toEqual(
      rows.map((_, i) => [true, i === 1 || i === 4 ? 2 : 1]),
    );
  });

  test('a send that throws (throttled) marks nothing of its batch published; the run stops and gives back what it had not sent; a later run sends everything', async () => {
    // Prepare
    const orderId = await givenOrder();
    const rows = await givenOutboxRows(orderId, 23);
    eventBridge
      .on(PutEventsCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    const now = new Date();

    // Act
    const summary = await publishOutbox(deps(), { limit: 100, now });

    // Assess
    expect(summary).toEqual({ claimed: 23, published: 0, failed: 10, error: 'ThrottlingException: Rate exceeded' });
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
    expect(await outboxRows()).toEqual(
      rows.map((r, i) =>
        i < 10
          ? {
              id: r.id,
              published: false,
              attempts: 1,
              last_error: 'ThrottlingException: Rate exceeded',
              next_attempt_at: new Date(now.getTime() + 30_000),
            }
          : { id: r.id, published: false, attempts: 0, last_error: null, next_attempt_at: null },
      ),
    );
    expect(logs()).toContainEqual(
      expect.objectContaining({ level: 'error', message: 'events not published: the send failed' }),
    );

    // Act: after the backoff, with EventBridge back
    eventBridge.reset();
    eventBridgeAnswers();
    const later = await publishOutbox(deps(), { limit: 100, now: new Date(now.getTime() + 31_000) });

    // Assess
    expect(later).toEqual({ claimed: 23, published: 23, failed: 0 });
    expect(sentRequests().map((r) => r.Entries.length)).toEqual([10, 10, 3]);
    expect((await outboxRows()).every((r) => r.published)).toBe(true);
  });

  test('a send that throws after an earlier batch went through: that batch stays published, the failed one is not', async () => {
    // Prepare
    const orderId = await givenOrder();
    await givenOutboxRows(orderId, 23);
    let call = 0;
    eventBridge.on(PutEventsCommand).callsFake((input: { Entries: PutEventsRequestEntry[] }) => {
      call += 1;
      if (call === 2) throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
      return { FailedEntryCount: 0, Entries: input.Entries.map((_, i) => ({ EventId: `ev-${call}-${i}` })) };
    });

    // Act
    const summary = await publishOutbox(deps(), { limit: 100 });

    // Assess
    expect(summary).toEqual({ claimed: 23, published: 10, failed: 10, error: 'TimeoutError: socket hang up' });
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 2);
    expect((await outboxRows()).map((r) => [r.published, r.attempts])).toEqual([
      ...Array(10).fill([true, 1]),
      ...Array(10).fill([false, 1]),
      ...Array(3).fill([false, 0]),
    ]);
  });

  test('an entry over 256 KB is not sent (EventBridge would refuse the whole request): it fails alone, the others go', async () => {
    // Prepare
    const orderId = await givenOrder();
    const rows = await givenOutboxRows(orderId, 3, (i) =>
      i === 1 ? { note: 'x'.repeat(300 * 1024) } : { amountCents: 1000 + i, currency: 'usd' },
    );
    eventBridgeAnswers();

    // Act
    const summary = await publishOutbox(deps(), { limit: 100 });

    // Assess
    expect(summary).toEqual({ claimed: 3, published: 2, failed: 1 });
    expect(sentRequests()).toEqual([{ Entries: [rows[0], rows[2]].map((r) => expectedEntry(r as Row)) }]);
    expect((await outboxRows()).map((r) => [r.published, r.attempts, r.last_error?.split(':')[0] ?? null])).toEqual([
      [true, 1, null],
      [false, 1, 'EntryTooLarge'],
      [true, 1, null],
    ]);
  });

  test('a payload field cannot overwrite the event id, topic or order id in the detail', async () => {
    // Prepare
    const orderId = await givenOrder();
    const [row] = await givenOutboxRows(orderId, 1, () => ({ eventId: 'forged', orderId: 'other', amountCents: 5 }));
    eventBridgeAnswers();

    // Act
    await publishOutbox(deps(), { limit: 100 });

    // Assess
    expect(sentRequests()[0]?.Entries[0]?.Detail).toEqual({
      eventId: row?.id,
      topic: 'order.paid',
      orderId,
      occurredAt: row?.createdAt.toISOString(),
      amountCents: 5,
    });
  });
});

describe('the local log-only publisher', () => {
  test('logs one line per event (topic, eventId, orderId), sends nothing to AWS, and marks them published', async () => {
    // Prepare
    const orderId = await givenOrder();
    const rows = await givenOutboxRows(orderId, 3);

    // Act
    const summary = await publishOutbox(deps(logPublisher(testDeps().log)), { limit: 100 });

    // Assess
    expect(summary).toEqual({ claimed: 3, published: 3, failed: 0 });
    expect(logs().filter((l) => l.message === 'event published (log only)')).toEqual(
      rows.map((r) => ({
        level: 'info',
        message: 'event published (log only)',
        topic: r.topic,
        eventId: r.id,
        orderId,
      })),
    );
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 0);
    expect((await outboxRows()).every((r) => r.published)).toBe(true);
  });
});

/** A Db that counts the statements sent through it. */
function countingDb(inner: Db): Db & { statements: number } {
  const counter = {
    statements: 0,
    query: (text: string, params?: unknown[]) => {
      counter.statements += 1;
      return inner.query(text, params);
    },
    transaction: <T>(work: (tx: Db) => Promise<T>) => inner.transaction(work),
  };
  return counter as Db & { statements: number };
}

describe('publishSoon (right after a change, best effort)', () => {
  test('with nothing due it costs one statement and never calls the publisher', async () => {
    // Prepare
    await givenOrder();
    const counted = countingDb(db());
    const put = jest.fn();

    // Act
    await publishSoon({ db: counted, log: testDeps().log, events: { put } });

    // Assess
    expect(counted.statements).toBe(1);
    expect(put).not.toHaveBeenCalled();
    expect(logs().filter((l) => l.level === 'error')).toEqual([]);
  });

  test('sends one batch (the 10 oldest due), with a timeout on the request', async () => {
    // Prepare
    const orderId = await givenOrder();
    const rows = await givenOutboxRows(orderId, 12);
    eventBridgeAnswers();

    // Act
    await publishSoon(deps());

    // Assess
    expect(sentRequests()).toEqual([{ Entries: rows.slice(0, 10).map(expectedEntry) }]);
    expect((eventBridge.send.firstCall?.args as unknown[] | undefined)?.[1]).toEqual({
      abortSignal: expect.any(AbortSignal),
    });
    expect((await outboxRows()).map((r) => r.published)).toEqual([...Array(10).fill(true), false, false]);
  });

  test('never throws: a failed send is logged and recorded, and publishSoon then rests (no statement at all) while the scheduled run takes over', async () => {
    // Prepare
    const orderId = await givenOrder();
    await givenOutboxRows(orderId, 2);
    const put = jest.fn().mockRejectedValue(Object.assign(new Error('connect ETIMEDOUT'), { name: 'TimeoutError' }));
    const counted = countingDb(db());
    const soonDeps = { db: counted, log: testDeps().log, events: { put } };

    // Act
    await expect(publishSoon(soonDeps)).resolves.toBeUndefined();
    const statementsAfterFirst = counted.statements;
    await publishSoon(soonDeps);

    // Assess
    expect(put).toHaveBeenCalledTimes(1);
    expect(counted.statements).toBe(statementsAfterFirst);
    expect((await outboxRows()).map((r) => [r.published, r.attempts, r.last_error])).toEqual([
      [false, 1, 'TimeoutError: connect ETIMEDOUT'],
      [false, 1, 'TimeoutError: connect ETIMEDOUT'],
    ]);
  });

  test('a broken database does not reach the caller either', async () => {
    const broken: Db = {
      query: () => Promise.reject(new Error('Connection terminated')),
      transaction: () => Promise.reject(new Error('Connection terminated')),
    };
    await expect(publishSoon({ db: broken, log: testDeps().log, events: { put: jest.fn() } })).resolves.toBeUndefined();
    expect(logs()).toContainEqual(
      expect.objectContaining({ level: 'error', message: 'publishing events after the request failed' }),
    );
  });

  test('withPublishSoon: the handler answers as before, and what it wrote is published before the function returns; also when it throws', async () => {
    // Prepare
    const orderId = await givenOrder();
    eventBridgeAnswers();
    const writes = (n: number) => async () => {
      await givenOutboxRows(orderId, n);
      return { statusCode: 201 };
    };
    const handler = withPublishSoon(writes(2), () => deps());
    const failing = withPublishSoon(
      async () => {
        await db().query(`INSERT INTO outbox (topic, order_id, payload) VALUES ('order.canceled', $1, '{}')`, [
          orderId,
        ]);
        throw new Error('boom');
      },
      () => deps(),
    );

    // Act
    const answer = await handler();

    // Assess
    expect(answer).toEqual({ statusCode: 201 });
    expect((await outboxRows()).map((r) => r.published)).toEqual([true, true]);

    // Act
    await expect(failing()).rejects.toThrow('boom');

    // Assess
    expect((await outboxRows()).map((r) => r.published)).toEqual([true, true, true]);
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 2);
  });
});

describe('the publishEvents scheduled function', () => {
  test('publishes everything due, round after round, and logs the summary', async () => {
    // Prepare
    const orderId = await givenOrder();
    await givenOutboxRows(orderId, 230);
    eventBridgeAnswers();

    // Act
    const run = await publishEventsHandler(() => deps())();

    // Assess
    expect(run).toEqual({ rounds: 3, claimed: 230, published: 230, failed: 0 });
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 23);
    expect((await outboxRows()).every((r) => r.published)).toBe(true);
    expect(logs()).toContainEqual({ level: 'info', message: 'outbox published', ...run });
  });

  test('stops at a send that throws instead of hammering a throttled bus', async () => {
    // Prepare
    const orderId = await givenOrder();
    await givenOutboxRows(orderId, 230);
    eventBridge
      .on(PutEventsCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    // Act
    const run = await publishEventsHandler(() => deps())();

    // Assess
    expect(run).toEqual({
      rounds: 1,
      claimed: 100,
      published: 0,
      failed: 10,
      error: 'ThrottlingException: Rate exceeded',
    });
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
    expect(logs()).toContainEqual({ level: 'error', message: 'outbox published', ...run });
  });

  test('with nothing due: one statement, no call, no log line', async () => {
    await givenOrder();
    const counted = countingDb(db());
    const run = await publishEventsHandler(() => ({ ...deps(), db: counted }))();
    expect(run).toEqual({ rounds: 1, claimed: 0, published: 0, failed: 0 });
    expect(counted.statements).toBe(1);
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 0);
    expect(logs().filter((l) => l.message === 'outbox published')).toEqual([]);
  });
});
