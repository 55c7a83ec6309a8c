import { Client } from 'pg';

/**
 * What the test database holds, table by table (row count and a digest of every row), plus its
 * schema (columns, constraints, indexes) and each function's definition: equal snapshots before and
 * after a run mean the run left nothing behind, not a row nor a committed DDL change.
 */
export type DbSnapshot = Record<string, string>;

export async function snapshotDatabase(url: string): Promise<DbSnapshot> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const snapshot: DbSnapshot = {};
    const { rows: tables } = await client.query<{ name: string }>(
      `SELECT quote_ident(table_name) AS name FROM information_schema.tables
        WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`,
    );
    for (const { name } of tables) {
      const { rows } = await client.query<{ n: string; digest: string | null }>(
        `SELECT count(*) AS n, md5(string_agg(t::text, E'\\n' ORDER BY t::text)) AS digest FROM ${name} t`,
      );
      snapshot[`table ${name}`] = `${rows[0]?.n} rows, md5 ${rows[0]?.digest ?? '-'}`;
    }
    const { rows: functions } = await client.query<{ name: string; digest: string }>(
      `SELECT p.oid::regprocedure::text AS name, md5(pg_get_functiondef(p.oid)) AS digest
         FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p') ORDER BY 1`,
    );
    for (const { name, digest } of functions) snapshot[`function ${name}`] = `md5 ${digest}`;
    const { rows: schema } = await client.query<{ digest: string | null }>(
      `SELECT md5(string_agg(line, E'\\n' ORDER BY line)) AS digest FROM (
         SELECT format('column %s.%s %s %s %s', table_name, column_name, data_type, is_nullable, column_default) AS line
           FROM information_schema.columns WHERE table_schema = 'public'
         UNION ALL
         SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
           FROM pg_constraint WHERE connamespace = 'public'::regnamespace
         UNION ALL
         SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = 'public'
       ) s`,
    );
    snapshot['schema (columns, constraints, indexes)'] = `md5 ${schema[0]?.digest ?? '-'}`;
    return snapshot;
  } finally {
    await client.end();
  }
}
