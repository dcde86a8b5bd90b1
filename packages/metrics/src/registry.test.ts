import { describe, expect, it } from 'vitest';
import { ALL_METRICS, CACHE_METRICS, prometheusName } from './index.ts';

describe('metric registry', () => {
  it('names every metric once', () => {
    const names = ALL_METRICS.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('gives the Prometheus names the OpenTelemetry exporter uses', () => {
    expect(prometheusName(CACHE_METRICS.hits)).toBe('dagbag_cache_hits_total');
    expect(prometheusName(CACHE_METRICS.weight)).toBe('dagbag_cache_weight');
    expect(prometheusName(CACHE_METRICS.loadDuration)).toBe('dagbag_cache_load_duration');
    expect(prometheusName(CACHE_METRICS.entries)).toBe('dagbag_cache_entries');
  });

  it('has a description and a unit for every metric', () => {
    for (const metric of ALL_METRICS) {
      expect(metric.description.length, metric.name).toBeGreaterThan(10);
      expect(metric.unit, metric.name).not.toBe('');
    }
  });
});
