/**
 * The logging port lib code writes through (deps.log). In Lambda it is Powertools' Logger
 * (lib/observability.ts: one JSON object per line, with the request id and cold start); tests pass a
 * recording one. Never pass secrets, card data or payloads.
 */
export type LogFields = Record<string, unknown>;

export interface Logger {
  info(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

/** For an unexpected error: its name, message and stack, never the objects it may carry. */
export function errorFields(error: unknown): LogFields {
  if (error instanceof Error) return { error: { name: error.name, message: error.message, stack: error.stack } };
  return { error: { message: String(error) } };
}
