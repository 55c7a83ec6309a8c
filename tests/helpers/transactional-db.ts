import type { Client, QueryResultRow } from 'pg';
import type { Db } from '../../lib/db';

/**
 * A Db over one connection that is inside a transaction for the whole test (rolled back after it).
 * The code under test's own transactions become savepoints. Savepoints on one connection are a
 * stack, so concurrent handler calls in one test take turns: while one runs a transaction, every
 * other query waits, and no savepoint is ever released or rolled back out of order.
 */
export class TransactionalTestDb implements Db {
  private queue: Promise<unknown> = Promise.resolve();
  private depth = 0;

  constructor(private readonly client: Client) {}

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  query<R extends QueryResultRow>(text: string, params?: unknown[]) {
    return this.exclusive(() => this.client.query<R>(text, params));
  }

  transaction<T>(work: (tx: Db) => Promise<T>): Promise<T> {
    return this.exclusive(() => this.savepoint(work));
  }

  /** Inside a turn: queries go straight to the connection, nested transactions nest savepoints. */
  private async savepoint<T>(work: (tx: Db) => Promise<T>): Promise<T> {
    const name = `test_sp_${++this.depth}`;
    const inner: Db = {
      query: <R extends QueryResultRow>(text: string, params?: unknown[]) => this.client.query<R>(text, params),
      transaction: (nested) => this.savepoint(nested),
    };
    await this.client.query(`SAVEPOINT ${name}`);
    try {
      const result = await work(inner);
      await this.client.query(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (error) {
      await this.client.query(`ROLLBACK TO SAVEPOINT ${name}`);
      await this.client.query(`RELEASE SAVEPOINT ${name}`);
      throw error;
    } finally {
      this.depth -= 1;
    }
  }
}
