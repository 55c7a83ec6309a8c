import { commands } from '../../lib/inventory/scripts';
import { redis } from '../helpers/harness';

/**
 * Each Lua script of lib/inventory/scripts.ts on its own: KEYS and ARGV in (through the command
 * registered by commands(redis)), Redis state out, key by key. Key names are spelled out, not built
 * with lib/keys.ts, so a renamed key fails here too. Time is Redis's (TIME), never jest's.
 */

const scripts = () => commands(redis());

/** Redis's clock in ms, as the scripts compute it. */
async function redisNowMs(): Promise<number> {
  const [seconds, micros] = await redis().time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** KEYS and ARGV of a hold (reserve): reservation, then per item stock, held, holds; ttl, order, then per item product, quantity. */
function holdCall(
  orderId: string,
  items: [string, number][],
  ttlSeconds = 900,
): { keys: string[]; argv: (string | number)[] } {
  return {
    keys: [`reservation:${orderId}`, ...items.flatMap(([p]) => [`stock:${p}`, `held:${p}`, `holds:${p}`])],
    argv: [ttlSeconds, orderId, ...items.flat()],
  };
}

function reserve(orderId: string, items: [string, number][], ttlSeconds = 900): Promise<string[]> {
  const { keys, argv } = holdCall(orderId, items, ttlSeconds);
  return scripts().reserveStock(keys.length, ...keys, ...argv);
}

function claimAndReserve(
  key: string,
  record: string,
  lockSeconds: number,
  orderId: string,
  items: [string, number][],
): Promise<string[]> {
  const { keys, argv } = holdCall(orderId, items);
  return scripts().claimAndReserveStock(keys.length + 1, `idempotency:${key}`, ...keys, record, lockSeconds, ...argv);
}

function settle(orderId: string, deltas: [string, number | 'reload'][]): Promise<number> {
  const keys = [`reservation:${orderId}`, ...deltas.flatMap(([p]) => [`stock:${p}`, `held:${p}`, `holds:${p}`])];
  return scripts().settleStock(keys.length, ...keys, orderId, ...deltas.flat());
}

function available(products: string[]): Promise<(string | number | null)[]> {
  const keys = products.flatMap((p) => [`stock:${p}`, `held:${p}`, `holds:${p}`]);
  return scripts().availableStock(keys.length, ...keys);
}

/**
 * A hold whose expiry has passed while its product's keys live on (a longer hold keeps them): the
 * state the scripts leave behind, written by hand with an expiry 1 ms in Redis's past, so a test
 * sees the purge without waiting. (One reserve test waits for a real 1 s TTL instead.)
 */
async function givenExpiredHold(product: string, orderId: string, quantity: number): Promise<void> {
  await redis()
    .multi()
    .zadd(`holds:${product}`, (await redisNowMs()) - 1, `${orderId}|${quantity}`)
    .incrby(`held:${product}`, quantity)
    .pexpire(`holds:${product}`, 900_000)
    .pexpire(`held:${product}`, 900_000)
    .exec();
}

async function holdsOf(product: string): Promise<string[]> {
  return redis().zrange(`holds:${product}`, 0, -1);
}

describe('reserve (reserve.lua: every item of an order held, or none)', () => {
  test("holds every line: the reservation hash with its TTL, held:{p} and holds:{p} scored with the expiry on Redis's clock; the mirror is not touched", async () => {
    // Prepare
    await redis().mset({ 'stock:p_a': 5, 'stock:p_b': 4 });
    const before = await redisNowMs();

    // Act
    const answer = await reserve(
      'o1',
      [
        ['p_a', 2],
        ['p_b', 3],
      ],
      900,
    );

    // Assess
    const after = await redisNowMs();
    expect(answer).toEqual(['ok']);
    expect(await redis().hgetall('reservation:o1')).toEqual({ p_a: '2', p_b: '3' });
    expect(await redis().ttl('reservation:o1')).toBeGreaterThanOrEqual(899);
    expect(await redis().ttl('reservation:o1')).toBeLessThanOrEqual(900);
    expect(await redis().mget('held:p_a', 'held:p_b')).toEqual(['2', '3']);
    for (const [product, member] of [
      ['p_a', 'o1|2'],
      ['p_b', 'o1|3'],
    ] as const) {
      const [m, score] = await redis().zrange(`holds:${product}`, 0, -1, 'WITHSCORES');
      expect(m).toBe(member);
      expect(Number(score)).toBeGreaterThanOrEqual(before + 900_000);
      expect(Number(score)).toBeLessThanOrEqual(after + 900_000);
      for (const key of [`held:${product}`, `holds:${product}`]) {
        expect(await redis().pttl(key)).toBeGreaterThan(898_000);
        expect(await redis().pttl(key)).toBeLessThanOrEqual(900_000);
      }
    }
    expect(await redis().mget('stock:p_a', 'stock:p_b')).toEqual(['5', '4']);
  });

  test.each([
    {
      short: 'the last line',
      items: [
        ['p_a', 2],
        ['p_b', 3],
      ] as [string, number][],
      productId: 'p_b',
    },
    {
      short: 'the first line',
      items: [
        ['p_b', 3],
        ['p_a', 2],
      ] as [string, number][],
      productId: 'p_b',
    },
  ])(
    'all or nothing: $short short holds no line at all, answers short with that product, and leaves Redis as it was',
    async ({ items, productId }) => {
      await redis().mset({ 'stock:p_a': 5, 'stock:p_b': 2 });

      const answer = await reserve('o1', items);

      expect(answer).toEqual(['short', productId]);
      expect((await redis().keys('*')).sort()).toEqual(['stock:p_a', 'stock:p_b']);
      expect(await redis().mget('stock:p_a', 'stock:p_b')).toEqual(['5', '2']);
    },
  );

  test("counts other orders' live holds: 5 in stock and 4 held leaves 1, so 2 more is short and 1 more fits", async () => {
    await redis().set('stock:p_a', 5);
    expect(await reserve('o1', [['p_a', 4]])).toEqual(['ok']);

    expect(await reserve('o2', [['p_a', 2]])).toEqual(['short', 'p_a']);
    expect(await redis().exists('reservation:o2')).toBe(0);
    expect(await redis().get('held:p_a')).toBe('4');

    expect(await reserve('o3', [['p_a', 1]])).toEqual(['ok']);
    expect(await redis().get('held:p_a')).toBe('5');
    expect(await holdsOf('p_a')).toEqual(['o1|4', 'o3|1']);
  });

  test('holding the same order again answers held and changes nothing: no double count, no second member, its TTL not renewed', async () => {
    await redis().mset({ 'stock:p_a': 5, 'stock:p_b': 4 });
    expect(
      await reserve('o1', [
        ['p_a', 2],
        ['p_b', 3],
      ]),
    ).toEqual(['ok']);
    await redis().expire('reservation:o1', 100);

    const again = await reserve('o1', [
      ['p_a', 2],
      ['p_b', 3],
    ]);

    expect(again).toEqual(['held']);
    expect(await redis().hgetall('reservation:o1')).toEqual({ p_a: '2', p_b: '3' });
    expect(await redis().ttl('reservation:o1')).toBeLessThanOrEqual(100);
    expect(await redis().mget('held:p_a', 'held:p_b')).toEqual(['2', '3']);
    expect(await holdsOf('p_a')).toEqual(['o1|2']);
    expect(await holdsOf('p_b')).toEqual(['o1|3']);
  });

  test.each([
    { missing: 'one mirror', loaded: { 'stock:p_a': 5 }, answer: ['missing', 'p_b'] },
    { missing: 'every mirror', loaded: {}, answer: ['missing', 'p_a', 'p_b'] },
  ])(
    '$missing not loaded: answers missing with each such product and holds nothing (the caller loads them and calls again)',
    async ({ loaded, answer }) => {
      if (Object.keys(loaded).length > 0) await redis().mset(loaded);

      expect(
        await reserve('o1', [
          ['p_a', 2],
          ['p_b', 3],
        ]),
      ).toEqual(answer);

      expect((await redis().keys('*')).sort()).toEqual(Object.keys(loaded));
    },
  );

  test("an expired hold (1 s TTL, on Redis's clock) is dropped by the next reserve: its units count no more, held:{p} and holds:{p} lose it", async () => {
    // Prepare: 5 in stock; a 900 s hold of 1 keeps the product's keys alive, a 1 s hold of 4 expires.
    await redis().set('stock:p_a', 5);
    expect(await reserve('o_long', [['p_a', 1]], 900)).toEqual(['ok']);
    expect(await reserve('o_short', [['p_a', 4]], 1)).toEqual(['ok']);
    expect(await reserve('o_new', [['p_a', 4]])).toEqual(['short', 'p_a']);

    // Act: once the short hold has expired.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const answer = await reserve('o_new', [['p_a', 4]]);

    // Assess
    expect(answer).toEqual(['ok']);
    expect(await redis().get('held:p_a')).toBe('5');
    expect(await holdsOf('p_a')).toEqual(['o_long|1', 'o_new|4']);
    expect(await redis().exists('reservation:o_short')).toBe(0);
  });

  test('held:{p} and holds:{p} live as long as the newest hold in them: a longer hold extends them, a shorter one never shortens them', async () => {
    await redis().set('stock:p_a', 10);

    await reserve('o1', [['p_a', 1]], 60);
    expect(await redis().pttl('holds:p_a')).toBeLessThanOrEqual(60_000);
    await reserve('o2', [['p_a', 1]], 900);
    const extended = [await redis().pttl('holds:p_a'), await redis().pttl('held:p_a')];
    await reserve('o3', [['p_a', 1]], 10);

    for (const pttl of extended) expect(pttl).toBeGreaterThan(898_000);
    expect(await redis().pttl('holds:p_a')).toBeGreaterThan(898_000);
    expect(await redis().pttl('held:p_a')).toBeGreaterThan(898_000);
    expect(await redis().get('held:p_a')).toBe('3');
  });
});

describe("claim-and-reserve (claim-and-reserve.lua: the idempotency key taken and the order's stock held in one step)", () => {
  const record = JSON.stringify({ state: 'in_progress', fingerprint: 'f1' });

  test('a free key is taken with the record for lockSeconds, and every line held: answers ok', async () => {
    await redis().mset({ 'stock:p_a': 5, 'stock:p_b': 4 });

    const answer = await claimAndReserve('k1', record, 60, 'o1', [
      ['p_a', 2],
      ['p_b', 3],
    ]);

    expect(answer).toEqual(['ok']);
    expect(await redis().get('idempotency:k1')).toBe(record);
    expect(await redis().ttl('idempotency:k1')).toBeGreaterThanOrEqual(59);
    expect(await redis().ttl('idempotency:k1')).toBeLessThanOrEqual(60);
    expect(await redis().hgetall('reservation:o1')).toEqual({ p_a: '2', p_b: '3' });
    expect(await redis().mget('held:p_a', 'held:p_b')).toEqual(['2', '3']);
    expect(await holdsOf('p_a')).toEqual(['o1|2']);
  });

  test('a key already taken answers claimed with the record that holds it: nothing held, the key and its TTL unchanged', async () => {
    await redis().mset({ 'stock:p_a': 5, 'stock:p_b': 4 });
    await redis().set('idempotency:k1', 'the first request', 'EX', 500);

    const answer = await claimAndReserve('k1', record, 60, 'o2', [
      ['p_a', 2],
      ['p_b', 3],
    ]);

    expect(answer).toEqual(['claimed', 'the first request']);
    expect(await redis().get('idempotency:k1')).toBe('the first request');
    expect(await redis().ttl('idempotency:k1')).toBeGreaterThan(60);
    expect((await redis().keys('*')).sort()).toEqual(['idempotency:k1', 'stock:p_a', 'stock:p_b']);
  });

  test('a free key and a short line: the key is taken, no line is held, answers short with that product', async () => {
    await redis().mset({ 'stock:p_a': 5, 'stock:p_b': 2 });

    const answer = await claimAndReserve('k1', record, 60, 'o1', [
      ['p_a', 2],
      ['p_b', 3],
    ]);

    expect(answer).toEqual(['short', 'p_b']);
    expect(await redis().get('idempotency:k1')).toBe(record);
    expect((await redis().keys('*')).sort()).toEqual(['idempotency:k1', 'stock:p_a', 'stock:p_b']);
  });

  test('a free key and a mirror not loaded: the key is taken, nothing held, answers missing with that product', async () => {
    await redis().set('stock:p_a', 5);

    const answer = await claimAndReserve('k1', record, 60, 'o1', [
      ['p_a', 2],
      ['p_b', 3],
    ]);

    expect(answer).toEqual(['missing', 'p_b']);
    expect((await redis().keys('*')).sort()).toEqual(['idempotency:k1', 'stock:p_a']);
  });

  test('a free key for an order that already holds its stock: the key is taken, answers held, the hold unchanged', async () => {
    await redis().mset({ 'stock:p_a': 5, 'stock:p_b': 4 });
    expect(
      await reserve('o1', [
        ['p_a', 2],
        ['p_b', 3],
      ]),
    ).toEqual(['ok']);

    const answer = await claimAndReserve('k2', record, 60, 'o1', [
      ['p_a', 2],
      ['p_b', 3],
    ]);

    expect(answer).toEqual(['held']);
    expect(await redis().get('idempotency:k2')).toBe(record);
    expect(await redis().mget('held:p_a', 'held:p_b')).toEqual(['2', '3']);
    expect(await holdsOf('p_a')).toEqual(['o1|2']);
  });

  test('an expired hold is dropped before the check: its units can be held again', async () => {
    await redis().set('stock:p_a', 5);
    await givenExpiredHold('p_a', 'o_old', 3);

    const answer = await claimAndReserve('k1', record, 60, 'o1', [['p_a', 4]]);

    expect(answer).toEqual(['ok']);
    expect(await redis().get('held:p_a')).toBe('4');
    expect(await holdsOf('p_a')).toEqual(['o1|4']);
  });
});

describe("settle (settle.lua: an order's hold dropped and the stock mirror moved in one step)", () => {
  test('a paid order (-n): its units leave held:{p} as they leave the mirror, so stock - held does not move; held:{p} deleted at 0; answers 1', async () => {
    await redis().mset({ 'stock:p_a': 10, 'stock:p_b': 10 });
    expect(
      await reserve('o1', [
        ['p_a', 2],
        ['p_b', 3],
      ]),
    ).toEqual(['ok']);
    expect(await available(['p_a', 'p_b'])).toEqual(['10', 2, '10', 3]);

    const answer = await settle('o1', [
      ['p_a', -2],
      ['p_b', -3],
    ]);

    expect(answer).toBe(1);
    expect(await redis().exists('reservation:o1', 'held:p_a', 'held:p_b', 'holds:p_a', 'holds:p_b')).toBe(0);
    expect(await redis().mget('stock:p_a', 'stock:p_b')).toEqual(['8', '7']);
    expect(await available(['p_a', 'p_b'])).toEqual(['8', 0, '7', 0]);
  });

  test("another order's hold on the same product stays: held:{p} keeps its units, holds:{p} its member, its reservation untouched", async () => {
    await redis().set('stock:p_a', 10);
    await reserve('o1', [['p_a', 2]]);
    await reserve('o2', [['p_a', 3]]);

    expect(await settle('o1', [['p_a', -2]])).toBe(1);

    expect(await redis().get('held:p_a')).toBe('3');
    expect(await holdsOf('p_a')).toEqual(['o2|3']);
    expect(await redis().hgetall('reservation:o2')).toEqual({ p_a: '3' });
    expect(await redis().get('stock:p_a')).toBe('8');
  });

  test('a release (delta 0): the hold goes, the mirror stays', async () => {
    await redis().set('stock:p_a', 10);
    await reserve('o1', [['p_a', 4]]);

    expect(await settle('o1', [['p_a', 0]])).toBe(1);

    expect(await redis().exists('reservation:o1', 'held:p_a', 'holds:p_a')).toBe(0);
    expect(await redis().get('stock:p_a')).toBe('10');
  });

  test('stock given back (+n) by an order with no hold: the mirror goes up, no hold key is created, answers 0', async () => {
    await redis().set('stock:p_a', 10);

    expect(await settle('o1', [['p_a', 2]])).toBe(0);

    expect(await redis().get('stock:p_a')).toBe('12');
    expect((await redis().keys('*')).sort()).toEqual(['stock:p_a']);
  });

  test("stock given back after its commit ('reload'): the mirror is dropped (PostgreSQL reloads it, counting the units once), the hold dropped", async () => {
    await redis().mset({ 'stock:p_a': 10, 'stock:p_b': 10 });
    await reserve('o1', [['p_b', 1]]);

    expect(
      await settle('o1', [
        ['p_a', 'reload'],
        ['p_b', 0],
      ]),
    ).toBe(1);

    expect(await redis().exists('stock:p_a')).toBe(0);
    expect(await redis().get('stock:p_b')).toBe('10');
    expect(await redis().exists('reservation:o1', 'held:p_b', 'holds:p_b')).toBe(0);
  });

  test('a missing mirror is left missing (PostgreSQL reloads it when next needed); the hold is still dropped', async () => {
    await redis().mset({ 'stock:p_a': 10, 'stock:p_b': 10 });
    await reserve('o1', [
      ['p_a', 2],
      ['p_b', 3],
    ]);
    await redis().del('stock:p_a');

    expect(
      await settle('o1', [
        ['p_a', -2],
        ['p_b', -3],
      ]),
    ).toBe(1);

    expect(await redis().exists('stock:p_a')).toBe(0);
    expect(await redis().get('stock:p_b')).toBe('7');
    expect(await redis().exists('reservation:o1', 'held:p_a', 'held:p_b', 'holds:p_a', 'holds:p_b')).toBe(0);
  });

  test("settling an order twice unholds it once: the second finds no hold and leaves other orders' units alone", async () => {
    await redis().set('stock:p_a', 10);
    await reserve('o1', [['p_a', 2]]);
    await reserve('o2', [['p_a', 3]]);

    expect(await settle('o1', [['p_a', 0]])).toBe(1);
    expect(await settle('o1', [['p_a', 0]])).toBe(0);

    expect(await redis().get('held:p_a')).toBe('3');
    expect(await holdsOf('p_a')).toEqual(['o2|3']);
  });

  test('expired holds of other orders are dropped on the way', async () => {
    await redis().set('stock:p_a', 10);
    await reserve('o1', [['p_a', 2]]);
    await givenExpiredHold('p_a', 'o_old', 3);
    expect(await redis().get('held:p_a')).toBe('5');

    expect(await settle('o1', [['p_a', -2]])).toBe(1);

    expect(await redis().exists('held:p_a', 'holds:p_a')).toBe(0);
    expect(await redis().get('stock:p_a')).toBe('8');
  });
});

describe('available (available.lua: stock on hand and live holds per product)', () => {
  test('answers per product the mirror and the live holds (0 where none)', async () => {
    await redis().mset({ 'stock:p_a': 10, 'stock:p_b': 4 });
    await reserve('o1', [['p_a', 2]]);

    expect(await available(['p_a', 'p_b'])).toEqual(['10', 2, '4', 0]);
  });

  test('a mirror not loaded answers null, and creates nothing', async () => {
    await redis().set('stock:p_a', 10);

    expect(await available(['p_a', 'p_b'])).toEqual(['10', 0, null, 0]);
    expect((await redis().keys('*')).sort()).toEqual(['stock:p_a']);
  });

  test('expired holds are dropped first: not counted, and held:{p} deleted once nothing is held', async () => {
    await redis().set('stock:p_a', 10);
    await givenExpiredHold('p_a', 'o_old', 3);

    expect(await available(['p_a'])).toEqual(['10', 0]);

    expect(await redis().exists('held:p_a', 'holds:p_a')).toBe(0);
  });

  test('only expired holds are dropped: a live one is still counted', async () => {
    await redis().set('stock:p_a', 10);
    await reserve('o1', [['p_a', 2]]);
    await givenExpiredHold('p_a', 'o_old', 3);

    expect(await available(['p_a'])).toEqual(['10', 2]);

    expect(await redis().get('held:p_a')).toBe('2');
    expect(await holdsOf('p_a')).toEqual(['o1|2']);
  });
});
