import { integerSetting, stringSetting } from '@dagbag/config';

/** Default Prometheus ports (README, Metrics). */
export const DEFAULT_METRICS_PORT = { 'dagbag-api': 9464, 'dagbag-scheduler': 9465 } as const;
export type ServiceName = keyof typeof DEFAULT_METRICS_PORT;

/**
 * The two settings an app adds to its own config shape, so they are validated with the rest:
 * `readConfig({ ...appShape, ...telemetrySettings('dagbag-api') })`.
 * METRICS_HOST defaults to loopback like API_HOST; containers set 0.0.0.0 so Prometheus can scrape.
 */
export function telemetrySettings(serviceName: ServiceName) {
  return {
    METRICS_PORT: integerSetting({
      default: DEFAULT_METRICS_PORT[serviceName],
      min: 1,
      max: 65535,
      description: 'port of the Prometheus `/metrics` endpoint (api 9464, scheduler 9465)',
    }),
    METRICS_HOST: stringSetting({
      default: '127.0.0.1',
      pattern: /^[\w.:-]+$/,
      accepted: 'a host name or IP address',
      description: 'interface `/metrics` binds to; containers set 0.0.0.0 so Prometheus can scrape',
    }),
  };
}
