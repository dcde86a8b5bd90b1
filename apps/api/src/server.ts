import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@dagbag/logger';
import type { Express } from 'express';

export interface RunningServer {
  server: Server;
  url: string;
  port: number;
  /**
   * Stops accepting connections, lets in-flight requests finish (idle keep-alive sockets are
   * closed at once), and after `timeoutMs` cuts whatever is still open. Resolves when closed.
   */
  close(timeoutMs?: number): Promise<void>;
}

export async function startServer(
  app: Express,
  options: { host: string; port: number; logger: Logger; shutdownTimeoutMs?: number },
): Promise<RunningServer> {
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(options.port, options.host, (error?: Error) =>
      error ? reject(error) : resolve(listening),
    );
  });
  // Slow-loris protection and a bound on how long a request may take to arrive.
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  let closing: Promise<void> | undefined;
  // While draining, each finished response leaves an idle keep-alive socket behind that would
  // hold close() until the client's keep-alive ends: tell clients to close, and close idle sockets.
  server.on('request', (_req, res) => {
    if (closing) res.setHeader('Connection', 'close');
    res.once('finish', () => {
      if (closing) setImmediate(() => server.closeIdleConnections());
    });
  });
  return {
    server,
    port,
    url: `http://${host}:${port}`,
    close(timeoutMs = options.shutdownTimeoutMs ?? 10_000) {
      closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          options.logger.warn(
            { timeoutMs },
            'in-flight requests did not finish in time; closing their connections',
          );
          server.closeAllConnections();
        }, timeoutMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
