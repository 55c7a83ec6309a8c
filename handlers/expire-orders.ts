import middy from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { defaultDeps } from '../lib/default-deps';
import type { Deps } from '../lib/deps';
import { defaultPublishDeps } from '../lib/events/default-publisher';
import { withPublishSoon } from '../lib/events/publisher';
import { observed } from '../lib/observability';
import { type ExpireSummary, expireOrders } from '../lib/orders/expire-orders';

/** The scheduled function (EventBridge, every minute): orders nobody finishes, refunds whose call failed. */
export function expireOrdersHandler(deps: () => Deps) {
  return middy<ScheduledEvent, ExpireSummary, Error, Context>()
    .use(observed())
    .handler(async () => {
      const d = deps();
      const summary = await expireOrders(d);
      d.log.info('expire orders', { ...summary });
      if (summary.canceled > 0) d.metrics?.count('OrdersCanceled', summary.canceled);
      if (summary.settledPaid > 0) d.metrics?.count('OrdersPaid', summary.settledPaid);
      return summary;
    });
}

// Events this request wrote go out right after it (best effort; the scheduled publishEvents is the guarantee).
export const handler = withPublishSoon(expireOrdersHandler(defaultDeps), defaultPublishDeps);
