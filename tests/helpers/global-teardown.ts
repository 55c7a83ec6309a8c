/** Stops the PostgreSQL / Redis that global-setup started, if it had to start any. */
export default async function globalTeardown(): Promise<void> {
  await globalThis.stopTestServices?.();
}
