// Test fixture: a process that starts the embedded server and then waits to be killed.
import { startEmbeddedPostgres } from '../embedded.ts';

const [dataDir, port] = process.argv.slice(2);
await startEmbeddedPostgres({ dataDir: dataDir!, port: Number(port) });
process.stdout.write('ready\n');
setInterval(() => {}, 1 << 30);
