/**
 * The DAG file processor: reads DAGS_FOLDER, validates each file with the dagbag document schema
 * and brings the database in line: new DAGs and versions, in-place updates of unused versions,
 * stale DAGs, import errors. Each file is handled on its own, so one bad file never affects
 * another. Only the scheduler holding the processor lock processes; the others skip the scan.
 */
import { stat } from 'node:fs/promises';
import { relative } from 'node:path';
import {
  DAGS_FOLDER_BUNDLE,
  duplicateDagIdProblem,
  firstDagrun,
  formatProblems,
  listDagFiles,
  parseDagSource,
  readDagFile,
  type DagDocument,
  type DagProblem,
} from '@dagbag/dagbag';
import {
  clearImportErrors,
  currentDagFilelocs,
  dagFileFields,
  markStaleDags,
  recordImportError,
  syncDagFromFile,
  takeDagFileParseRequests,
  type DagProcessorLock,
  type DagSyncOutcome,
  type PrismaClient,
} from '@dagbag/db';
import type { Logger } from '@dagbag/logger';

export interface ProcessorSummary {
  /** False when another scheduler holds the processor lock: nothing was read or written. */
  processed: boolean;
  files: number;
  created: string[];
  newVersions: string[];
  updatedInPlace: string[];
  unchanged: string[];
  importErrors: string[];
  stale: string[];
}

type FileResult =
  | { ok: true; document: DagDocument; hash: string; text: string }
  | { ok: false; errors: DagProblem[] };

interface CachedParse {
  text: string;
  result: FileResult;
}

export interface DagFileProcessorOptions {
  prisma: PrismaClient;
  lock: Pick<DagProcessorLock, 'tryAcquire' | 'release'>;
  dagsFolder: string;
  logger: Logger;
  now?: () => Date;
}

export class DagFileProcessor {
  private readonly parses = new Map<string, CachedParse>();
  /** Text last written (or found current) per file while we held the lock: skip the DB for it. */
  private readonly synced = new Map<string, string>();
  private holdingLock = false;
  /** Whether the last scan found no DAGS_FOLDER (said once, when it goes missing). */
  private folderMissing = false;
  private readonly now: () => Date;

  private readonly options: DagFileProcessorOptions;

  constructor(options: DagFileProcessorOptions) {
    this.options = options;
    this.now = options.now ?? (() => new Date());
  }

  async processOnce(): Promise<ProcessorSummary> {
    const summary: ProcessorSummary = {
      processed: false,
      files: 0,
      created: [],
      newVersions: [],
      updatedInPlace: [],
      unchanged: [],
      importErrors: [],
      stale: [],
    };
    const locked = await this.options.lock.tryAcquire();
    if (!locked) {
      this.holdingLock = false;
      return summary;
    }
    if (!this.holdingLock) this.synced.clear(); // someone else may have written meanwhile
    this.holdingLock = true;
    summary.processed = true;

    const { prisma, dagsFolder, logger } = this.options;
    // PUT /parseDagFile (or a deleted DAG): forget what we know of those files, so they are reread
    // and written again on this pass even though their text did not change.
    const requested = new Set(await takeDagFileParseRequests(prisma));
    for (const fileloc of requested) {
      this.parses.delete(fileloc);
      this.synced.delete(fileloc);
    }
    await this.checkFolder();
    const files = await listDagFiles(dagsFolder);
    summary.files = files.length;
    const live = new Set(files);
    for (const path of [...this.parses.keys()]) if (!live.has(path)) this.parses.delete(path);
    for (const path of [...this.synced.keys()]) if (!live.has(path)) this.synced.delete(path);

    const broken = new Map<string, DagProblem[]>();
    const parsed: { path: string; document: DagDocument; hash: string; text: string }[] = [];
    const claimants = new Map<string, string[]>();
    for (const path of files) {
      const result = await this.parse(path);
      if (!result.ok) {
        broken.set(path, result.errors);
        continue;
      }
      parsed.push({ path, document: result.document, hash: result.hash, text: result.text });
      const paths = claimants.get(result.document.dag_id);
      if (paths === undefined) claimants.set(result.document.dag_id, [path]);
      else paths.push(path);
    }
    // Several files define one dag_id: the file already holding the DAG keeps it (else the first
    // in name order), and only the others get the import error.
    const contested = [...claimants].filter(([, paths]) => paths.length > 1).map(([id]) => id);
    const holders = await currentDagFilelocs(prisma, contested);
    const definedBy = new Map<string, string>();
    const defined: typeof parsed = [];
    for (const file of parsed) {
      const dagId = file.document.dag_id;
      const paths = claimants.get(dagId)!;
      const holder = holders.get(dagId);
      const owner = holder !== undefined && paths.includes(holder) ? holder : paths[0]!;
      if (file.path !== owner) {
        broken.set(file.path, [duplicateDagIdProblem(dagId, relative(dagsFolder, owner))]);
        continue;
      }
      definedBy.set(dagId, file.path);
      defined.push(file);
    }

    // Import errors say how the files parsed, which is known now: recorded and cleared before
    // any DAG is stored, so a file fixed mid-write (read half-written on one pass, whole on the
    // next) never shows its new version beside the import error of the pass before, which made
    // triggers of that DAG answer 400 in the meantime. A file that storing finds to duplicate a
    // DAG another file holds is reported after the stores.
    const reportImportErrors = async () => {
      const relativeBroken = new Map(
        [...broken].map(([path, problems]) => [relative(dagsFolder, path), problems]),
      );
      summary.importErrors = [];
      for (const [filename, problems] of relativeBroken) {
        const stacktrace = formatProblems(filename, problems);
        if (
          await recordImportError(prisma, { filename, bundleName: DAGS_FOLDER_BUNDLE, stacktrace })
        ) {
          logger.warn({ file: filename, problems }, `DAG file has errors: ${stacktrace}`);
        }
        summary.importErrors.push(filename);
      }
      await clearImportErrors(prisma, {
        bundleName: DAGS_FOLDER_BUNDLE,
        keep: [...relativeBroken.keys()],
      });
    };
    await reportImportErrors();
    const brokenBeforeStores = broken.size;
    // A DAG stays with its file while that file is there but broken; a file that parsed and now
    // defines another DAG (a rename) holds nothing, so the DAG may move to another file.
    const brokenFiles: ReadonlySet<string> = new Set(broken.keys());
    let firstFailure: unknown;
    let successes = 0;
    for (const file of defined) {
      // Text, not hash: a comment edit keeps the version but the stored source follows it.
      if (this.synced.get(file.path) === file.text) {
        summary.unchanged.push(file.document.dag_id);
        successes++;
        continue;
      }
      try {
        const outcome = await this.sync(file, brokenFiles, requested.has(file.path));
        successes++;
        this.record(summary, file.document.dag_id, outcome, file.path, broken);
        if (typeof outcome === 'string') this.synced.set(file.path, file.text);
      } catch (error) {
        firstFailure ??= error;
        logger.error({ err: error, file: file.path }, 'storing a DAG failed');
      }
    }
    // Every write failed: most likely the database is gone; let the caller back off.
    if (firstFailure !== undefined && successes === 0)
      throw firstFailure instanceof Error
        ? firstFailure
        : new Error('storing the DAG files failed', { cause: firstFailure });
    if (broken.size !== brokenBeforeStores) await reportImportErrors();

    summary.stale = await markStaleDags(prisma, {
      definedDagIds: [...definedBy.keys()],
      brokenFilelocs: [...broken.keys()],
    });
    if (summary.stale.length > 0)
      logger.info({ dagIds: summary.stale }, 'DAGs whose file is gone are now stale');
    return summary;
  }

  async close(): Promise<void> {
    this.holdingLock = false;
    await this.options.lock.release();
  }

  private record(
    summary: ProcessorSummary,
    dagId: string,
    outcome: DagSyncOutcome,
    path: string,
    broken: Map<string, DagProblem[]>,
  ): void {
    const { logger } = this.options;
    if (typeof outcome === 'object') {
      broken.set(path, [
        duplicateDagIdProblem(dagId, relative(this.options.dagsFolder, outcome.duplicateOf)),
      ]);
      return;
    }
    switch (outcome) {
      case 'created':
        summary.created.push(dagId);
        logger.info({ dagId, file: path }, 'new DAG');
        break;
      case 'new_version':
        summary.newVersions.push(dagId);
        logger.info({ dagId, file: path }, 'DAG changed: new version');
        break;
      case 'updated_in_place':
        summary.updatedInPlace.push(dagId);
        logger.info(
          { dagId, file: path },
          'DAG changed: latest version (never used) updated in place',
        );
        break;
      case 'metadata_updated':
      case 'unchanged':
        summary.unchanged.push(dagId);
        break;
    }
  }

  private async sync(
    file: { path: string; document: DagDocument; hash: string; text: string },
    holders: ReadonlySet<string>,
    parseRequested: boolean,
  ): Promise<DagSyncOutcome> {
    const { path, document, hash } = file;
    const fields = dagFileFields(document, {
      fileloc: path,
      relativeFileloc: relative(this.options.dagsFolder, path),
    });
    return syncDagFromFile(this.options.prisma, {
      fields,
      data: document,
      dagHash: hash,
      firstDagrun: (after) =>
        firstDagrun(
          document.schedule,
          fields.startDate,
          document.catchup,
          this.now(),
          after,
          fields.timezone,
        ),
      liveFilelocs: holders,
      sourceCode: file.text,
      pausedUponCreation: document.is_paused_upon_creation,
      parseRequested,
    });
  }

  /**
   * Parses a file, or reuses the last parse while its text is unchanged (reading is cheap, parsing
   * and validating are not; comparing text rather than mtime cannot miss a same-size edit).
   */
  /**
   * A DAGS_FOLDER that does not exist reads as an empty folder (the DAGs of files no longer there
   * turn stale), which a typo in the variable made silent: said once when it goes missing, and
   * again when it is there.
   */
  private async checkFolder(): Promise<void> {
    const { dagsFolder, logger } = this.options;
    const missing = !(await stat(dagsFolder).then(
      (info) => info.isDirectory(),
      () => false,
    ));
    if (missing === this.folderMissing) return;
    this.folderMissing = missing;
    if (missing)
      logger.warn(
        { dagsFolder },
        `DAGS_FOLDER ${dagsFolder} is not a folder: no DAG file is read until it is (set DAGS_FOLDER to the folder of your DAG files)`,
      );
    else logger.info({ dagsFolder }, `DAGS_FOLDER ${dagsFolder} is there: reading its DAG files`);
  }

  private async parse(path: string): Promise<FileResult> {
    const read = await readDagFile(path);
    if (!read.ok) {
      this.parses.delete(path);
      return read;
    }
    const { text } = read;
    const cached = this.parses.get(path);
    if (cached && cached.text === text) return cached.result;
    const parsed = parseDagSource(text, path);
    const result: FileResult = parsed.ok ? { ...parsed, text } : parsed;
    this.parses.set(path, { text, result });
    return result;
  }
}
