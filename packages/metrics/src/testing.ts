/**
 * For tests of code that records metrics: a reader that collects on demand (like a Prometheus
 * scrape) and the collected metrics by instrument name. Uses the SDK, so it is a separate entry
 * point (`@dagbag/metrics/testing`); the registry itself depends on the API only.
 */
import { MetricReader, type MetricData } from '@opentelemetry/sdk-metrics';

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
