import type { Logger } from '../log';
import type { EventPublisher } from './publisher';

/**
 * For `npm run dev` (EVENTS_LOG_ONLY=true), where there is no AWS: each event is one JSON log line
 * (topic, eventId, orderId) instead of a PutEvents entry, and counts as published.
 */
export function logPublisher(log: Logger): EventPublisher {
  return {
    async put(events) {
      return events.map((event) => {
        log.info('event published (log only)', { topic: event.topic, eventId: event.id, orderId: event.orderId });
        return { ok: true } as const;
      });
    },
  };
}
