/**
 * `node --import @dagbag/telemetry/register src/main.ts` (or `tsx --import ...`): installs the
 * ESM instrumentation hook before the entry module's static imports are evaluated, so an app
 * whose main.ts imports express or pg statically is still instrumented. `startTelemetry` then
 * runs first thing in main. Apps that import their server code dynamically after
 * `startTelemetry` do not need this (startTelemetry installs the hook too).
 */
import { installEsmHook } from './esm-hook.ts';

installEsmHook();
