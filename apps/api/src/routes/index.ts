/** Every endpoint of the API, each declared once (see ../route.ts), one module per resource. */
import type { RouteDefinition } from '../route.ts';
import type { RouteContext } from './common.ts';
import { dagParsingRoutes } from './dag-parsing.ts';
import { dagRunRoutes } from './dag-runs.ts';
import { dagSourceRoutes } from './dag-sources.ts';
import { dagStatsRoutes } from './dag-stats.ts';
import { dagRunReadRoutes } from './dag-run-reads.ts';
import { dagVersionRoutes } from './dag-versions.ts';
import { dagWarningRoutes } from './dag-warnings.ts';
import { dagRoutes } from './dags.ts';
import { eventLogRoutes } from './event-logs.ts';
import { importErrorRoutes } from './import-errors.ts';
import { monitorRoutes } from './monitor.ts';
import { taskInstanceRoutes } from './task-instances.ts';
import { taskInstanceChangeRoutes } from './task-instance-changes.ts';
import { taskInstanceReadRoutes } from './task-instance-reads.ts';
import { taskRoutes } from './tasks.ts';

export type { ApiDagBag, RouteContext } from './common.ts';

export function buildRoutes(ctx: RouteContext): RouteDefinition[] {
  return [
    ...monitorRoutes(ctx),
    ...dagRoutes(ctx),
    ...taskRoutes(ctx),
    ...importErrorRoutes(ctx),
    ...dagVersionRoutes(ctx),
    ...dagRunReadRoutes(ctx),
    ...dagRunRoutes(ctx),
    ...taskInstanceRoutes(ctx),
    ...dagSourceRoutes(ctx),
    ...dagStatsRoutes(ctx),
    ...dagWarningRoutes(ctx),
    ...taskInstanceChangeRoutes(ctx),
    // After the literal paths above: its `{task_id}/{map_index}` forms would shadow them.
    ...taskInstanceReadRoutes(ctx),
    ...eventLogRoutes(ctx),
    ...dagParsingRoutes(ctx),
  ];
}
