/**
 * Records every read of process.env.STRIPE_SECRET_KEY (not only whether it is set), so the suite
 * can prove the secret is never touched while Stripe is mocked.
 */
const reads: string[] = [];
const realEnv = process.env;

export function spyOnSecretReads(): void {
  process.env = new Proxy(realEnv, {
    get(target, property, receiver) {
      if (property === 'STRIPE_SECRET_KEY') reads.push(new Error('STRIPE_SECRET_KEY read').stack ?? '');
      return Reflect.get(target, property, receiver);
    },
  });
}

export const secretReads = (): readonly string[] => reads;
export const forgetSecretReads = (): void => {
  reads.length = 0;
};
