/**
 * The bare-Express floor of `pnpm bench:hotpath`: Express 5 with nothing but the API's own bearer
 * check, answering
 *   GET /structure  the exact bytes the API answers for the warm structure (held in memory);
 *   GET /dags       the same SQL as the API's `GET /dags?limit=50` through a plain `pg` pool,
 *                   rows sent with `res.json` (what a driver and the framework need, nothing more).
 * No logger, no telemetry, no validation, no ORM. Started by bench/hotpath.ts as its own process;
 * prints `listening <port>` on its IPC channel.
 */
import express from 'express';
import pg from 'pg';
import { requireBearerToken } from '../src/auth.ts';

const structure = Buffer.from(process.env.FLOOR_STRUCTURE_BODY ?? '{}', 'utf8');
const dagsSql = process.env.FLOOR_DAGS_SQL ?? 'SELECT 1';
const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.FLOOR_POOL_MAX ?? 10),
});

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.use(requireBearerToken([process.env.FLOOR_TOKEN ?? ''], new Set()));
app.get('/structure', (_req, res) => {
  res.type('application/json').send(structure);
});
app.get('/dags', async (_req, res) => {
  const { rows } = await pool.query(dagsSql);
  res.json({ dags: rows, total_entries: rows.length });
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void pool.end().then(() => process.exit(0));
});
