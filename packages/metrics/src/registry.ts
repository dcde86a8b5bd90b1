/**
 * The one list of every metric this project emits. Instruments are created from it, and the
 * README table and the Grafana dashboard are checked against it by tests, so none can drift.
 */
export type MetricKind = 'counter' | 'updowncounter' | 'gauge' | 'histogram';
export type ServiceRole = 'api' | 'scheduler';

export interface MetricDescriptor {
  /** OpenTelemetry instrument name (dotted). */
  readonly name: string;
  readonly kind: MetricKind;
  /** UCUM unit as OpenTelemetry expects it: `s`, `By`, `{hit}`... */
  readonly unit: string;
  readonly description: string;
  /** Attribute keys a data point may carry (besides resource attributes). */
  readonly attributes: readonly string[];
  /** Which app emits it. */
  readonly emittedBy: readonly ServiceRole[];
  /** Explicit histogram bucket boundaries, in the metric's unit. */
  readonly buckets?: readonly number[];
}

export function defineMetrics<const T extends Record<string, MetricDescriptor>>(metrics: T): T {
  return metrics;
}

const UNIT_SUFFIX: Record<string, string> = { s: 'seconds', ms: 'milliseconds', By: 'bytes', '1': 'ratio' };

/**
 * The name under which the OpenTelemetry Prometheus exporter (and the collector's) exposes a
 * metric: dots become underscores, a unit suffix is added unless it is an annotation in braces,
 * counters get `_total`.
 */
export function prometheusName(metric: MetricDescriptor): string {
  let name = metric.name.replace(/[^a-zA-Z0-9_:]/g, '_');
  const suffix = UNIT_SUFFIX[metric.unit];
  if (suffix && !name.endsWith(`_${suffix}`)) name += `_${suffix}`;
  if (metric.kind === 'counter') name += '_total';
  return name;
}
