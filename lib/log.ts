/** One JSON object per line, for CloudWatch Logs Insights. Never pass secrets, card data or payloads. */
export type LogFields = Record<string, unknown>;

export interface Logger {
  info(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export function jsonLogger(
  base: LogFields = {},
  write: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): Logger {
  const emit = (level: string, message: string, fields: LogFields = {}) =>
    write(JSON.stringify({ level, time: new Date().toISOString(), message, ...base, ...fields }));
  return {
    info: (message, fields) => emit('info', message, fields),
    error: (message, fields) => emit('error', message, fields),
    child: (fields) => jsonLogger({ ...base, ...fields }, write),
  };
}

/** For an unexpected error: its name, message and stack, never the objects it may carry. */
export function errorFields(error: unknown): LogFields {
  if (error instanceof Error) return { error: { name: error.name, message: error.message, stack: error.stack } };
  return { error: { message: String(error) } };
}
