import { isConnectionError } from '../../lib/db';

/** An error as node-postgres raises it for a server error: a message and the SQLSTATE in `code`. */
const pgError = (code: string, message = 'server error') => Object.assign(new Error(message), { code });

describe('isConnectionError (PostgreSQL cannot serve now: 503, retry later)', () => {
  test.each([
    ['08000', 'connection_exception'],
    ['08003', 'connection_does_not_exist'],
    ['08006', 'connection_failure'],
    ['08001', 'sqlclient_unable_to_establish_sqlconnection'],
    ['08P01', 'protocol_violation'],
    ['53000', 'insufficient_resources'],
    ['53100', 'disk_full'],
    ['53200', 'out_of_memory'],
    ['53300', 'too_many_connections'],
    ['57P01', 'admin_shutdown'],
    ['57P02', 'crash_shutdown'],
    ['57P03', 'cannot_connect_now (starting up)'],
    ['57014', 'query_canceled (statement_timeout)'],
    ['40001', 'serialization_failure'],
    ['40P01', 'deadlock_detected'],
    ['55P03', 'lock_not_available'],
  ])('SQLSTATE %s (%s) is', (code) => {
    expect(isConnectionError(pgError(code))).toBe(true);
  });

  test.each(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])(
    'the socket error %s is',
    (code) => {
      expect(isConnectionError(Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code }))).toBe(true);
    },
  );

  test.each([
    'Connection terminated unexpectedly',
    'Connection terminated due to connection timeout',
    'Client has encountered a connection error and is not queryable',
    'Client was closed and is not queryable',
    'timeout exceeded when trying to connect',
  ])('node-postgres\'s code-less "%s" is', (message) => {
    expect(isConnectionError(new Error(message))).toBe(true);
  });

  test.each([
    ['23505', 'unique_violation'],
    ['23503', 'foreign_key_violation'],
    ['23514', 'check_violation'],
    ['42P01', 'undefined_table'],
    ['42601', 'syntax_error'],
    ['42703', 'undefined_column'],
    ['22P02', 'invalid_text_representation'],
    ['40002', 'transaction_integrity_constraint_violation (class 40, not a retry)'],
    ['57000', 'operator_intervention (class 57, not one of the three)'],
    ['57P04', 'database_dropped'],
    ['55000', 'object_not_in_prerequisite_state'],
    ['P0001', 'raise_exception'],
    ['XX000', 'internal_error'],
  ])('SQLSTATE %s (%s) is not: the statement is wrong, a retry fails the same way', (code) => {
    expect(isConnectionError(pgError(code))).toBe(false);
  });

  test.each([
    ['a code that only contains 08', pgError('X08000')],
    ['a code that starts with 08 but is longer', pgError('080000')],
    ['a lowercase class-08 code', pgError('08p01')],
    [
      'a message that merely mentions a connection',
      new Error('duplicate key value violates unique constraint; Connection terminated'),
    ],
    [
      'a connection message with a code that is not one of them',
      pgError('23505', 'Connection terminated unexpectedly'),
    ],
    ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'rows')")],
    ['null', null],
    ['undefined', undefined],
    ['a string', 'Connection terminated'],
    ['a numeric code', Object.assign(new Error('x'), { code: 8000 })],
  ])('%s is not', (_, error) => {
    expect(isConnectionError(error)).toBe(false);
  });
});
