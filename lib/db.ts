import { Pool, type PoolClient, type QueryConfig, type QueryResultRow } from 'pg';

/**
 * What lib code needs of PostgreSQL. Production passes a pool; tests pass one connection inside a
 * transaction that is rolled back after each test, where `transaction` becomes a savepoint.
 */
export interface Db {
  query<R extends QueryResultRow = QueryResultRow>(
    text: string,
    params?: unknown[],
  ): Promise<{ rows: R[]; rowCount: number | null }>;
  /** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: Db) => Promise<T>): Promise<T>;
}

/**
 * Every statement text lib code sends is a constant, so each gets a name: PostgreSQL parses and
 * plans it once per connection instead of on every call (a third of the CPU a short statement
 * costs it). Bounded, in case a caller ever builds texts on the fly: those go unnamed. Off
 * (`enabled` false) behind a pooler that cannot carry named statements, such as RDS Proxy.
 */
class StatementNames {
  private static readonly MAX = 200;
  private readonly names = new Map<string, string>();

  constructor(private readonly enabled: boolean) {}

  config(text: string, values: unknown[] | undefined): QueryConfig {
    if (!this.enabled) return { text, values };
    let name = this.names.get(text);
    if (name === undefined && this.names.size < StatementNames.MAX) {
      name = `s${this.names.size}`;
      this.names.set(text, name);
    }
    return { name, text, values };
  }
}

class ClientDb implements Db {
  constructor(
    private readonly client: PoolClient,
    private readonly names: StatementNames,
  ) {}
  query<R extends QueryResultRow>(text: string, params?: unknown[]) {
    return this.client.query<R>(this.names.config(text, params));
  }
  transaction<T>(work: (tx: Db) => Promise<T>): Promise<T> {
    return work(this); // already inside one: lib code never nests transactions
  }
}

export class PoolDb implements Db {
  private readonly names: StatementNames;

  constructor(
    readonly pool: Pool,
    o: { preparedStatements?: boolean } = {},
  ) {
    this.names = new StatementNames(o.preparedStatements ?? true);
  }

  query<R extends QueryResultRow>(text: string, params?: unknown[]) {
    return this.pool.query<R>(this.names.config(text, params));
  }

  async transaction<T>(work: (tx: Db) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    // A checked-out connection the server drops between two statements (a restart) emits 'error';
    // with no listener that would end the process. The next statement fails and is answered 503.
    let lost: unknown;
    const onError = (error: unknown) => {
      lost = error;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await work(new ClientDb(client, this.names));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.off('error', onError);
      // A connection that was lost is destroyed, not handed to the next request.
      client.release(lost instanceof Error ? lost : undefined);
    }
  }

  end(): Promise<void> {
    return this.pool.end();
  }
}

export function createPoolDb(connectionString: string, max: number, o: { preparedStatements?: boolean } = {}): PoolDb {
  const pool = new Pool({
    connectionString,
    max,
    // A frozen Lambda container's sockets may be dead when it thaws: drop idle ones early.
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
  });
  // An idle client losing its connection (database restart) must not crash the process.
  pool.on('error', () => undefined);
  return new PoolDb(pool, o);
}

/**
 * True for errors that mean PostgreSQL cannot serve now rather than that a statement is wrong: a
 * retry later can pass. By SQLSTATE class: 08 connection exception, 53 insufficient resources
 * (53300 too many connections, out of memory, disk full), 57P01-57P03 shutting down / starting up,
 * 57014 a statement canceled (statement_timeout); 40001 and 40P01 (serialization failure, deadlock:
 * the transaction was undone whole); 55P03 lock not available.
 */
export function isConnectionError(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    return (
      ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN'].includes(code) ||
      /^(08|53)[0-9A-Z]{3}$/.test(code) ||
      ['57P01', '57P02', '57P03', '57014', '40001', '40P01', '55P03'].includes(code)
    );
  }
  // node-postgres raises these without a code when the server goes away mid-query or a pool cannot
  // hand out a connection.
  return typeof message === 'string' && PG_CONNECTION_LOST.some((text) => message.startsWith(text));
}

const PG_CONNECTION_LOST = [
  'Connection terminated',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
  'timeout exceeded when trying to connect',
];
