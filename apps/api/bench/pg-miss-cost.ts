/**
 * What PostgreSQL spends on one cache miss of the structure endpoint, by part, in CPU time of the
 * server (bench/cpu.ts), on 2,000 documents of about 44 KB (the incident sweep's average):
 *
 *   node --import tsx bench/pg-miss-cost.ts
 *
 * The same documents in three tables that differ only in how `data jsonb` is stored (the default,
 * compressed out of line with pglz; EXTERNAL: out of line, uncompressed; MAIN: compressed in line
 * where it fits), read one row per query as the loader reads them (`data::text`), and variants
 * that stop earlier: the row without the document, the document decompressed but not rendered as
 * text, rendered but not sent, and the read as a prepared statement or eight rows per query.
 * lz4 is not measured: the embedded PostgreSQL is built without it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { makeDagDocument } from '@dagbag/dagbag/testing';
import { startEmbeddedPostgres } from '@dagbag/db';
import { freePort } from '@dagbag/config/testing/free-port';
import { postgresCpuSeconds } from './cpu.ts';

const ROWS = 2000;
const dataDir = mkdtempSync(join(tmpdir(), 'dagbag-pg-miss-cost-'));
const server = await startEmbeddedPostgres({
  dataDir,
  port: await freePort(),
  postgresFlags: ['-c', 'fsync=off', '-c', 'shared_buffers=256MB'],
});
const client = new pg.Client({ connectionString: server.url });
await client.connect();
try {
  const tables = { pglz: 'default (pglz)', external: 'EXTERNAL', main: 'MAIN' } as const;
  for (const name of Object.keys(tables)) {
    await client.query(`CREATE TABLE doc_${name} (id int PRIMARY KEY, data jsonb NOT NULL)`);
  }
  await client.query('ALTER TABLE doc_external ALTER COLUMN data SET STORAGE EXTERNAL');
  await client.query('ALTER TABLE doc_main ALTER COLUMN data SET STORAGE MAIN');
  let bytes = 0;
  for (let i = 0; i < ROWS; i++) {
    const document = makeDagDocument({ seed: i % 400, targetBytes: 44_000 });
    const text = JSON.stringify({ ...document, dag_id: `d${i}` });
    bytes += Buffer.byteLength(text);
    for (const name of Object.keys(tables))
      await client.query(`INSERT INTO doc_${name} VALUES ($1, $2)`, [i, text]);
  }
  await client.query('VACUUM ANALYZE');
  console.log(`${ROWS} documents, ${Math.round(bytes / ROWS)} bytes on average`);
  for (const [name, label] of Object.entries(tables)) {
    const { rows } = await client.query<{ size: string }>(
      `SELECT pg_total_relation_size('doc_${name}') AS size`,
    );
    console.log(`storage ${label}: ${(Number(rows[0]!.size) / 1024 / 1024).toFixed(1)} MiB`);
  }

  const measure = async (label: string, sql: string, batch = 1, prepared = false) => {
    const query = (ids: number[]) =>
      client.query(
        prepared ? { name: label, text: sql, values: [ids] } : { text: sql, values: [ids] },
      );
    for (let i = 0; i < 200; i++) await query([i]);
    const before = postgresCpuSeconds(dataDir);
    for (let i = 0; i < ROWS; i += batch)
      await query(Array.from({ length: batch }, (_, k) => i + k));
    const ms = ((postgresCpuSeconds(dataDir) - before) * 1000) / ROWS;
    console.log(`| ${label} | ${ms.toFixed(3)} ms |`);
  };
  console.log('| read (one row per query unless said) | PostgreSQL CPU per row |');
  console.log('|---|---:|');
  const where = 'WHERE id = ANY($1)';
  await measure('the row without its document', `SELECT id FROM doc_pglz ${where}`);
  await measure(
    'document decompressed, not rendered',
    `SELECT id, jsonb_typeof(data->'tasks') FROM doc_pglz ${where}`,
  );
  await measure(
    'document rendered as text, not sent',
    `SELECT id, octet_length(data::text) FROM doc_pglz ${where}`,
  );
  for (const [name, label] of Object.entries(tables))
    await measure(
      `data::text, storage ${label}`,
      `SELECT id, data::text FROM doc_${name} ${where}`,
    );
  await measure(
    'data::text, prepared statement',
    `SELECT id, data::text FROM doc_pglz ${where}`,
    1,
    true,
  );
  await measure('data::text, 8 rows per query', `SELECT id, data::text FROM doc_pglz ${where}`, 8);
} finally {
  await client.end();
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
