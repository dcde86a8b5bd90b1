/**
 * The API process: config -> logger -> telemetry -> database -> DAG cache -> HTTP server.
 * Every setting (the API's, the DAG cache's, the database's, the telemetry's) is read and
 * validated here, once, and passed down as typed objects; no library reads the environment.
 * Express, pg and Prisma are imported only after telemetry has started, so that the
 * instrumentations patch them (modules loaded earlier stay unpatched).
 */
import { join } from 'node:path';
import { applyGcHeadroom, dataDir, effectiveSettings, startUntilStopped } from '@dagbag/config';
// The cache package patches nothing and imports neither express nor pg: safe before telemetry.
import { DagBag, cacheSettingsFrom } from '@dagbag/dagbag';
import { createLogger, reportStartFailure } from '@dagbag/logger';
import { metricsPortOf, startTelemetry } from '@dagbag/telemetry';
import { API_SETTINGS, readApiConfig, type ApiConfig } from './config.ts';
// Serialization only (node:crypto, no express or pg): safe before telemetry.
import { renderStructure } from './serialize.ts';

/** What the API's connections are called in pg_stat_activity. */
const APPLICATION_NAME = 'dagbag-api';

async function main(): Promise<void> {
  // Every variable is validated before anything starts; a bad one stops the process here.
  const config: ApiConfig = readApiConfig(process.env);
  const logger = createLogger({ name: 'api', level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  const data = dataDir(config.DATA_DIR);
  // Before the cache fills: V8's default headroom would let garbage grow to 3× the cache.
  applyGcHeadroom(config.API_GC_HEADROOM_PERCENT);
  const telemetry = await startTelemetry({
    serviceName: 'dagbag-api',
    metricsPort: metricsPortOf('dagbag-api', config),
    metricsHost: config.METRICS_HOST,
    otel: config,
    logger,
  });

  const [
    { openDatabase, createPrismaClient, createDagVersionLoader, Notifier, keepCacheCoherent },
    { createApp },
    { ListingCache },
    { startServer },
    { loadOrCreateDevelopmentToken },
  ] = await Promise.all([
    import('@dagbag/db'),
    import('./app.ts'),
    import('./listing-cache.ts'),
    import('./server.ts'),
    import('./auth.ts'),
  ]);

  let tokens = config.API_AUTH_TOKENS;
  if (tokens.length === 0) {
    const dev = loadOrCreateDevelopmentToken(data);
    tokens = [dev.token];
    // The message text is not redacted (only fields are): this line is the point of the feature.
    logger.warn(
      `API_AUTH_TOKENS is unset: development bearer token ${dev.created ? 'generated into' : 'loaded from'} ${dev.path}: ${dev.token}`,
    );
  }

  // The signal handlers come first (startUntilStopped): a SIGINT or SIGTERM while the database
  // started (an embedded one this process owns) or migrated ended this process alone, and its
  // embedded PostgreSQL ran on.
  await startUntilStopped(logger, startServing, async (started) => {
    await started?.stop();
    await telemetry.shutdown();
    logger.info({}, 'stopped');
  });

  interface Started {
    stop(): Promise<void>;
  }

  /** Database, DAG cache, notifications and the HTTP server; each stops what it started. */
  async function startServing(stopping: () => boolean): Promise<Started> {
    const database = await openDatabase({ settings: config, dataDir: data, logger });
    const stops: (() => Promise<void> | void)[] = [() => database.stop()];
    const stop = async () => {
      // The reverse order of the start: an embedded server we own stops last.
      for (const step of stops.reverse()) await step();
    };
    try {
      // Stopped while the database started or migrated: go no further.
      if (stopping()) throw new Error('stopped while starting');
      const prisma = createPrismaClient({
        url: database.url,
        settings: config,
        applicationName: APPLICATION_NAME,
      });
      stops.push(() => prisma.$disconnect());
      const dagBag = new DagBag({
        role: 'api',
        loader: createDagVersionLoader(prisma),
        settings: cacheSettingsFrom('api', config),
        logger,
        // The structure answer's JSON bytes and ETag, made once per cached version.
        render: renderStructure,
      });
      stops.push(() => dagBag.close());
      // DATABASE_NOTIFICATIONS=on: a version changed in place leaves the cache within
      // milliseconds instead of at the next hash revalidation (DAG_CACHE_REVALIDATE_SECONDS).
      const notifier =
        config.DATABASE_NOTIFICATIONS === 'on'
          ? new Notifier({
              // DATABASE_DIRECT_URL when set: LISTEN needs a session, which a pooler in
              // transaction mode (DATABASE_URL) does not keep.
              url: database.migrationUrl,
              logger: logger.child({ component: 'notifications' }),
              applicationName: 'dagbag-api-listener',
            })
          : undefined;
      // GET /dags answers, served only while the notifier listens (without one: never).
      const listingCache = new ListingCache({ maxBytes: config.API_LISTING_CACHE_MAX_BYTES });
      stops.push(() => listingCache.close());
      if (notifier) {
        stops.push(() => notifier.close());
        keepCacheCoherent(notifier, dagBag, logger);
        listingCache.follow(notifier);
        notifier.start();
      }
      const app = createApp({
        prisma,
        dagBag,
        listingCache,
        logger,
        logsDir: join(data, 'logs'),
        config: {
          authTokens: tokens,
          bodyLimitBytes: config.API_BODY_LIMIT_BYTES,
          bodyMaxDepth: config.API_BODY_MAX_DEPTH,
          gitVersion: config.GIT_COMMIT ?? null,
        },
      });
      const running = await startServer(app, {
        host: config.API_HOST,
        port: config.API_PORT,
        logger,
        shutdownTimeoutMs: config.API_SHUTDOWN_TIMEOUT_MS,
        headersTimeoutMs: config.API_HEADERS_TIMEOUT_MS,
        requestTimeoutMs: config.API_REQUEST_TIMEOUT_MS,
      });
      stops.push(() => running.close()); // drains in-flight requests
      logger.info(
        {
          url: running.url,
          docs: `${running.url}/api/v2/openapi.json`,
          // Every variable with the value in effect (tokens and passwords redacted).
          settings: { ...effectiveSettings(API_SETTINGS, config), DATA_DIR: data },
        },
        'REST API listening',
      );
      return { stop };
    } catch (error) {
      await stop();
      throw error;
    }
  }
}

main().catch((error: unknown) => {
  // Bad settings: exit code 2 and a line per bad variable, in the LOG_FORMAT asked for.
  process.exit(reportStartFailure('api', 'the API could not start', error, process.env));
});
