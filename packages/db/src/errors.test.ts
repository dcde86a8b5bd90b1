import { describe, expect, it } from 'vitest';
import { databaseUnavailableReason, isDataException, isDatabaseUnavailable } from './errors.ts';

describe('database error classification', () => {
  it('classifies connection failures of the driver as database unavailable', () => {
    expect(
      isDatabaseUnavailable(Object.assign(new Error('x'), { cause: { code: 'ECONNREFUSED' } })),
    ).toBe(true);
    expect(
      isDatabaseUnavailable({
        name: 'DriverAdapterError',
        cause: { kind: 'postgres', originalCode: '57P01' },
      }),
    ).toBe(true);
    expect(isDatabaseUnavailable(new Error('syntax error at or near "x"'))).toBe(false);
  });

  it('classifies a connection exception (SQLSTATE class 08), as PgBouncer answers while the server is down, as database unavailable', () => {
    // What Prisma's driver adapter wraps when PgBouncer cannot log in to PostgreSQL.
    const pgbouncer = {
      name: 'DriverAdapterError',
      cause: {
        kind: 'postgres',
        originalCode: '08P01',
        originalMessage: 'server login has been failing, try again later (server_login_retry)',
      },
    };
    expect(isDatabaseUnavailable({ meta: { driverAdapterError: pgbouncer } })).toBe(true);
    expect(isDatabaseUnavailable(new Error('x', { cause: { code: '08006' } }))).toBe(true);
  });

  it('classifies a cancelled statement (statement timeout) as database unavailable', () => {
    expect(isDatabaseUnavailable({ meta: { driverAdapterError: { originalCode: '57014' } } })).toBe(
      true,
    );
  });

  it('classifies a transaction that could not start or outlived its timeout (P2028) as unavailable', () => {
    expect(isDatabaseUnavailable(Object.assign(new Error('x'), { code: 'P2028' }))).toBe(true);
  });

  it('classifies SQLSTATE class 22 anywhere in the chain as a data exception', () => {
    expect(isDataException(new Error('x', { cause: { originalCode: '22003' } }))).toBe(true);
    expect(isDataException(new Error('x', { cause: { code: '57P01' } }))).toBe(false);
  });

  it("names an outage by the innermost error that says so, on one line, not by Prisma's wrapper", () => {
    const driver = {
      originalCode: '57P01',
      message: 'terminating connection\n due to administrator command',
    };
    const wrapper = Object.assign(new Error('Invalid `prisma.$queryRaw()` invocation:\n\n57P01'), {
      code: 'P1017',
      cause: driver,
    });
    expect(databaseUnavailableReason(wrapper)).toEqual({
      code: '57P01',
      message: 'terminating connection due to administrator command',
    });
    expect(databaseUnavailableReason(new Error('syntax error'))).toBeUndefined();
  });

  it('stops at a cause chain that loops', () => {
    const looped: { cause?: unknown } = {};
    looped.cause = looped;
    expect(isDatabaseUnavailable(looped)).toBe(false);
    expect(isDataException(looped)).toBe(false);
  });
});
