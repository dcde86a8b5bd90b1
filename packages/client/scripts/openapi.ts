/** The API's OpenAPI document, built from the app's route declarations (no server, no database). */
import { createApp, type ApiApp } from '@dagbag/api';
import { DagBag } from '@dagbag/dagbag';
import { createDagVersionLoader, createPrismaClient, defaultDatabaseSettings } from '@dagbag/db';
import { silentLogger } from '@dagbag/logger';

export const SCHEMA_FILE = new URL('../src/schema.ts', import.meta.url);

export function appOpenApiDocument(): ApiApp['openApiDocument'] {
  // A client that never connects: building the app declares its routes and nothing is queried.
  const prisma = createPrismaClient({
    url: 'postgresql://unused@127.0.0.1:1/unused',
    applicationName: 'dagbag-openapi',
    settings: defaultDatabaseSettings(),
  });
  const dagBag = new DagBag({ role: 'api', loader: createDagVersionLoader(prisma), settings: {} });
  try {
    const app = createApp({
      prisma,
      dagBag,
      logger: silentLogger,
      logsDir: '/nonexistent',
      config: { authTokens: ['unused'], bodyLimitBytes: 1024, bodyMaxDepth: 8 },
    });
    return app.openApiDocument;
  } finally {
    dagBag.close();
  }
}
