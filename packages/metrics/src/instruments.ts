import type {
  Counter,
  Gauge,
  Histogram,
  Meter,
  MetricOptions,
  ObservableCounter,
  ObservableGauge,
  ObservableUpDownCounter,
  UpDownCounter,
} from '@opentelemetry/api';
import type { MetricDescriptor, MetricKind } from './registry.ts';

/** The synchronous instrument `createInstrument` returns for each kind. */
export type InstrumentFor<K extends MetricKind> = K extends 'counter'
  ? Counter
  : K extends 'updowncounter'
    ? UpDownCounter
    : K extends 'gauge'
      ? Gauge
      : K extends 'histogram'
        ? Histogram
        : never;

/** The asynchronous instrument `createObservable` returns; histograms have none. */
export type ObservableFor<K extends MetricKind> = K extends 'counter'
  ? ObservableCounter
  : K extends 'updowncounter'
    ? ObservableUpDownCounter
    : K extends 'gauge'
      ? ObservableGauge
      : never;

/**
 * Description, unit and (for histograms) the registry's bucket boundaries as advice, so an
 * instrument can only ever be created with what the registry says about it.
 */
export function instrumentOptions(descriptor: MetricDescriptor): MetricOptions {
  const options: MetricOptions = { description: descriptor.description, unit: descriptor.unit };
  if (descriptor.kind === 'histogram' && descriptor.buckets) {
    options.advice = { explicitBucketBoundaries: [...descriptor.buckets] };
  }
  return options;
}

/**
 * A synchronous instrument for `descriptor`:
 * `createInstrument(meter, CACHE_METRICS.loadDuration).record(s)`.
 */
export function createInstrument<D extends MetricDescriptor>(
  meter: Meter,
  descriptor: D,
): InstrumentFor<D['kind']> {
  const options = instrumentOptions(descriptor);
  switch (descriptor.kind) {
    case 'counter':
      return meter.createCounter(descriptor.name, options) as InstrumentFor<D['kind']>;
    case 'updowncounter':
      return meter.createUpDownCounter(descriptor.name, options) as InstrumentFor<D['kind']>;
    case 'gauge':
      return meter.createGauge(descriptor.name, options) as InstrumentFor<D['kind']>;
    case 'histogram':
      return meter.createHistogram(descriptor.name, options) as InstrumentFor<D['kind']>;
  }
}

/**
 * An asynchronous (observable) instrument for `descriptor`. The cache's hit path counts in plain
 * fields and reports them from a callback, so recording a hit costs no attribute hashing.
 */
export function createObservable<D extends MetricDescriptor>(
  meter: Meter,
  descriptor: D & { kind: 'counter' | 'updowncounter' | 'gauge' },
): ObservableFor<D['kind']> {
  const options = instrumentOptions(descriptor);
  switch (descriptor.kind) {
    case 'counter':
      return meter.createObservableCounter(descriptor.name, options) as ObservableFor<D['kind']>;
    case 'updowncounter':
      return meter.createObservableUpDownCounter(descriptor.name, options) as ObservableFor<
        D['kind']
      >;
    case 'gauge':
      return meter.createObservableGauge(descriptor.name, options) as ObservableFor<D['kind']>;
  }
}
