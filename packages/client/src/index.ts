export {
  createDagbagClient,
  type DagbagClient,
  type DagbagClientOptions,
  type DagRunState,
  type Page,
  type Schemas,
  type WaitForRunOptions,
} from './client.ts';
export { DagbagApiError, DagbagUnreachableError, detailText } from './errors.ts';
export type { RetryOptions } from './retry.ts';
export type { components, operations, paths } from './schema.ts';
