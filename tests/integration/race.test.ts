import { commands } from '../../lib/inventory/scripts';
import { keys } from '../../lib/keys';
import { CommittedWorld } from '../helpers/committed-world';
import { orderBody, stripeAnswers } from '../helpers/orders';
import { mockPaymentIntentsCreate } from '../helpers/stripe-mock';

/**
 * Three requests for the last unit, each served by its own container (own PostgreSQL pool, own
 * Redis connection) on committed rows, so nothing in the test makes them take turns.
 *
 * The critical section is the Redis stock hold: the claim-and-hold script when the product's stock
 * mirror is loaded, reserve()'s script when it is not. On the second path the requests get there at
 * different moments (each first records its order and loads the mirror), and left alone their holds
 * often do not overlap at all; so a gate lets each request's hold call go only once every request is
 * at one too (or done with its hold), and then sends them all in one turn of the event loop. Every
 * hold call is recorded, when it was sent and when it was answered, on one counter, and the test
 * shows that the three calls that decided the stock were all sent before any was answered. A hold
 * that checks in one round trip and takes in another sells the last unit three times here.
 */

type HoldScript = 'claimAndReserveStock' | 'reserveStock';
const HOLD_SCRIPTS: HoldScript[] = ['claimAndReserveStock', 'reserveStock'];
/** Answers that decide a request's stock: held, or refused ('missing': mirror not loaded; 'claimed': key taken). */
const DECIDING = new Set(['ok', 'held', 'short']);

interface HoldCall {
  request: number;
  script: HoldScript;
  sent: number;
  answered?: number;
  outcome?: string;
}

/** One round's hold calls, and the gate that sends them together. */
class HoldRace {
  readonly calls: HoldCall[] = [];
  /** Set when the gate had to open without every request at it (something kept one away). */
  gateForcedOpen = false;
  private clock = 0;
  private readonly waiting = new Map<number, () => void>();
  private readonly through = new Set<number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly requests: number) {}

  /** A hold call of `request`: waits at the gate, then is sent and recorded. */
  async send(request: number, script: HoldScript, call: () => Promise<string[]>): Promise<string[]> {
    await this.gate(request);
    const record: HoldCall = { request, script, sent: ++this.clock };
    this.calls.push(record);
    try {
      const answer = await call();
      record.answered = ++this.clock;
      record.outcome = String(answer[0]);
      if (DECIDING.has(record.outcome)) this.pass(request);
      return answer;
    } catch (error) {
      record.answered = ++this.clock;
      record.outcome = `error: ${(error as Error).message}`;
      throw error;
    }
  }

  /** The request has answered: it will not come to the gate again. */
  finished(request: number): void {
    this.pass(request);
  }

  /** The calls that decided each request's stock, as the events they were, in the order they happened. */
  decidingEvents() {
    const deciding = this.calls.filter((c) => DECIDING.has(c.outcome ?? ''));
    return deciding
      .flatMap((c) => [
        { at: c.sent, event: 'sent', call: c },
        { at: c.answered ?? Infinity, event: 'answered', call: c },
      ])
      .sort((a, b) => a.at - b.at);
  }

  trace(): string[] {
    return this.calls
      .flatMap((c) => [
        { at: c.sent, line: `#${c.sent} c${c.request} sent ${c.script}` },
        {
          at: c.answered ?? Infinity,
          line: `#${c.answered ?? '-'} c${c.request} answered ${c.script}: ${c.outcome ?? '(none)'}`,
        },
      ])
      .sort((a, b) => a.at - b.at)
      .map((e) => e.line);
  }

  close(): void {
    clearTimeout(this.timer);
    this.open();
  }

  private gate(request: number): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.set(request, resolve);
      // Only a request that never comes (a bug, a deadlock) makes this fire; the round then fails below.
      this.timer ??= setTimeout(() => {
        this.gateForcedOpen = true;
        this.open();
      }, 5_000);
      this.openIfAllThere();
    });
  }

  private pass(request: number): void {
    this.through.add(request);
    this.openIfAllThere();
  }

  private openIfAllThere(): void {
    for (let r = 0; r < this.requests; r += 1) if (!this.waiting.has(r) && !this.through.has(r)) return;
    this.open();
  }

  /** Releases every waiting call in one go: each is sent in this same turn of the event loop. */
  private open(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const release = [...this.waiting.values()];
    this.waiting.clear();
    for (const go of release) go();
  }
}

/** Runs an assertion; when it fails, its message ends with every hold call of the round. */
function withTrace(race: HoldRace, round: number, assertion: () => void): void {
  try {
    assertion();
  } catch (error) {
    if (error instanceof Error) error.message += `\n\nhold calls in round ${round}:\n  ${race.trace().join('\n  ')}`;
    throw error;
  }
}

describe('concurrent orders for the last unit', () => {
  let world: CommittedWorld;
  let race: HoldRace;

  beforeAll(async () => {
    world = await CommittedWorld.open(3);
    // Every hold call a container makes goes through the current round's race.
    for (const container of world.containers) {
      const client = commands(container.redis);
      for (const script of HOLD_SCRIPTS) {
        const send = client[script];
        client[script] = (...args: (string | number)[]) =>
          race.send(container.index, script, () => send.apply(client, args));
      }
    }
  });
  afterEach(() => world.cleanup());
  afterAll(() => world.close());

  test.each([
    { mirror: 'loaded', holdScript: 'claimAndReserveStock' },
    { mirror: 'not loaded', holdScript: 'reserveStock' },
  ])(
    'stock mirror $mirror: the three holds are in flight at once; exactly one order is paid, the others get insufficient_inventory, stock ends at 0 (10 rounds)',
    async ({ mirror, holdScript }) => {
      stripeAnswers('succeeded');
      for (let round = 1; round <= 10; round += 1) {
        // Prepare
        const product = await world.givenProduct({ stock: 1 });
        if (mirror === 'loaded') await world.loadStockMirror(product.id);
        expect(await world.redis.get(keys.stock(product.id))).toBe(mirror === 'loaded' ? '1' : null);
        mockPaymentIntentsCreate.mockClear();
        race = new HoldRace(world.containers.length);

        // Act: one request per container, all at once
        const results = await Promise.allSettled(
          world.containers.map((container) =>
            world
              .postOrder(
                container,
                orderBody([{ productId: product.id, quantity: 1 }]),
                world.idempotencyKey(`race-${holdScript}-${round}-${container.index}`),
              )
              .finally(() => race.finished(container.index)),
          ),
        );
        race.close();

        // Assess
        const responses = results.map((r) => (r.status === 'fulfilled' ? r.value : { statusCode: -1, body: r.reason }));
        const statuses = responses.map((r) => r.statusCode).sort();
        const stock = await world.inventoryOf(product.id);
        const { rows } = await world.db.query<{ status: string; n: string }>(
          `SELECT o.status, count(*) AS n FROM orders o JOIN order_items i ON i.order_id = o.id WHERE i.product_id = $1 GROUP BY o.status ORDER BY o.status`,
          [product.id],
        );
        const events = race.decidingEvents();
        withTrace(race, round, () => {
          expect({ round, statuses }).toEqual({ round, statuses: [201, 409, 409] });
          for (const r of responses.filter((r) => r.statusCode === 409))
            expect(r.body.error.code).toBe('insufficient_inventory');
          expect(mockPaymentIntentsCreate).toHaveBeenCalledTimes(1);
          expect(stock).toBe(0);
          expect(rows).toEqual([
            { status: 'failed', n: '2' },
            { status: 'paid', n: '1' },
          ]);

          // ...and it was a race: each request's deciding hold went through `holdScript`, and all
          // three were sent before any was answered.
          expect({
            round,
            gateForcedOpen: race.gateForcedOpen,
            holds: [...new Set(events.map((e) => `c${e.call.request} ${e.call.script}`))].sort(),
            events: events.map((e) => e.event),
          }).toEqual({
            round,
            gateForcedOpen: false,
            holds: world.containers.map((c) => `c${c.index} ${holdScript}`),
            events: ['sent', 'sent', 'sent', 'answered', 'answered', 'answered'],
          });
          expect(
            events
              .filter((e) => e.event === 'answered')
              .map((e) => e.call.outcome)
              .sort(),
          ).toEqual(['ok', 'short', 'short']);
        });
      }
    },
    60_000,
  );
});
