export {
  createDagbagClient,
  readThroughRestarts,
  type DagbagClient,
  type DagbagClientOptions,
  type DagRunState,
  type Page,
  type Schemas,
  type WaitForRunOptions,
  WAIT_RECONNECT_MS,
} from './client.ts';
export { DagbagApiError, DagbagUnreachableError, detailText } from './errors.ts';
export { isConnectionLoss, type RetryOptions } from './retry.ts';
export type { components, operations, paths } from './schema.ts';
