import { errorFields, jsonLogger } from '../../lib/log';

/**
 * Written for mutation testing (MUTATION.md): the log lines CloudWatch Logs Insights queries. Each
 * is one JSON object on its own line of stdout, with level, time, message and fields at the top
 * level, so `filter level = "error"` and `stats count() by errorCode` work.
 */
describe('jsonLogger', () => {
  test('writes one JSON object per line: level, ISO time, message, the base fields, then the fields', () => {
    const lines: string[] = [];
    const log = jsonLogger({ service: 'orders' }, (line) => lines.push(line));

    log.info('request', { statusCode: 201 });
    log.error('unhandled error', { requestId: 'req-1' });

    expect(lines.map((line) => JSON.parse(line))).toEqual([
      { level: 'info', time: expect.any(String), message: 'request', service: 'orders', statusCode: 201 },
      { level: 'error', time: expect.any(String), message: 'unhandled error', service: 'orders', requestId: 'req-1' },
    ]);
    const time = JSON.parse(lines[0] as string).time as string;
    expect(new Date(time).toISOString()).toBe(time);
  });

  test("a child logger adds its fields to every line, on top of its parent's", () => {
    const lines: string[] = [];
    const log = jsonLogger({ service: 'orders' }, (line) => lines.push(line)).child({ orderId: 'order-1' });

    log.info('paid');

    expect(JSON.parse(lines[0] as string)).toMatchObject({ service: 'orders', orderId: 'order-1', message: 'paid' });
  });

  test('by default each line goes to stdout, ending with a newline', () => {
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      jsonLogger().info('request', { statusCode: 200 });

      expect(write).toHaveBeenCalledTimes(1);
      const written = String(write.mock.calls[0]?.[0]);
      expect(written.endsWith('\n')).toBe(true);
      expect(written.slice(0, -1)).not.toContain('\n');
      expect(JSON.parse(written)).toMatchObject({ level: 'info', message: 'request', statusCode: 200 });
    } finally {
      write.mockRestore();
    }
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
