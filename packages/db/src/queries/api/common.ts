import { isTransactionConflict } from '../../errors.ts';
import { Prisma, type PrismaClient } from '../../generated/prisma/client.ts';

/**
 * One page of a listing and the number of rows matching the filters (Airflow's `total_entries`).
 */
export interface Page<T> {
  rows: T[];
  total: number;
}

export interface Pagination {
  limit: number;
  offset: number;
}

/** A sort key chosen from a closed set (the app maps Airflow's `order_by` names onto these). */
export interface SortKey<C extends string> {
  column: C;
  descending: boolean;
}

/**
 * Half-open and closed bounds of a timestamp filter (Airflow's `*_gte`, `*_gt`, `*_lte`, `*_lt`).
 */
export interface TimeRange {
  gte?: Date;
  gt?: Date;
  lte?: Date;
  lt?: Date;
}

/**
 * `ORDER BY` from keys whose column names come from a fixed map (never from the request), with a
 * unique tie-breaker so that pages are stable. As Airflow's SortParam: NULLs last in either
 * direction, and the tie-breaker descends when the first key does.
 *
 * `notNull` names the keys whose column cannot be null: they get no `NULLS LAST`, which changes
 * nothing in their order but lets PostgreSQL read a descending order backwards off a plain index.
 * With it (`id DESC NULLS LAST`), the planner does not know that the clause is moot and sorts every
 * row: `GET /dags/~/dagRuns?order_by=-run_after` sorted 1,000,000 runs for a page of 50.
 */
export function orderBySql<C extends string>(
  keys: readonly SortKey<C>[],
  columns: Record<C, string>,
  tieBreaker: string,
  notNull: ReadonlySet<C> = new Set(),
): Prisma.Sql {
  const parts = keys.map(
    (key) =>
      `${columns[key.column]} ${key.descending ? 'DESC' : 'ASC'}${notNull.has(key.column) ? '' : ' NULLS LAST'}`,
  );
  parts.push(`${tieBreaker} ${keys[0]?.descending ? 'DESC' : 'ASC'}`);
  return Prisma.raw(`ORDER BY ${parts.join(', ')}`);
}

/** `column >= $1 AND column < $2 ...` for the bounds that are set. */
export function timeRangeSql(column: string, range: TimeRange | undefined): Prisma.Sql[] {
  if (!range) return [];
  const conditions: Prisma.Sql[] = [];
  const col = Prisma.raw(column);
  if (range.gte) conditions.push(Prisma.sql`${col} >= ${range.gte}`);
  if (range.gt) conditions.push(Prisma.sql`${col} > ${range.gt}`);
  if (range.lte) conditions.push(Prisma.sql`${col} <= ${range.lte}`);
  if (range.lt) conditions.push(Prisma.sql`${col} < ${range.lt}`);
  return conditions;
}

/** A start or end date column, read as now while unset when the filters ask (Airflow's GETs). */
export function dateColumn(column: string, filters: { unsetDatesAsNow?: boolean }): string {
  return filters.unsetDatesAsNow ? `COALESCE(${column}, now())` : column;
}

export function whereSql(conditions: readonly Prisma.Sql[]): Prisma.Sql {
  return conditions.length === 0
    ? Prisma.empty
    : Prisma.sql`WHERE ${Prisma.join(conditions, ' AND ')}`;
}

/**
 * A listing's total (`total_entries`). Its query carries `count(*) OVER ()` on every row, so a page
 * with rows has it already. An empty page asks once more (`count`), unless its offset is 0: then
 * nothing matches.
 */
export async function pageTotal(
  rows: readonly { total_entries: bigint | number }[],
  offset: number,
  count: () => Promise<number>,
): Promise<number> {
  if (rows.length > 0) return Number(rows[0]!.total_entries);
  return offset === 0 ? 0 : count();
}

/**
 * A listing's total (`total_entries`: as Airflow's, every row the filters match) for a page read
 * with `LIMIT`/`OFFSET` alone, without `count(*) OVER ()`. The window made PostgreSQL read, and
 * keep, every matching row before the first one came out, whatever the order's index: a page of 50
 * of 4.5 million task instances took 12 s. A page that is not full is the last one, and says the
 * total itself; only a full page, or an empty one past the start, asks `count`, a statement that
 * reads no more than the filters need (an index-only scan where it can).
 */
export async function listingTotal(
  rowCount: number,
  page: Pagination,
  count: () => Promise<number>,
): Promise<number> {
  if (rowCount > 0 && rowCount < page.limit) return page.offset + rowCount;
  if (rowCount === 0 && page.offset === 0 && page.limit > 0) return 0;
  return count();
}

/** Matches of a time range read through its index and sorted for a page (see listingSource). */
export const FEW_MATCHES = 100_000;

/** What a listing's page reads (see listingSource). */
export interface ListingSource {
  /** `WITH ...` to put before the SELECT, or nothing. */
  with: Prisma.Sql;
  /** The SELECT's FROM: `<table> <alias> WHERE ...`, or the CTE under the alias. */
  from: Prisma.Sql;
  /** Every match, when they were few enough to be counted whole. */
  total?: number;
}

/** Whether a page in this order is read by walking the primary key (`id`, the default order). */
export function walksPrimaryKey(orderBy: readonly SortKey<string>[]): boolean {
  return orderBy.length === 0 || orderBy[0]!.column === 'id';
}

/**
 * The rows a listing pages through. Runs and events are written in time order, so a range on their
 * time (`run_after_gte=<yesterday>`, `after=...`) matches the highest ids, all at the end of the
 * primary key; PostgreSQL, estimating them spread over it, reads a page in `id` order (the
 * default) by walking the key from the start and dropping every older row (0.4-1.3 s on a million
 * runs). When the filters hold such a range (`indexedRange`: on an indexed column, the order
 * the primary key's, see walksPrimaryKey), the matches are counted up to FEW_MATCHES (an index-only
 * scan); if that is all of them, they are read through the range's index into a MATERIALIZED CTE,
 * which has no order to walk, and sorted (15-60 ms for 20,000-80,000 of a million runs, against
 * 400 ms), and the count is the page's total. More matches than that are read as before: a sort of
 * them costs as much as the walk. Other orders are left to the planner, which sorts the matches
 * itself where no index has the order, without materializing them.
 */
export async function listingSource(
  prisma: PrismaClient,
  source: { table: string; alias: string; where: Prisma.Sql; indexedRange: boolean },
): Promise<ListingSource> {
  const table = Prisma.raw(`${source.table} ${source.alias}`);
  const plain = { with: Prisma.empty, from: Prisma.sql`${table} ${source.where}` };
  if (!source.indexedRange) return plain;
  const counted = await prisma.$queryRaw<{ n: bigint }[]>`
    SELECT count(*) AS n FROM (SELECT 1 FROM ${table} ${source.where} LIMIT ${FEW_MATCHES + 1}) few`;
  const total = Number(counted[0]?.n ?? 0);
  if (total > FEW_MATCHES) return plain;
  const alias = Prisma.raw(source.alias);
  return {
    with: Prisma.sql`WITH ${alias} AS MATERIALIZED (SELECT * FROM ${table} ${source.where}) `,
    from: alias,
    total,
  };
}

/** `SELECT count(*) <from>`, as a number; `from` is the listing's FROM clause with its WHERE. */
export async function countRows(prisma: PrismaClient, from: Prisma.Sql): Promise<number> {
  const rows = await prisma.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n ${from}`;
  return Number(rows[0]?.n ?? 0);
}

/**
 * Airflow's `*_pattern` filters: a case-insensitive substring match (`ILIKE %value%`) in which the
 * value's own `%` and `_` are wildcards (and `\\` escapes them), as Airflow's _SearchParam does;
 * `~` alone is its alias of `%`: everything.
 */
export function containsPatternSql(column: string, pattern: string): Prisma.Sql {
  const value = pattern === '~' ? '%' : pattern;
  return Prisma.sql`${Prisma.raw(column)} ILIKE ('%' || ${value} || '%')`;
}

/** Runs of a transaction that PostgreSQL rolled back to break a deadlock, at most. */
export const TRANSACTION_ATTEMPTS = 4;

/**
 * `prisma.$transaction(fn)`, run again when PostgreSQL rolled it back to break a deadlock or for a
 * serialization failure, as its documentation asks of clients: everything `fn` wrote was undone,
 * so running it again is safe (`fn` must write only through `tx`). Without this, two valid
 * concurrent requests (clears of one run from two clients, or a clear while the scheduler works)
 * could answer 500.
 */
export async function transaction<T>(
  prisma: PrismaClient,
  fn: (tx: Prisma.TransactionClient) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await prisma.$transaction(fn);
    } catch (error) {
      if (attempt >= TRANSACTION_ATTEMPTS || !isTransactionConflict(error)) throw error;
    }
  }
}
