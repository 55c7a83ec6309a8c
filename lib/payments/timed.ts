import { type AppMetrics, inSubsegment } from '../observability';
import type { Payments } from './payments';

/**
 * The payment port as the Lambda containers use it: each call in an X-Ray subsegment
 * (`Stripe charge`, ...; the SDK's HTTPS requests under it when tracing captures them) and its
 * latency recorded (StripeLatency, milliseconds, whatever the outcome: the SDK's own retries and
 * timeouts included, as the caller waited for them).
 */
export function timedPayments(payments: Payments, metrics: AppMetrics): Payments {
  const timed =
    <A extends unknown[], R>(name: keyof Payments, call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const started = performance.now();
      try {
        return await inSubsegment(`Stripe ${name}`, () => call(...args));
      } finally {
        metrics.milliseconds('StripeLatency', Math.round(performance.now() - started));
      }
    };
  return {
    charge: timed('charge', payments.charge),
    findCharge: timed('findCharge', payments.findCharge),
    cancel: timed('cancel', payments.cancel),
    refund: timed('refund', payments.refund),
    findRefund: timed('findRefund', payments.findRefund),
  };
}
