import { Prisma, type PrismaClient } from '../../generated/prisma/client.ts';
import {
  containsPatternSql,
  orderBySql,
  countRows,
  pageTotal,
  whereSql,
  type Page,
  type Pagination,
  type SortKey,
} from './common.ts';

export interface ImportErrorRow {
  id: number;
  filename: string;
  bundleName: string | null;
  stackTrace: string;
  timestamp: Date;
}

export type ImportErrorSortColumn = 'id' | 'timestamp' | 'filename' | 'bundle_name' | 'stacktrace';

/** Columns of `import_error` by sort key. */
const COLUMN: Record<ImportErrorSortColumn, string> = {
  id: 'id',
  timestamp: '"timestamp"',
  filename: 'filename',
  bundle_name: 'bundle_name',
  stacktrace: 'stacktrace',
};

interface ImportErrorRecord {
  id: number;
  filename: string;
  bundle_name: string | null;
  stacktrace: string;
  timestamp: Date;
}

const toRow = (r: ImportErrorRecord): ImportErrorRow => ({
  id: r.id,
  filename: r.filename,
  bundleName: r.bundle_name,
  stackTrace: r.stacktrace,
  timestamp: r.timestamp,
});

export function createImportErrorQueries(prisma: PrismaClient) {
  return {
    /**
     * One page, with the total. `filenamePattern`: Airflow's `filename_pattern` (a `*_pattern`
     * filter on the file's path relative to its bundle). Sorted as every listing (orderBySql).
     */
    async listImportErrors(
      filters: Pagination & {
        orderBy: SortKey<ImportErrorSortColumn>[];
        filenamePattern?: string;
      },
    ): Promise<Page<ImportErrorRow>> {
      const where = whereSql(
        filters.filenamePattern === undefined
          ? []
          : [containsPatternSql('filename', filters.filenamePattern)],
      );
      const rows = await prisma.$queryRaw<(ImportErrorRecord & { total_entries: bigint })[]>`
        SELECT id, filename, bundle_name, stacktrace, "timestamp", count(*) OVER () AS total_entries
        FROM import_error ${where}
        ${orderBySql(filters.orderBy, COLUMN, 'id')}
        LIMIT ${filters.limit} OFFSET ${filters.offset}`;
      const total = await pageTotal(rows, filters.offset, () =>
        countRows(prisma, Prisma.sql`FROM import_error ${where}`),
      );
      return { rows: rows.map(toRow), total };
    },

    async getImportError(id: number): Promise<ImportErrorRow | null> {
      return prisma.importError.findUnique({ where: { id } });
    },
  };
}
