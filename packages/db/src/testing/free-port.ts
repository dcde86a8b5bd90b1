import { createServer } from 'node:net';

/**
 * A free loopback port for a server a test or benchmark is about to start. Picked below the
 * kernel's ephemeral range (32768+): a port from `listen(0)` is released before the child binds
 * it, and any process's outgoing connection may take it meanwhile.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}
