import { randomUUID } from 'node:crypto';
import type { Deps } from '../deps';
import {
  DomainError,
  IdempotencyInProgressError,
  IdempotencyKeyMismatchError,
  InsufficientInventoryError,
  MixedCurrencyError,
  PaymentDeclinedError,
  PaymentProviderUnavailableError,
  UnknownProductError,
} from '../errors';
import { errorBody } from '../http';
import { fingerprint } from '../idempotency/fingerprint';
import { type IdempotentResult, idempotent, type StoredResponse } from '../idempotency/store';
import { claimAndReserve, type FirstHold, type ReserveResult, release, reserve } from '../inventory/reservations';
import { type PaymentOutcome, PaymentProviderError } from '../payments/payments';
import {
  claimOrder,
  findOrder,
  findOrderByKey,
  leavePending,
  type Order,
  type PricedLine,
  priceAndInsertOrder,
} from './order-store';
import { orderView } from './order-view';
import {
  completeOutOfStockRefund,
  OUT_OF_STOCK_AFTER_PAYMENT,
  type SettleDeps,
  settleFailed,
  settlePaid,
} from './payment-state';

export interface CreateOrderRequest {
  customerId: string;
  paymentMethodId: string;
  items: { productId: string; quantity: number }[];
}

export type CreateOrderResult = IdempotentResult;

/** Stripe's largest amount for a card charge in most currencies (99,999,999 minor units). */
const MAX_AMOUNT_CENTS = 99_999_999;

type CreateDeps = Pick<Deps, 'db' | 'redis' | 'payments' | 'config'> & Pick<SettleDeps, 'redisBatch'>;

/**
 * POST /orders. Phases, each with a recovery point a retry resumes from:
 * key taken and stock held (Redis, one script) -> order recorded (pending) -> card charged (Stripe,
 * idempotency key from the order id) -> stock taken and order paid (one statement) -> hold dropped,
 * result stored (one pipeline). The hold comes first because the script that takes the key can take
 * it too; whatever stops the request before its order is recorded gives the hold back at once.
 */
export function createOrder(
  deps: CreateDeps,
  idempotencyKey: string,
  request: CreateOrderRequest,
): Promise<CreateOrderResult> {
  const requestHash = fingerprint(request);
  const ttl = { resultSeconds: deps.config.idempotencyTtlSeconds, lockSeconds: deps.config.requestLockSeconds };
  const orderId = randomUUID();
  const hold = { orderId, lines: request.items, ttlSeconds: deps.config.reservationTtlSeconds };
  return idempotent(
    deps.redis,
    idempotencyKey,
    requestHash,
    ttl,
    (batch, firstHold: FirstHold) =>
      placeOrResume({ ...deps, redisBatch: batch }, { id: orderId, idempotencyKey, requestHash, request }, firstHold),
    async (record, lockSeconds) => {
      const taken = await claimAndReserve(deps.redis, idempotencyKey, record, lockSeconds, hold);
      return { previous: taken.previous, claimed: taken.hold };
    },
  );
}

async function placeOrResume(
  deps: CreateDeps,
  o: { id: string; idempotencyKey: string; requestHash: string; request: CreateOrderRequest },
  firstHold: FirstHold,
): Promise<CreateOrderResult> {
  const { request } = o;
  const draft = {
    id: o.id,
    idempotencyKey: o.idempotencyKey,
    requestHash: o.requestHash,
    customerId: request.customerId,
    paymentMethodId: request.paymentMethodId,
    lines: request.items,
  };
  const letGo = () =>
    firstHold.kind === 'held'
      ? release(
          deps.redis,
          draft.id,
          request.items.map((l) => l.productId),
        )
      : Promise.resolve();
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
    return place(
      deps,
      {
        ...draft,
        status: 'pending',
        amountCents: priced.amountCents,
        currency: priced.currency,
        paymentIntentId: null,
        failureCode: null,
        declineCode: null,
        failureProductId: null,
        lastEventCreated: null,
        lines: priced.lines.map((l) => ({ ...l, refundedQuantity: 0 })),
      },
      firstHold,
    );
  }

  // The key already has an order (Redis lost the stored answer, or an earlier attempt died midway):
  // that order is the one to answer for, and this attempt's hold is not needed.
  await letGo();
  const existing = await findOrderByKey(deps.db, o.idempotencyKey);
  if (!existing) throw new Error(`order for idempotency key vanished`);
  if (existing.requestHash !== o.requestHash) throw new IdempotencyKeyMismatchError();
  // Its automatic refund may still wait for a Stripe that was unreachable: send it before answering.
  if (existing.failureCode === OUT_OF_STOCK_AFTER_PAYMENT) await completeOutOfStockRefund(deps, existing.id);
  if (existing.status !== 'pending') return { ...answerFor(existing), replayed: true };
  if (!(await claimOrder(deps.db, existing.id, deps.config.requestLockSeconds))) {
    throw new IdempotencyInProgressError(deps.config.requestLockSeconds);
  }
  return resume(deps, existing);
}

/** The catalogue's verdict on the lines (the insert wrote nothing when any of these refuse them). */
export function checkPrices(lines: PricedLine[]) {
  const unknown = lines.find((l) => l.unitPriceCents === null);
  if (unknown) throw new UnknownProductError(unknown.productId);
  const currencies = [...new Set(lines.map((l) => l.currency as string))];
  if (currencies.length > 1) throw new MixedCurrencyError(currencies);
  const amountCents = lines.reduce((sum, l) => sum + l.quantity * (l.unitPriceCents as number), 0);
  if (amountCents > MAX_AMOUNT_CENTS) throw new AmountTooLargeError(amountCents);
  return {
    currency: currencies[0] as string,
    amountCents,
    lines: lines.map(({ productId, quantity, unitPriceCents }) => ({
      productId,
      quantity,
      unitPriceCents: unitPriceCents as number,
    })),
  };
}

export class AmountTooLargeError extends DomainError {
  readonly code = 'amount_too_large';
  readonly status = 422;
  constructor(amountCents: number) {
    super(`the order total ${amountCents} is above the largest amount a card payment may have (${MAX_AMOUNT_CENTS})`, {
      amountCents,
      maxAmountCents: MAX_AMOUNT_CENTS,
    });
  }
}

/**
 * A recorded order: hold its stock unless the key's script already did (a mirror that was not
 * loaded is loaded by reserve()), then charge.
 */
async function place(
  deps: CreateDeps,
  order: Order,
  firstHold: FirstHold = { kind: 'not_loaded' },
): Promise<CreateOrderResult> {
  const held: ReserveResult =
    firstHold.kind === 'held'
      ? { ok: true }
      : firstHold.kind === 'short'
        ? { ok: false, productId: firstHold.productId }
        : await reserve(deps.redis, deps.db, order.id, order.lines, deps.config.reservationTtlSeconds);
  if (!held.ok) {
    await settleFailed(deps, order.id, {
      failureCode: 'insufficient_inventory',
      declineCode: null,
      paymentIntentId: null,
      productId: held.productId,
    });
    return rejected(new InsufficientInventoryError(order.id, held.productId));
  }
  return settle(deps, order, await charge(deps, order, () => deps.payments.charge(chargeOf(order))));
}

/**
 * A pending order from an earlier attempt. Stripe is asked first whether that attempt created a
 * PaymentIntent (by stored id, else by metadata.order_id), so a crash between the charge and our
 * commit never leads to a second charge; Stripe's idempotency key (from the order id) backs this up.
 */
async function resume(deps: CreateDeps, order: Order): Promise<CreateOrderResult> {
  const found = await charge(deps, order, () => deps.payments.findCharge(order.id, order.paymentIntentId));
  if (found) return settle(deps, order, found);
  return place(deps, order);
}

async function charge<T extends PaymentOutcome | null>(
  deps: CreateDeps,
  order: Order,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof PaymentProviderError)) throw error;
    // The order stays pending with its hold: the retry with the same key resumes it.
    await leavePending(deps.db, order.id, null);
    throw new PaymentProviderUnavailableError({ orderId: order.id });
  }
}

async function settle(deps: CreateDeps, order: Order, outcome: PaymentOutcome): Promise<CreateOrderResult> {
  switch (outcome.kind) {
    case 'succeeded': {
      const paid = await settlePaid(deps, order.id, outcome.paymentIntentId, undefined, order.lines);
      if (paid.kind === 'out_of_stock') return rejected(new InsufficientInventoryError(order.id, paid.productId));
      if (paid.kind === 'paid') return answer(201, order, 'paid', outcome.paymentIntentId);
      // Another writer settled the order first (the webhook found its stock gone): answer as it stands.
      const settled = await findOrder(deps.db, order.id);
      return { ...answerFor(settled ?? order), replayed: false };
    }
    case 'pending':
      // processing / requires_action: the hold stays until a webhook settles it or its TTL ends.
      await leavePending(deps.db, order.id, outcome.paymentIntentId);
      return answer(202, order, 'pending', outcome.paymentIntentId);
    case 'declined':
      await settleFailed(
        deps,
        order.id,
        { failureCode: 'payment_declined', declineCode: outcome.declineCode, paymentIntentId: outcome.paymentIntentId },
        undefined,
        true, // Stripe's own answer: this PaymentIntent did not succeed
      );
      return rejected(new PaymentDeclinedError(order.id, outcome.declineCode, outcome.message));
  }
}

function answer(statusCode: number, order: Order, status: Order['status'], paymentIntentId: string): CreateOrderResult {
  return { statusCode, body: { order: orderView(order, status, paymentIntentId) }, replayed: false };
}

function rejected(error: DomainError): CreateOrderResult {
  return { statusCode: error.status, body: errorBody(error), replayed: false };
}

/** The answer an already-settled order gets when its result is no longer in Redis. */
function answerFor(order: Order): StoredResponse {
  switch (order.failureCode) {
    case null:
      return { statusCode: order.status === 'pending' ? 202 : 201, body: { order: orderView(order) } };
    case 'payment_declined':
      return { statusCode: 402, body: errorBody(new PaymentDeclinedError(order.id, order.declineCode)) };
    default:
      return {
        statusCode: 409,
        body: errorBody(new InsufficientInventoryError(order.id, order.failureProductId ?? '')),
      };
  }
}

function chargeOf(order: Order) {
  return {
    orderId: order.id,
    amountCents: order.amountCents,
    currency: order.currency,
    paymentMethodId: order.paymentMethodId,
    customerId: order.customerId,
  };
}
