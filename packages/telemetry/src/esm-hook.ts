import { register as registerAsyncHooks } from 'node:module';
import {
  register as registerSyncHooks,
  supportsSyncHooks,
} from 'import-in-the-middle/register-hooks.mjs';

/**
 * The packages the instrumentations patch. Express and pg are CommonJS, but an ES module that
 * imports them gets them through Node's ESM loader, which require-in-the-middle never sees; the
 * import-in-the-middle hook covers that path. Restricting it to these packages keeps every other
 * import (and tsx's own hooks) untouched.
 */
export const INSTRUMENTED_PACKAGES = ['express', 'router', 'pg', 'pg-pool'];

/** The instrumented package a resolved module URL belongs to, if any (tests of import order). */
export function instrumentedPackageOf(url: string): string | undefined {
  return INSTRUMENTED_PACKAGES.find((name) => url.includes(`/node_modules/${name}/`));
}

let installed = false;

/**
 * Installs the ESM loader hook once per process. Only imports evaluated after this call are
 * instrumented, so it must run before the app's modules are imported (see register.ts).
 */
export function installEsmHook(): void {
  if (installed) return;
  installed = true;
  if (supportsSyncHooks()) {
    registerSyncHooks({ include: INSTRUMENTED_PACKAGES });
  } else {
    registerAsyncHooks('@opentelemetry/instrumentation/hook.mjs', import.meta.url, {
      data: { include: INSTRUMENTED_PACKAGES },
    });
  }
}
