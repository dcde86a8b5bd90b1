/**
 * The scheduler process: config -> logger -> telemetry -> database -> scheduler, and a clean
 * exit on SIGTERM/SIGINT (stop taking work, let running tasks finish or hand them back, exit 0).
 *
 * Every setting (the scheduler's, the DAG cache's, the database's, the telemetry's) is read and
 * validated here, once, and passed down as typed objects; no library reads the environment.
 * pg, Prisma and `@dagbag/db` are imported only after telemetry has started, so that the pg
 * instrumentation patches them (modules loaded earlier stay unpatched: no PostgreSQL spans).
 */
// The cache package patches nothing and imports neither express nor pg: safe before telemetry.
import { applyGcHeadroom, startUntilStopped } from '@dagbag/config';
import { createLogger, reportStartFailure } from '@dagbag/logger';
import { startTelemetry } from '@dagbag/telemetry';
// Reads the setting shapes of @dagbag/config, @dagbag/dagbag, @dagbag/db/settings and
// @dagbag/telemetry only.
import { ignoredVariableLine, readSchedulerConfig, type SchedulerConfig } from './config.ts';

/** What the scheduler's connections are called in pg_stat_activity. */
const APPLICATION_NAME = 'dagbag-scheduler';

async function main(): Promise<void> {
  // Every variable is checked before anything starts: a typo stops the process at once.
  const config: SchedulerConfig = readSchedulerConfig(process.env);
  const logger = createLogger({ name: 'scheduler', ...config.logging });
  for (const ignored of config.ignored)
    logger.warn({ variable: ignored.variable }, ignoredVariableLine(ignored));
  applyGcHeadroom(config.gcHeadroomPercent);
  // First, so the instruments created below are exported and pg is patched when it loads.
  const telemetry = await startTelemetry({
    serviceName: 'dagbag-scheduler',
    metricsPort: config.metricsPort,
    metricsHost: config.metricsHost,
    otel: config.otel,
    logger,
  });
  const [{ createPrismaClient, openDatabase }, { createScheduler }] = await Promise.all([
    import('@dagbag/db'),
    import('./scheduler.ts'),
  ]);

  // The signal handlers come first (startUntilStopped): a SIGINT or SIGTERM while the database
  // started (an embedded one this process owns), migrated or the scheduler registered ended this
  // process alone, and its embedded PostgreSQL ran on.
  const started = await startUntilStopped(
    logger,
    async (stopping) => {
      const database = await openDatabase({
        settings: config.database,
        dataDir: config.dataDir,
        logger,
      });
      try {
        if (stopping()) throw new Error('stopped while starting');
        const prisma = createPrismaClient({
          url: database.url,
          settings: config.database,
          applicationName: APPLICATION_NAME,
        });
        try {
          const scheduler = await createScheduler({
            prisma,
            databaseUrl: database.url,
            // DATABASE_DIRECT_URL when set: the processor lock and LISTEN need a session.
            sessionUrl: database.migrationUrl,
            config,
            logger,
            meter: telemetry.meterProvider.getMeter('@dagbag/scheduler'),
            notifications: config.database.DATABASE_NOTIFICATIONS === 'on',
          });
          return { database, prisma, scheduler };
        } catch (error) {
          await prisma.$disconnect();
          throw error;
        }
      } catch (error) {
        await database.stop();
        throw error;
      }
    },
    async (started) => {
      await started?.scheduler.stop();
      await started?.prisma.$disconnect();
      await telemetry.shutdown();
      await started?.database.stop(); // an embedded server we own stops last
    },
  );
  started?.scheduler.start();
}

void main().catch((error: unknown) => {
  // Bad settings: exit code 2 and a line per bad variable, in the LOG_FORMAT asked for.
  process.exit(
    reportStartFailure('scheduler', 'the scheduler could not start', error, process.env),
  );
});
