/**
 * Fills an empty, migrated dagbag database with a year of a busy installation (big-database.sql:
 * 2,000 DAGs, 1,000,000 runs, ~4.5 million task instances, ~3.4 million earlier tries, 3 million
 * audit events, import errors), then VACUUM ANALYZE. Never point it at a database you keep.
 *
 *   DATABASE_URL=postgres://postgres:$(cat /tmp/big/postgres.password)@127.0.0.1:47613/dagbag node packages/db/bench/big-database.ts
 *
 * Start the API (or `pnpm db:migrate`) on that database first so the schema is the real one,
 * migrated; then see api-latency.ts and explain.ts.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';

const url = process.env.DATABASE_URL;
if (!url) throw new Error('DATABASE_URL: the URL of an empty, migrated dagbag database');
const client = new pg.Client({ connectionString: url });
await client.connect();
try {
  const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM dag_run');
  if (Number(rows[0]!.n) > 0) throw new Error('DATABASE_URL: the database has runs already');
  const started = Date.now();
  await client.query(readFileSync(new URL('big-database.sql', import.meta.url), 'utf8'));
  await client.query('VACUUM ANALYZE');
  console.log(`filled in ${((Date.now() - started) / 1000).toFixed(0)} s`);
} finally {
  await client.end();
}
