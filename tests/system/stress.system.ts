import { keys } from '../../lib/keys';
import {
  type Container,
  givenProduct,
  type HttpResult,
  inventoryOf,
  orderBody,
  type SystemStack,
  startSystemStack,
} from './system-stack';

/**
 * Races across processes: CONTAINERS Lambda containers (each its own process, pool and Redis
 * connection) place N orders at once for K units. Every repetition must end with exactly K paid,
 * N-K insufficient_inventory, stock 0; and a sampler checking Redis and PostgreSQL throughout must
 * never see the live holds exceed the stock, nor the stock below zero.
 */
const CONTAINERS = 6;
const REPETITIONS = 20;
const STOCK = 5;
const REQUESTS = 60;

let stack: SystemStack;
let containers: Container[];

beforeAll(async () => {
  stack = await startSystemStack();
  containers = await Promise.all(Array.from({ length: CONTAINERS }, () => stack.container()));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

/** held and stock read in one atomic Lua call, as the reserve script sees them; and PostgreSQL's figure. */
async function sample(productId: string): Promise<{ held: number; mirror: number | null; inventory: number }> {
  const [held, mirror] = (await stack.redis.eval(
    `return { redis.call('GET', KEYS[1]) or '0', redis.call('GET', KEYS[2]) or false }`,
    2,
    keys.held(productId),
    keys.stock(productId),
  )) as [string, string | null];
  return {
    held: Number(held),
    mirror: mirror === null ? null : Number(mirror),
    inventory: await inventoryOf(stack.db, productId),
  };
}

test(`${REPETITIONS} repetitions of ${REQUESTS} orders from ${CONTAINERS} containers for ${STOCK} units: exactly ${STOCK} paid every time`, async () => {
  const summary: string[] = [];
  for (let repetition = 1; repetition <= REPETITIONS; repetition += 1) {
    // Prepare
    const sku = await givenProduct(stack.db, STOCK);
    const violations: string[] = [];
    let samples = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const s = await sample(sku);
        samples += 1;
        if (s.inventory < 0) violations.push(`inventory ${s.inventory} < 0`);
        if (s.mirror !== null && s.held > s.mirror) violations.push(`live holds ${s.held} > stock ${s.mirror}`);
        if (s.held > STOCK) violations.push(`live holds ${s.held} > initial stock ${STOCK}`);
      }
    })();

    // Act: every container gets its share of the requests at once, serving one at a time.
    const responses: HttpResult[] = await Promise.all(
      Array.from({ length: REQUESTS }, (_, i) =>
        (containers[i % CONTAINERS] as Container).placeOrder(orderBody(sku, 1)),
      ),
    );
    sampling = false;
    await sampler;

    // Assess
    const paid = responses.filter((r) => r.statusCode === 201).length;
    const refused = responses.filter(
      (r) => r.statusCode === 409 && r.body.error.code === 'insufficient_inventory',
    ).length;
    const { rows } = await stack.db.query<{ status: string; n: number }>(
      `SELECT o.status, count(*)::int AS n FROM orders o JOIN order_items i ON i.order_id = o.id WHERE i.product_id = $1 GROUP BY o.status ORDER BY o.status`,
      [sku],
    );
    const final = await sample(sku);
    expect({ repetition, paid, refused, violations: violations.slice(0, 3) }).toEqual({
      repetition,
      paid: STOCK,
      refused: REQUESTS - STOCK,
      violations: [],
    });
    expect(rows).toEqual([
      { status: 'failed', n: REQUESTS - STOCK },
      { status: 'paid', n: STOCK },
    ]);
    expect(final).toEqual({ held: 0, mirror: 0, inventory: 0 });
    expect(await stack.redis.keys('reservation:*')).toEqual([]);
    summary.push(`#${repetition}: ${paid} paid, ${refused} refused, ${samples} samples`);
  }
  process.stdout.write(`${summary.join('\n')}\n`);
});
