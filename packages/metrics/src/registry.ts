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

/**
 * The name under which the OpenTelemetry Prometheus exporter (0.301, what our apps serve) exposes
 * a metric: dots become underscores and counters get `_total`; units are not appended (the
 * collector's exporter does append them; ops/prometheus.yml renames those back to these names).
 */
export function prometheusName(metric: MetricDescriptor): string {
  const name = metric.name.replace(/[^a-zA-Z0-9_:]/g, '_');
  return metric.kind === 'counter' && !name.endsWith('_total') ? `${name}_total` : name;
}

/** Every series name a metric contributes: histograms expose `_bucket`, `_sum` and `_count`. */
export function prometheusSeriesNames(metric: MetricDescriptor): string[] {
  const name = prometheusName(metric);
  return metric.kind === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
}
