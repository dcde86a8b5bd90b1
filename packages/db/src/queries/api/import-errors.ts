import type { PrismaClient } from '../../generated/prisma/client.ts';
import type { Page, Pagination, SortKey } from './common.ts';

export interface ImportErrorRow {
  id: number;
  filename: string;
  bundleName: string | null;
  stackTrace: string;
  timestamp: Date;
}

export type ImportErrorSortColumn = 'id' | 'timestamp' | 'filename' | 'bundle_name' | 'stacktrace';

const FIELD: Record<
  ImportErrorSortColumn,
  'id' | 'timestamp' | 'filename' | 'bundleName' | 'stackTrace'
> = {
  id: 'id',
  timestamp: 'timestamp',
  filename: 'filename',
  bundle_name: 'bundleName',
  stacktrace: 'stackTrace',
};

export function createImportErrorQueries(prisma: PrismaClient) {
  return {
    async listImportErrors(
      filters: Pagination & { orderBy: SortKey<ImportErrorSortColumn>[] },
    ): Promise<Page<ImportErrorRow>> {
      const orderBy = [
        ...filters.orderBy.map(
          (key) => ({ [FIELD[key.column]]: key.descending ? 'desc' : 'asc' }) as const,
        ),
        // As orderBySql: the tie-breaker descends when the first key does (Airflow's SortParam).
        { id: filters.orderBy[0]?.descending ? 'desc' : 'asc' } as const,
      ];
      const [rows, total] = await Promise.all([
        prisma.importError.findMany({ orderBy, take: filters.limit, skip: filters.offset }),
        prisma.importError.count(),
      ]);
      return { rows, total };
    },

    async getImportError(id: number): Promise<ImportErrorRow | null> {
      return prisma.importError.findUnique({ where: { id } });
    },
  };
}
