import type { Db } from '../db';
import { errorFields, type Logger } from '../log';
import { claimOutbox, type OutboxEvent, recordSends, releaseClaims } from './outbox-store';

/** EventBridge takes at most 10 entries per PutEvents request. */
export const MAX_EVENTS_PER_PUT = 10;
/**
 * How long a claim keeps other publishers off its rows: longer than any send takes (the SDK gives
 * up within seconds), shorter than the wait a crashed publisher's rows can afford.
 */
const LEASE_SECONDS = 60;

export type PutResult = { ok: true } | { ok: false; error: string };

/** Where events go: EventBridge on AWS (eventbridge-publisher.ts), the log locally (log-publisher.ts). */
export interface EventPublisher {
  /**
   * Sends up to MAX_EVENTS_PER_PUT events; answers one result per event, in order. Throws when the
   * send as a whole failed (network, throttling, timeout): nothing is known of any of them.
   */
  put(events: OutboxEvent[], o?: { signal?: AbortSignal }): Promise<PutResult[]>;
}

export interface PublishDeps {
  db: Db;
  log: Logger;
  events: EventPublisher;
}

export interface PublishSummary {
  claimed: number;
  published: number;
  failed: number;
  /** Set when a send threw: the run stopped there, its later batches were given back unsent. */
  error?: string;
}

/**
 * Publishes up to `limit` due outbox rows, oldest first, in batches of MAX_EVENTS_PER_PUT. Only the
 * events EventBridge accepted are marked published; a refused one counts an attempt, keeps its error
 * and waits for a later run. A send that throws marks none of its batch and stops the run. No lock
 * and no transaction is held while sending (outbox-store.ts). `now` is the clock, for tests.
 */
export async function publishOutbox(
  deps: PublishDeps,
  o: { limit: number; now?: Date; signal?: AbortSignal },
): Promise<PublishSummary> {
  const now = o.now ?? new Date();
  const claimed = await claimOutbox(deps.db, { limit: o.limit, now, leaseSeconds: LEASE_SECONDS });
  const summary: PublishSummary = { claimed: claimed.length, published: 0, failed: 0 };
  for (let start = 0; start < claimed.length; start += MAX_EVENTS_PER_PUT) {
    const batch = claimed.slice(start, start + MAX_EVENTS_PER_PUT);
    let results: PutResult[];
    try {
      results = await deps.events.put(batch, { signal: o.signal });
    } catch (error) {
      const message = describeError(error);
      await recordSends(deps.db, { published: [], failed: batch.map((e) => ({ id: e.id, error: message })), now });
      await releaseClaims(
        deps.db,
        claimed.slice(start + MAX_EVENTS_PER_PUT).map((e) => e.id),
      );
      deps.log.error('events not published: the send failed', {
        eventIds: batch.map((e) => e.id),
        ...errorFields(error),
      });
      return { ...summary, failed: summary.failed + batch.length, error: message };
    }
    const published: string[] = [];
    const failed: { id: string; error: string }[] = [];
    batch.forEach((event, i) => {
      const result = results[i];
      if (result?.ok) published.push(event.id);
      else failed.push({ id: event.id, error: result ? result.error : 'no result for this entry' });
    });
    await recordSends(deps.db, { published, failed, now });
    if (failed.length > 0) deps.log.error('events refused by the event bus', { failed });
    summary.published += published.length;
    summary.failed += failed.length;
  }
  return summary;
}

/** publishSoon sends at most one batch, and gives the send this long. */
const SOON_TIMEOUT_MS = 1_000;
/** After a failure, publishSoon rests this long in this container: the scheduled run still sends. */
const SOON_PAUSE_MS = 30_000;
const soonPausedUntil = new WeakMap<EventPublisher, number>();

/**
 * Best effort, right after a request's change: sends what is due now (one batch, a short timeout)
 * and never throws, so a request never fails or waits long because of the event bus; the scheduled
 * publishEvents function is the guarantee. With nothing due it costs one indexed UPDATE that matches
 * no row (one round trip) and never touches the AWS SDK.
 */
export async function publishSoon(deps: PublishDeps): Promise<void> {
  if ((soonPausedUntil.get(deps.events) ?? 0) > Date.now()) return;
  try {
    const summary = await publishOutbox(deps, {
      limit: MAX_EVENTS_PER_PUT,
      signal: AbortSignal.timeout(SOON_TIMEOUT_MS),
    });
    if (summary.error !== undefined) soonPausedUntil.set(deps.events, Date.now() + SOON_PAUSE_MS);
  } catch (error) {
    soonPausedUntil.set(deps.events, Date.now() + SOON_PAUSE_MS);
    deps.log.error('publishing events after the request failed', errorFields(error));
  }
}

/**
 * Wraps a Lambda handler so that publishSoon runs once it has its answer (whether it answered or
 * threw), before the function returns: a frozen container would never send.
 */
export function withPublishSoon<A extends unknown[], R>(
  handler: (...args: A) => Promise<R>,
  deps: () => PublishDeps,
): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      return await handler(...args);
    } finally {
      let publishDeps: PublishDeps | undefined;
      try {
        publishDeps = deps();
      } catch {
        // No deps (the handler has already answered for that): the scheduled run sends.
      }
      if (publishDeps) await publishSoon(publishDeps);
    }
  };
}

/** Kept in last_error: the SDK's error name (ThrottlingException, TimeoutError...) and message. */
function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 1000);
  return String(error).slice(0, 1000);
}
