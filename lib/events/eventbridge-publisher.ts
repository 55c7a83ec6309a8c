import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { OutboxEvent } from './outbox-store';
import type { EventPublisher, PutResult } from './publisher';

/** The `source` of every event this service puts on the bus. */
export const EVENT_SOURCE = 'order-service';

/**
 * PutEvents' limit on a request's entries together (and so on one entry), counted as EventBridge
 * counts it: 14 bytes for Time, plus the UTF-8 bytes of Source, DetailType and Detail.
 */
const MAX_REQUEST_BYTES = 256 * 1024;

/**
 * The PutEvents entry for an outbox row. An entry has no field for an id of ours (EventBridge gives
 * each event its own id), so the outbox id travels in the detail as `eventId`, where consumers drop
 * repeats by it. The identity fields come first and are written again after the payload, so a
 * payload field can never overwrite them.
 */
export function putEventsEntry(event: OutboxEvent, eventBusName: string): PutEventsRequestEntry {
  const identity = {
    eventId: event.id,
    topic: event.topic,
    orderId: event.orderId,
    occurredAt: event.createdAt.toISOString(),
  };
  return {
    Source: EVENT_SOURCE,
    DetailType: event.topic,
    EventBusName: eventBusName,
    Time: event.createdAt,
    Detail: JSON.stringify({ ...identity, ...event.payload, ...identity }),
  };
}

function entryBytes(entry: PutEventsRequestEntry): number {
  const utf8 = (s: string | undefined) => Buffer.byteLength(s ?? '', 'utf8');
  return 14 + utf8(entry.Source) + utf8(entry.DetailType) + utf8(entry.Detail);
}

/**
 * One client per container (default-publisher.ts builds it). The SDK retries throttling and 5xx
 * itself; a request that hangs is cut off so a run never waits out its Lambda timeout.
 */
export function createEventBridgeClient(): EventBridgeClient {
  return new EventBridgeClient({ maxAttempts: 3, requestHandler: { connectionTimeout: 2_000, requestTimeout: 5_000 } });
}

/**
 * Puts events on `eventBusName`, one PutEvents request per call unless the entries together pass
 * the size limit. An entry EventBridge refuses comes back with ErrorCode and ErrorMessage in its slot
 * of the response's Entries (same order as the request); one it accepted, with its EventId.
 */
export function eventBridgePublisher(client: EventBridgeClient, eventBusName: string): EventPublisher {
  return {
    async put(events, o = {}) {
      const results: PutResult[] = [];
      const requests: { index: number; entry: PutEventsRequestEntry }[][] = [];
      let request: { index: number; entry: PutEventsRequestEntry }[] = [];
      let bytes = 0;
      events.forEach((event, index) => {
        const entry = putEventsEntry(event, eventBusName);
        const size = entryBytes(entry);
        if (size >= MAX_REQUEST_BYTES) {
          // EventBridge would refuse it, and with it the whole request.
          results[index] = { ok: false, error: `EntryTooLarge: ${size} bytes, PutEvents takes less than 256 KB` };
          return;
        }
        if (bytes + size >= MAX_REQUEST_BYTES) {
          requests.push(request);
          request = [];
          bytes = 0;
        }
        request.push({ index, entry });
        bytes += size;
      });
      if (request.length > 0) requests.push(request);

      for (const sent of requests) {
        const response = await client.send(new PutEventsCommand({ Entries: sent.map((s) => s.entry) }), {
          abortSignal: o.signal,
        });
        sent.forEach(({ index }, k) => {
          const answer = response.Entries?.[k];
          results[index] =
            answer?.EventId && !answer.ErrorCode
              ? { ok: true }
              : {
                  ok: false,
                  error: `${answer?.ErrorCode ?? 'NoResult'}: ${answer?.ErrorMessage ?? 'no result for this entry'}`,
                };
        });
      }
      return results;
    },
  };
}
