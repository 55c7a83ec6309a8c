import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { errorFields, type Logger } from '../../lib/log';
import { loggerOver } from '../../lib/observability';

/**
 * Written for mutation testing (MUTATION.md): the log lines CloudWatch Logs Insights queries. Each
 * is one JSON object on its own line of stdout, with level, time, message and fields at the top
 * level, so `filter level = "error"` and `stats count() by errorCode` work.
 */
describe('loggerOver (our Logger port over Powertools Logger)', () => {
  /** What a Powertools Logger at INFO writes through the port, one parsed object per line. */
  function captured(write: (log: Logger) => void): Record<string, unknown>[] {
    const out: string[] = [];
    // Powertools writes INFO to stdout and ERROR to stderr (Lambda sends both to CloudWatch Logs).
    const spies = [process.stdout, process.stderr].map((stream) =>
      jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
        out.push(String(chunk));
        return true;
      }),
    );
    try {
      write(loggerOver(new PowertoolsLogger({ serviceName: 'orders', logLevel: 'INFO' })));
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    return out
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line));
  }

  test('one JSON object per line: level, ISO timestamp, message, the service, then the fields at the top level', () => {
    const lines = captured((log) => {
      log.info('request', { statusCode: 201 });
      log.error('unhandled error', { requestId: 'req-1' });
    });

    expect(lines).toEqual([
      expect.objectContaining({ level: 'INFO', message: 'request', service: 'orders', statusCode: 201 }),
      expect.objectContaining({ level: 'ERROR', message: 'unhandled error', service: 'orders', requestId: 'req-1' }),
    ]);
    const time = lines[0]?.timestamp as string;
    expect(new Date(time).toISOString()).toBe(time);
  });

  test("a child logger adds its fields to every line, on top of its parent's", () => {
    const [line] = captured((log) => log.child({ orderId: 'order-1' }).info('paid'));

    expect(line).toMatchObject({ service: 'orders', orderId: 'order-1', message: 'paid' });
  });
});

describe('errorFields (what an unexpected error logs)', () => {
  test('an Error: its name, message and stack', () => {
    const error = new TypeError('boom');

    expect(errorFields(error)).toEqual({ error: { name: 'TypeError', message: 'boom', stack: error.stack } });
  });

  test('anything else thrown (a string, an object): its text', () => {
    expect(errorFields('connection refused')).toEqual({ error: { message: 'connection refused' } });
    expect(errorFields(42)).toEqual({ error: { message: '42' } });
  });
});
