import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@dagbag/logger';
import type { Express } from 'express';
import { DEFAULT_HEADERS_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS } from './config.ts';

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
  options: {
    host: string;
    port: number;
    logger: Logger;
    shutdownTimeoutMs?: number;
    /** Slow-loris bound: the request line and headers must arrive within this time. */
    headersTimeoutMs?: number;
    /** The whole request, body included, must arrive within this time. */
    requestTimeoutMs?: number;
  },
): Promise<RunningServer> {
  const headersTimeout = options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
  const requestTimeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  // Node checks these timeouts only every connectionsCheckingInterval (30 s by default), so a slow
  // client would be cut up to 30 s late: check often enough that the settings mean what they say.
  const server = createServer(
    {
      headersTimeout,
      requestTimeout,
      connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(headersTimeout / 10))),
    },
    app,
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
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
