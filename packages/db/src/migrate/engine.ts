/**
 * The one module that touches Prisma's internal WebAssembly schema engine (the engine behind
 * `prisma migrate`, compiled to wasm and driven through the pg driver adapter). Prisma's native
 * engine binary cannot be downloaded on our machines; this one ships inside an npm package.
 * `@prisma/schema-engine-wasm` is pinned to the exact build prisma 7.10 uses (see the catalog).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import type {
  ApplyMigrationsOutput,
  DiffTarget,
  MigrationList,
  SchemaEngine,
} from '@prisma/schema-engine-wasm';
import type { Logger } from '@dagbag/logger';

export type { DiffTarget, MigrationList };

const require = createRequire(import.meta.url);

type SchemaEngineClass = typeof SchemaEngine;

/** The slice of the WebAssembly global we use (its types live in lib.dom, which we do not load). */
interface WasmGlobal {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (
    module: object,
    imports: Record<string, unknown>,
  ) => { exports: Record<string, unknown> };
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmGlobal }).WebAssembly;
let engineClass: Promise<SchemaEngineClass> | undefined;

/** Instantiates the wasm module once per process, as @prisma/internals does. */
function loadEngineClass(): Promise<SchemaEngineClass> {
  engineClass ??= (async () => {
    const runtime = await import('@prisma/schema-engine-wasm/schema_engine_bg');
    const wasmPath = require
      .resolve('@prisma/schema-engine-wasm/schema_engine_bg')
      .replace(/schema_engine_bg\.js$/, 'schema_engine_bg.wasm');
    const module = new Wasm.Module(await readFile(wasmPath));
    const instance = new Wasm.Instance(module, { './schema_engine_bg.js': runtime });
    (runtime as unknown as { __wbg_set_wasm(exports: unknown): void }).__wbg_set_wasm(
      instance.exports,
    );
    (instance.exports.__wbindgen_start as () => void)();
    return runtime.SchemaEngine;
  })();
  return engineClass;
}

/**
 * Prisma's pg adapter runs a migration script by splitting it at every `;` (adapter-pg 7.10,
 * `executeScript`), which cuts a function body (`$$ ... $$`) apart. PostgreSQL runs a script of
 * several statements in one simple query itself, which is how Prisma's native engine sends it:
 * this factory does the same, with the adapter's own error conversion.
 */
class WholeScriptPg extends PrismaPg {
  override async connect() {
    const adapter = await super.connect();
    const pool = adapter.underlyingDriver();
    adapter.executeScript = async (script: string) => {
      try {
        await pool.query(script);
      } catch (error) {
        (adapter as unknown as { onError(error: unknown): never }).onError(error);
      }
    };
    return adapter;
  }
}

export interface SchemaFile {
  path: string;
  content: string;
}

/**
 * Runs `work` with a schema engine connected to `databaseUrl` (or to nothing, for pure
 * datamodel diffs: the adapter only connects when the engine needs the database).
 */
export async function withSchemaEngine<T>(
  options: { databaseUrl: string; schema: SchemaFile; logger?: Logger },
  work: (engine: SchemaEngine) => Promise<T>,
): Promise<T> {
  const SchemaEngineClass = await loadEngineClass();
  // Our own pool, ended when the work is done: the engine takes a session-level advisory lock
  // (as `prisma migrate deploy` does) and only closing its connection releases it.
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 2 });
  pool.on('error', (error) =>
    options.logger?.warn({ err: error }, 'schema engine connection error'),
  );
  const adapter = bindMigrationAwareSqlAdapterFactory(new WholeScriptPg(pool));
  const debug = (message: unknown) => options.logger?.debug({ engine: message }, 'schema engine');
  const engine = await SchemaEngineClass.new(
    { datamodels: [[options.schema.path, options.schema.content]] },
    debug,
    adapter,
  );
  try {
    return await work(engine);
  } finally {
    engine.free();
    await pool.end();
  }
}

export const NO_FILTERS = { externalTables: [], externalEnums: [] };

export type { ApplyMigrationsOutput };
