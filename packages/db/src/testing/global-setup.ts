/**
 * vitest globalSetup: one embedded PostgreSQL for the whole test run (random free port, data in
 * a temp folder, durability off), plus a template database migrated once. Each test file then
 * clones the template (`createTestDatabase`), which takes milliseconds.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../embedded.ts';
import { migrateDatabase } from '../migrate/operations.ts';
import './provided.ts';
import { freePort } from '@dagbag/config/testing/free-port';

export const TEMPLATE_DATABASE = 'dagbag_template';

export default async function setup(project: TestProject) {
  const dataDir = await mkdtemp(join(tmpdir(), 'dagbag-test-pg-'));
  const server = await startEmbeddedPostgres({
    dataDir,
    port: await freePort(),
    postgresFlags: [
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=300',
    ],
  });
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  await admin.end();
  await migrateDatabase(server.urlFor(TEMPLATE_DATABASE));
  project.provide('pgAdminUrl', server.url);
  project.provide('pgTemplate', TEMPLATE_DATABASE);
  return async () => {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
    await rm(`${dataDir}.password`, { force: true });
  };
}
