import { closeSync, mkdirSync, openSync, statSync, unlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Claims outlive the gap between picking a port and a child binding it, and a child's restart
 * on the same port; after this long a claim is considered abandoned and may be taken again.
 */
const CLAIM_LIFETIME_MS = 30 * 60_000;
const CLAIMS_DIR = join(tmpdir(), 'dagbag-port-claims');

/**
 * A free loopback port for a server a test or benchmark is about to start, claimed for this
 * process.
 *
 * Two races make "listen on it for a moment" unsafe: the port is released before the child binds
 * it, so (1) any process's outgoing connection may take it meanwhile, which picking below the
 * kernel's ephemeral range (32768+) avoids, and (2) another test process running in parallel may
 * pick the same port, which an exclusive claim file per port (shared by every checkout on the
 * machine) avoids.
 */
export async function freePort(): Promise<number> {
  mkdirSync(CLAIMS_DIR, { recursive: true });
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (claim(port) && (await listenable(port))) return port;
  }
}

function claim(port: number): boolean {
  const file = join(CLAIMS_DIR, String(port));
  try {
    closeSync(openSync(file, 'wx'));
    return true;
  } catch {
    try {
      if (Date.now() - statSync(file).mtimeMs < CLAIM_LIFETIME_MS) return false;
      unlinkSync(file);
      closeSync(openSync(file, 'wx'));
      return true;
    } catch {
      return false; // another process recycled the same stale claim first
    }
  }
}

function listenable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
