/**
 * A process for index.test.ts: logs one line on the buffered stdout, then, on SIGINT, logs again
 * and exits 0, as an app's shutdown does.
 */
import { createLogger } from '../index.ts';

const logger = createLogger({ name: 'child', level: 'info', format: 'json' });
logger.info('started');
const alive = setInterval(() => undefined, 1000);
process.once('SIGINT', () => {
  clearInterval(alive);
  logger.info('stopping');
  process.exit(0);
});
