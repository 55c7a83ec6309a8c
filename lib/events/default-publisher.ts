import type { Config } from '../config';
import { coreDeps } from '../deps';
import type { Logger } from '../log';
import { logPublisher } from './log-publisher';
import type { EventPublisher, PublishDeps } from './publisher';

let publisher: EventPublisher | undefined;

/**
 * One publisher per container, made on first use: the log locally (EVENTS_LOG_ONLY), else
 * EventBridge. The AWS SDK is loaded, and its client built, on the first send, not at import: a
 * request with nothing to publish never pays for it, cold start included.
 */
export function defaultPublisher(config: Config, log: Logger): EventPublisher {
  publisher ??= config.eventsLogOnly ? logPublisher(log) : lazyEventBridgePublisher(config.eventBusName);
  return publisher;
}

/** coreDeps plus the publisher: what publishOutbox, publishSoon and the publishEvents function take. */
export function defaultPublishDeps(): PublishDeps {
  const core = coreDeps();
  return { db: core.db, log: core.log, events: defaultPublisher(core.config, core.log) };
}

function lazyEventBridgePublisher(eventBusName: string): EventPublisher {
  let loaded: Promise<EventPublisher> | undefined;
  return {
    async put(events, o) {
      loaded ??= import('./eventbridge-publisher').then((m) =>
        m.eventBridgePublisher(m.createEventBridgeClient(), eventBusName),
      );
      return (await loaded).put(events, o);
    },
  };
}
