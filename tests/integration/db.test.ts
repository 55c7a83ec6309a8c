import { Client } from 'pg';
import { ConfigError, readConfig } from '../../lib/config';
import { createPoolDb, isConnectionError } from '../../lib/db';
import { testEnvironment } from '../../scripts/test-environment';

/** The statements a connection has prepared by name, read on that same connection. */
async function preparedOn(preparedStatements: boolean): Promise<{ name: string; statement: string }[]> {
  // One connection, so the read below sees what the queries before it left on that connection.
  const db = createPoolDb(testEnvironment().databaseUrl, 1, { preparedStatements });
  try {
    await db.query('SELECT $1::int AS n', [1]);
    await db.query('SELECT $1::int AS n', [2]);
    await db.transaction((tx) => tx.query('SELECT $1::text AS t', ['x']));
    const { rows } = await db.pool.query<{ name: string; statement: string }>(
      'SELECT name, statement FROM pg_prepared_statements ORDER BY name',
    );
    return rows;
  } finally {
    await db.end();
  }
}

describe('PostgreSQL statements (DB_PREPARED_STATEMENTS)', () => {
  test('by default each statement text is prepared once per connection, by name, and reused', async () => {
    expect(await preparedOn(true)).toEqual([
      { name: 's0', statement: 'SELECT $1::int AS n' },
      { name: 's1', statement: 'SELECT $1::text AS t' },
    ]);
  });

  test('set to false (behind RDS Proxy), nothing is left prepared on the connection', async () => {
    expect(await preparedOn(false)).toEqual([]);
  });

  test('reads true or false from the environment and refuses anything else', () => {
    expect(readConfig({}).dbPreparedStatements).toBe(true);
    expect(readConfig({ DB_PREPARED_STATEMENTS: 'false' }).dbPreparedStatements).toBe(false);
    expect(() => readConfig({ DB_PREPARED_STATEMENTS: 'no' })).toThrow(ConfigError);
    expect(() => readConfig({ DB_PREPARED_STATEMENTS: 'no' })).toThrow(
      'DB_PREPARED_STATEMENTS must be true or false (got "no")',
    );
  });
});

describe('PostgreSQL dropping a connection in the middle of a transaction', () => {
  test('fails that transaction (a connection error, answered 503), never the process, and the pool serves the next one', async () => {
    // Prepare
    const db = createPoolDb(testEnvironment().databaseUrl, 1);
    const admin = new Client({ connectionString: testEnvironment().databaseUrl });
    await admin.connect();

    // Act: the server ends the backend between two statements, while the connection is checked out.
    const outcome = await db
      .transaction(async (tx) => {
        const { rows } = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        await admin.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
        await new Promise((r) => setTimeout(r, 300)); // the connection's 'error' arrives while it is idle
        await tx.query('SELECT 1');
      })
      .then(
        () => 'committed',
        (error: unknown) => (isConnectionError(error) ? 'connection error' : `other: ${String(error)}`),
      );
    await admin.end();

    // Assess
    expect(outcome).toBe('connection error');
    expect((await db.query<{ n: number }>('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
    await db.end();
  });
});
