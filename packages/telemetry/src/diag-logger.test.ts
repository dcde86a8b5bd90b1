import { describe, expect, it } from 'vitest';
import { createRateLimitedDiagLogger, incidentKey } from './diag-logger.ts';
import { captureLogger } from './testing/capture-logger.ts';

describe('rate-limited diag logger', () => {
  it('logs a repeated export failure once per quiet period and then counts what it suppressed', () => {
    const { logger, lines } = captureLogger();
    let now = 0;
    const diag = createRateLimitedDiagLogger(logger, { quietMs: 1000, now: () => now });
    for (let i = 0; i < 50; i += 1)
      diag.error(
        `PeriodicExportingMetricReader: metrics export failed (error Error: connect ECONNREFUSED 127.0.0.1:${4000 + i})`,
      );
    expect(lines()).toHaveLength(1);
    now = 1500;
    diag.error(
      'PeriodicExportingMetricReader: metrics export failed (error Error: connect ECONNREFUSED 127.0.0.1:4318)',
    );
    expect(lines()).toHaveLength(2);
    expect(lines()[1]).toMatchObject({ level: 40, suppressed: 49, component: 'opentelemetry' });
  });

  it('keeps different problems apart', () => {
    const { logger, lines } = captureLogger();
    const diag = createRateLimitedDiagLogger(logger);
    diag.warn('metrics export failed');
    diag.warn('trace export failed');
    expect(lines().map((line) => line.msg)).toEqual([
      'metrics export failed',
      'trace export failed',
    ]);
  });

  it('groups messages that differ only in numbers, addresses and quoted details', () => {
    expect(incidentKey('export failed (connect ECONNREFUSED 10.0.0.1:4318)')).toBe(
      incidentKey('export failed (timeout after 3000 ms)'),
    );
    expect(incidentKey('status 503 from "collector"')).toBe(incidentKey('status 502 from "other"'));
  });
});
