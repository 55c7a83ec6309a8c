/**
 * Delivers signed `payment_intent.*` events to the webhook route the way `stripe listen
 * --forward-to` does: after a short delay, retried a few times, never blocking the API answer.
 */
import Stripe from 'stripe';
import eventFixture from '../../fixtures/stripe/event.json';
import { id, type Json, now } from './wire';

export interface EventOptions {
  /** Where to deliver events; none: events are not delivered. */
  webhookUrl?: string;
  webhookSecret?: string;
  /** Delay before delivering an event (ms), as Stripe's own is never instant. */
  deliveryDelayMs?: number;
  log: (line: string) => void;
  /** Counts each delivery the webhook route acknowledged. */
  stats: { eventsDelivered: number };
}

export interface Events {
  /** Sends `type` about (a copy of) `object` in the background. */
  emit(type: string, object: Json): void;
  /** The event types the webhook route acknowledged (2xx) for this object id, in order. */
  acknowledged(objectId: string): string[];
  /** Waits for every delivery still under way. */
  settle(): Promise<void>;
}

/** Stripe retries failed deliveries for days; a few quick ones are enough locally. */
const DELIVERY_ATTEMPTS = 3;

export function webhookEvents(options: EventOptions): Events {
  const pending = new Set<Promise<void>>();
  const acknowledgedByObject = new Map<string, string[]>();

  async function deliver(type: string, object: Json): Promise<void> {
    const { webhookUrl, webhookSecret, log } = options;
    if (!webhookUrl || !webhookSecret) return;
    const event = {
      ...eventFixture,
      id: id('evt'),
      type,
      created: now(),
      api_version: null,
      livemode: false,
      data: { object },
    };
    const payload = JSON.stringify(event);
    await new Promise((r) => setTimeout(r, options.deliveryDelayMs ?? 50));
    for (let attempt = 1; attempt <= DELIVERY_ATTEMPTS; attempt += 1) {
      try {
        const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: webhookSecret });
        const response = await fetch(webhookUrl, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'Stripe-Signature': signature },
          body: payload,
        });
        log(`stripe-double: ${type} ${event.id} -> ${response.status}`);
        if (response.ok) {
          options.stats.eventsDelivered += 1;
          const objectId = String(object.id);
          acknowledgedByObject.set(objectId, [...(acknowledgedByObject.get(objectId) ?? []), type]);
          return;
        }
      } catch (error) {
        log(`stripe-double: delivering ${type} failed: ${(error as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }

  return {
    emit(type, object) {
      const delivery = deliver(type, structuredClone(object)).finally(() => pending.delete(delivery));
      pending.add(delivery);
    },
    acknowledged: (objectId) => [...(acknowledgedByObject.get(objectId) ?? [])],
    settle: async () => {
      await Promise.allSettled([...pending]);
    },
  };
}
