import { describe, expect, it } from 'vitest';
import { effectiveSettings, readConfig } from '@dagbag/config';
import { otlpDecision } from './telemetry.ts';
import { metricsPortOf, telemetrySettings } from './settings.ts';

describe('telemetry settings', () => {
  it('default the metrics port per app and the host to loopback', () => {
    expect(readConfig(telemetrySettings('dagbag-api'), {})).toMatchObject({
      METRICS_PORT: 9464,
      METRICS_HOST: '127.0.0.1',
    });
    expect(readConfig(telemetrySettings('dagbag-scheduler'), {}).METRICS_PORT).toBe(9465);
  });

  it('put the api and the scheduler on two metrics ports from one environment, as pnpm dev starts them', () => {
    const env = {
      METRICS_PORT: '19700',
      API_METRICS_PORT: '19701',
      SCHEDULER_METRICS_PORT: '19702',
    };
    const api = readConfig(telemetrySettings('dagbag-api'), env);
    const scheduler = readConfig(telemetrySettings('dagbag-scheduler'), env);
    expect([
      metricsPortOf('dagbag-api', api),
      metricsPortOf('dagbag-scheduler', scheduler),
    ]).toEqual([19701, 19702]);
  });

  it('fall back to METRICS_PORT when the app has no port of its own', () => {
    const values = readConfig(telemetrySettings('dagbag-scheduler'), { METRICS_PORT: '19700' });
    expect(metricsPortOf('dagbag-scheduler', values)).toBe(19700);
  });

  it('refuse an app metrics port out of range naming its variable', () => {
    expect(() =>
      readConfig(telemetrySettings('dagbag-api'), { API_METRICS_PORT: '0' }),
    ).toThrowError(/API_METRICS_PORT: must be a whole number from 1 to 65535/);
  });

  it('refuse a port out of range naming METRICS_PORT', () => {
    expect(() =>
      readConfig(telemetrySettings('dagbag-api'), { METRICS_PORT: '70000' }),
    ).toThrowError(/METRICS_PORT: must be a whole number from 1 to 65535/);
  });

  it('refuse an unsupported OTLP protocol naming the variable and the choices', () => {
    expect(() =>
      readConfig(telemetrySettings('dagbag-api'), { OTEL_EXPORTER_OTLP_PROTOCOL: 'udp' }),
    ).toThrowError(/OTEL_EXPORTER_OTLP_PROTOCOL: must be grpc, http\/json or http\/protobuf/);
  });

  it('keep the credentials of an OTLP endpoint out of the start line', () => {
    const shape = telemetrySettings('dagbag-api');
    const values = readConfig(shape, {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'https://user:s3cret@collector:4318',
    });
    expect(JSON.stringify(effectiveSettings(shape, values))).not.toContain('s3cret');
  });
});

describe('OTLP decision', () => {
  it('pushes nothing when no endpoint is configured', () => {
    expect(otlpDecision({})).toEqual({ metrics: false, traces: false });
  });

  it('pushes metrics and traces when OTEL_EXPORTER_OTLP_ENDPOINT is set', () => {
    expect(otlpDecision({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toEqual({
      metrics: true,
      traces: true,
    });
  });

  it('honours per-signal endpoints and explicit exporter lists', () => {
    expect(otlpDecision({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' })).toEqual(
      { metrics: false, traces: true },
    );
    expect(
      otlpDecision({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_METRICS_EXPORTER: 'none' }),
    ).toEqual({ metrics: false, traces: true });
    expect(otlpDecision({ OTEL_TRACES_EXPORTER: 'otlp' })).toEqual({
      metrics: false,
      traces: true,
    });
  });
});
