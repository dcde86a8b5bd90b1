/**
 * For tests of code that records metrics: a reader that collects on demand (like a Prometheus
 * scrape) and the collected metrics by instrument name. Uses the SDK, so it is a separate entry
 * point (`@dagbag/metrics/testing`); the registry itself depends on the API only.
 */
import type { Meter } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics';

export type { DataPoint, MetricData } from '@opentelemetry/sdk-metrics';

export class InMemoryReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

export async function collectByName(reader: MetricReader): Promise<Map<string, MetricData>> {
  const { resourceMetrics } = await reader.collect();
  const byName = new Map<string, MetricData>();
  for (const scope of resourceMetrics.scopeMetrics)
    for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
  return byName;
}

/** A meter of its own provider and the reader that collects it, for packages without the SDK. */
export function testMeter(): {
  meter: Meter;
  collect(): Promise<Map<string, MetricData>>;
  shutdown(): Promise<void>;
} {
  const reader = new InMemoryReader();
  const provider = new MeterProvider({ readers: [reader] });
  return {
    meter: provider.getMeter('test'),
    collect: () => collectByName(reader),
    shutdown: () => provider.shutdown(),
  };
}
