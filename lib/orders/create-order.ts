import { randomUUID } from 'node:crypto';
import { IdempotencyInProgressError, IdempotencyKeyMismatchError, MAX_AMOUNT_CENTS } from '../errors';
import { fingerprint } from '../idempotency/fingerprint';
import { idempotent } from '../idempotency/idempotent';
import type { IdempotentResult } from '../idempotency/port';
import { RedisIdempotencyStore } from '../idempotency/redis-store';
import { type FirstHold, release } from '../inventory/reservations';
import { keys } from '../keys';
import { answerFor } from './create-order-answer';
import { type CreateDeps, place, resume } from './create-order-payment';
import { claimOrder, findOrderByKey, type Order, priceAndInsertOrder } from './order-store';
import { completeOutOfStockRefund } from './out-of-stock';
import { OUT_OF_STOCK_AFTER_PAYMENT } from './payment-state';
import { checkPrices } from './pricing';

export interface CreateOrderRequest {
  customerId: string;
  paymentMethodId: string;
  items: { productId: string; quantity: number }[];
}

export type CreateOrderResult = IdempotentResult;

interface Attempt {
  id: string;
  idempotencyKey: string;
  requestHash: string;
  request: CreateOrderRequest;
}

/**
 * POST /orders. Phases, each with a recovery point a retry resumes from:
 * key taken and stock held (Redis, one script) -> order recorded (pending) -> card charged (Stripe,
 * idempotency key from the order id) -> stock taken and order paid (one statement) -> hold dropped,
 * answer stored (one pipeline). The hold comes first because the script that takes the key can take
 * it too; whatever stops the request before its order is recorded gives the hold back at once.
 */
export function createOrder(
  deps: CreateDeps,
  idempotencyKey: string,
  request: CreateOrderRequest,
): Promise<CreateOrderResult> {
  const store = new RedisIdempotencyStore(deps.redis);
  const key = keys.idempotency(idempotencyKey);
  const attempt: Attempt = { id: randomUUID(), idempotencyKey, requestHash: fingerprint(request), request };
  const ttl = { resultSeconds: deps.config.idempotencyTtlSeconds, lockSeconds: deps.config.requestLockSeconds };
  const hold = { orderId: attempt.id, lines: request.items, ttlSeconds: deps.config.reservationTtlSeconds };
  return idempotent(
    store,
    key,
    attempt.requestHash,
    ttl,
    (later, firstHold: FirstHold) => placeOrResume({ ...deps, later }, attempt, firstHold),
    async (record, lockSeconds) => {
      const taken = await store.claimAndHold(key, record, lockSeconds, hold);
      return { previous: taken.previous, claimed: taken.hold };
    },
  );
}

async function placeOrResume(deps: CreateDeps, attempt: Attempt, firstHold: FirstHold): Promise<CreateOrderResult> {
  const { request } = attempt;
  const draft = {
    ...attempt,
    customerId: request.customerId,
    paymentMethodId: request.paymentMethodId,
    lines: request.items,
  };
  const productIds = request.items.map((l) => l.productId);
  const letGo = () => (firstHold.kind === 'held' ? release(deps.redis, draft.id, productIds) : Promise.resolve());
  const { inserted, priced } = await priceAndInsertOrder(
    deps.db,
    draft,
    deps.config.requestLockSeconds,
    MAX_AMOUNT_CENTS,
  )
    .then(({ inserted, lines }) => ({ inserted, priced: checkPrices(lines) }))
    .catch(async (error: unknown) => {
      await letGo().catch(() => undefined); // what stopped us may be Redis itself: the hold's TTL frees it then
      throw error;
    });
  if (inserted) {
    const order: Order = {
      ...draft,
      status: 'pending',
      amountCents: priced.amountCents,
      currency: priced.currency,
      paymentIntentId: null,
      failureCode: null,
      declineCode: null,
      declineMessage: null,
      failureProductId: null,
      lastEventCreated: null,
      lines: priced.lines.map((l) => ({ ...l, refundedQuantity: 0, restockedQuantity: 0 })),
    };
    return place(deps, order, firstHold);
  }

  // The key already has an order (Redis lost the stored answer, or an earlier attempt died midway):
  // that order is the one to answer for, and this attempt's hold is not needed.
  await letGo();
  const existing = await findOrderByKey(deps.db, attempt.idempotencyKey);
  if (!existing) throw new Error(`order for idempotency key vanished`);
  if (existing.requestHash !== attempt.requestHash) throw new IdempotencyKeyMismatchError();
  // Its automatic refund may still wait for a Stripe that was unreachable: send it before answering.
  if (existing.failureCode === OUT_OF_STOCK_AFTER_PAYMENT) await completeOutOfStockRefund(deps, existing.id);
  if (existing.status !== 'pending') return { ...answerFor(existing), replayed: true };
  if (!(await claimOrder(deps.db, existing.id, deps.config.requestLockSeconds))) {
    throw new IdempotencyInProgressError(deps.config.requestLockSeconds);
  }
  return resume(deps, existing);
}
