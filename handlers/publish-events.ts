import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { defaultPublishDeps } from '../lib/events/default-publisher';
import { type PublishDeps, type PublishSummary, publishOutbox } from '../lib/events/publisher';
import { observed } from '../lib/observability';

/** Rows claimed per round (10 PutEvents requests). */
const ROUND_LIMIT = 100;
/** Rounds per run at most: 5,000 events a minute, far above what the service writes. */
const MAX_ROUNDS = 50;
/** No new round with less than this left before the Lambda timeout. */
const RESERVE_MS = 10_000;

export interface PublishRun extends PublishSummary {
  rounds: number;
}

/**
 * Scheduled every minute (serverless.yml; `npm run dev` runs it on a timer): publishes every outbox
 * row that is due, round after round, until a round finds fewer than it could take, a send throws
 * (throttled or unreachable: the next run tries again), or time runs short. Rows EventBridge
 * refused wait out their backoff and do not stop the run. Safe to run twice at once.
 */
export function publishEventsHandler(deps: () => PublishDeps) {
  return async (_event?: unknown, context?: Pick<Context, 'getRemainingTimeInMillis'>): Promise<PublishRun> => {
    const run: PublishRun = { rounds: 0, claimed: 0, published: 0, failed: 0 };
    while (run.rounds < MAX_ROUNDS) {
      const round = await publishOutbox(deps(), { limit: ROUND_LIMIT });
      run.rounds += 1;
      run.claimed += round.claimed;
      run.published += round.published;
      run.failed += round.failed;
      if (round.error !== undefined) run.error = round.error;
      const lowOnTime = context !== undefined && context.getRemainingTimeInMillis() < RESERVE_MS;
      if (round.error !== undefined || round.claimed < ROUND_LIMIT || lowOnTime) break;
    }
    // An idle run says nothing (Lambda's own START/REPORT lines show it ran).
    if (run.claimed > 0) deps().log[run.failed > 0 ? 'error' : 'info']('outbox published', { ...run });
    return run;
  };
}

/** As Lambda runs it: with Powertools' logs, metrics and trace (lib/observability.ts). */
export const handler = middy<unknown, PublishRun, Error, Context>()
  .use(observed())
  .handler(publishEventsHandler(defaultPublishDeps));
