/** A scheduler whose database connections go through a TCP proxy, so a test can cut them. */
import { createPrismaClient, defaultDatabaseSettings, type PrismaClient } from '@dagbag/db';
import type { Logger } from '@dagbag/logger';
import { createScheduler, type Scheduler } from '../scheduler.ts';
import type { Harness } from './harness.ts';
import { createTcpProxy, type TcpProxy } from './tcp-proxy.ts';

export interface SchedulerBehindProxy {
  proxy: TcpProxy;
  prisma: PrismaClient;
  scheduler: Scheduler;
  close(): Promise<void>;
}

export async function startSchedulerBehindProxy(
  h: Harness,
  options: { env: Record<string, string>; logger: Logger },
): Promise<SchedulerBehindProxy> {
  const target = new URL(h.db.url);
  const proxy = await createTcpProxy(target.hostname, Number(target.port));
  const viaProxy = new URL(h.db.url);
  viaProxy.port = String(proxy.port);
  // A short connect timeout: a cut connection fails at once instead of hanging the loop.
  const prisma = createPrismaClient({
    url: viaProxy.toString(),
    settings: { ...defaultDatabaseSettings(), DATABASE_CONNECT_TIMEOUT_MS: 300 },
    applicationName: 'test:scheduler-behind-proxy',
  });
  const scheduler = await createScheduler({
    prisma,
    databaseUrl: viaProxy.toString(),
    config: h.config(options.env),
    logger: options.logger,
    logsRoot: h.logsRoot,
    dagBag: { settings: {} },
  });
  scheduler.start();
  return {
    proxy,
    prisma,
    scheduler,
    async close() {
      await scheduler.stop(0);
      await prisma.$disconnect();
      await proxy.close();
    },
  };
}
