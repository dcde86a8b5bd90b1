/**
 * The notification listener of one process: ONE dedicated `pg` connection (outside the Prisma
 * pool: a pooled connection is handed to other queries, and LISTEN belongs to a session) that
 * LISTENs on every `dagbag_*` channel, reconnects with exponential backoff when it is lost, and
 * tells its subscribers about every gap, because notifications sent while nobody listened are
 * gone: after a reconnect they get `{ type: 'listening', resync: true }` and must look at the
 * database again (the scheduler runs a loop, the DAG cache revalidates its resident hashes).
 *
 * Written on `pg` directly rather than with pg-listen: that library's last release is from 2021
 * and what we need on top of LISTEN (a resync event per gap, lag from the commit time in our
 * payload, metrics from the registry, a ping to notice a half-open connection) is most of the
 * code either way.
 *
 * Each connection proves it receives before it counts as listening: another, short connection to
 * the same URL notifies a channel only this listener listens on. Through a pooler in transaction
 * mode (PgBouncer) LISTEN stays on a server connection the listener is not attached to and
 * nothing arrives: it used to count as listening all the same (its pings answered), so the API
 * kept GET /dags answers no notification would ever clear. Now it says what to set and is not
 * listening (the API does not use its listing cache, the scheduler polls).
 */
import {
  metrics,
  type BatchObservableCallback,
  type Histogram,
  type Meter,
  type Observable,
} from '@opentelemetry/api';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { NOTIFICATION_METRICS, createInstrument, createObservable } from '@dagbag/metrics';
import { silentLogger, type Logger } from '@dagbag/logger';
import {
  NOTIFICATION_CHANNELS,
  parseNotification,
  type Notification,
  type NotificationChannel,
} from './channels.ts';

export type NotifierEvent =
  | ({ type: 'notification' } & Notification)
  /** Listening (again). `resync`: there was a gap, notifications may have been missed. */
  | { type: 'listening'; resync: boolean }
  /** The connection was lost (once per gap); notifications are missed until `listening`. */
  | { type: 'lost'; error: Error };

export type NotifierListener = (event: NotifierEvent) => void;

export interface NotifierOptions {
  url: string;
  logger?: Logger;
  /** Defaults to the global MeterProvider's meter (a no-op until an SDK is registered). */
  meter?: Meter;
  /** Shown in pg_stat_activity (default `dagbag-listener`). */
  applicationName?: string;
  /** First pause before reconnecting; doubles per failed attempt up to `backoffMaxMs`. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  connectTimeoutMs?: number;
  /** A `SELECT 1` on the listening connection this often, to notice a half-open one (0: never). */
  pingIntervalMs?: number;
  /** Epoch milliseconds with sub-millisecond precision, for the lag. */
  now?: () => number;
}

export interface NotifierStats {
  listening: boolean;
  received: Record<NotificationChannel, number>;
  resyncs: number;
  /** Connections lost (gaps); every gap ends in one resync once the listener is back. */
  gaps: number;
}

export class Notifier {
  private readonly options: Required<Omit<NotifierOptions, 'meter' | 'logger'>>;
  private readonly logger: Logger;
  private readonly subscribers = new Set<NotifierListener>();
  private client: pg.Client | undefined;
  private started = false;
  private closed = false;
  /** Some notifications may have been missed since the last time we listened. */
  private inGap = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly received = Object.fromEntries(
    NOTIFICATION_CHANNELS.map((channel) => [channel, 0]),
  ) as Record<NotificationChannel, number>;
  private resyncs = 0;
  private gaps = 0;
  private firstListening: Promise<void>;
  private resolveFirstListening!: () => void;
  /** Backend pid of the listening connection (tests terminate it); null while not listening. */
  backendPid: number | null = null;
  /** This listener's own channel, for the probe that proves notifications arrive. */
  private readonly probeChannel = `dagbag_probe_${randomBytes(8).toString('hex')}`;
  private probeArrived: (() => void) | undefined;
  /** The "notifications do not arrive" error was logged (once per process). */
  private probeFailureLogged = false;

  private readonly meter: Meter;
  private readonly lag: Histogram;
  private readonly batchCallback: BatchObservableCallback;
  private readonly observables: Observable[];

  constructor(options: NotifierOptions) {
    this.options = {
      url: options.url,
      applicationName: options.applicationName ?? 'dagbag-listener',
      backoffInitialMs: options.backoffInitialMs ?? 100,
      backoffMaxMs: options.backoffMaxMs ?? 5_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      pingIntervalMs: options.pingIntervalMs ?? 10_000,
      now: options.now ?? (() => performance.timeOrigin + performance.now()),
    };
    this.logger = options.logger ?? silentLogger;
    this.firstListening = new Promise((resolve) => (this.resolveFirstListening = resolve));

    this.meter = options.meter ?? metrics.getMeter('@dagbag/db');
    this.lag = createInstrument(this.meter, NOTIFICATION_METRICS.lag);
    const receivedCounter = createObservable(this.meter, NOTIFICATION_METRICS.received);
    const resyncCounter = createObservable(this.meter, NOTIFICATION_METRICS.resyncs);
    // Counted in plain fields, attribute sets built once: a notification costs no attribute
    // hashing.
    const channelAttributes = NOTIFICATION_CHANNELS.map(
      (channel) => [channel, { channel }] as const,
    );
    this.batchCallback = (result) => {
      for (const [channel, attributes] of channelAttributes)
        result.observe(receivedCounter, this.received[channel], attributes);
      result.observe(resyncCounter, this.resyncs);
    };
    this.observables = [receivedCounter, resyncCounter];
    this.meter.addBatchObservableCallback(this.batchCallback, this.observables);
  }

  /** Calls `listener` for every event from now on; returns the unsubscribe function. */
  subscribe(listener: NotifierListener): () => void {
    this.subscribers.add(listener);
    return () => this.subscribers.delete(listener);
  }

  /** Starts listening (in the background; failures are retried with backoff). */
  start(): this {
    if (this.started || this.closed) return this;
    this.started = true;
    void this.connect();
    return this;
  }

  /** Resolves once the listener has listened for the first time. */
  listening(): Promise<void> {
    return this.firstListening;
  }

  get isListening(): boolean {
    return this.backendPid !== null;
  }

  stats(): NotifierStats {
    return {
      listening: this.isListening,
      received: { ...this.received },
      resyncs: this.resyncs,
      gaps: this.gaps,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    this.meter.removeBatchObservableCallback(this.batchCallback, this.observables);
    const client = this.client;
    this.client = undefined;
    this.backendPid = null;
    this.subscribers.clear();
    if (client) await client.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.options.url,
      application_name: this.options.applicationName,
      connectionTimeoutMillis: this.options.connectTimeoutMs,
      query_timeout: this.options.connectTimeoutMs,
      keepAlive: true,
    });
    let lost = false;
    const fail = (error: Error) => {
      if (lost) return;
      lost = true;
      this.connectionLost(client, error);
    };
    client.on('error', fail);
    client.on('end', () => fail(new Error('the listening connection was closed')));
    client.on('notification', (message) => this.receive(message.channel, message.payload));
    try {
      await client.connect();
      await client.query(
        [...NOTIFICATION_CHANNELS, this.probeChannel]
          .map((channel) => `LISTEN ${channel}`)
          .join('; '),
      );
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await this.probe();
      if (lost) return;
      if (this.closed) {
        await client.end().catch(() => undefined);
        return;
      }
      this.client = client;
      this.backendPid = rows[0]!.pid;
    } catch (error) {
      fail(error as Error);
      return;
    }
    this.attempt = 0;
    const resync = this.inGap;
    this.inGap = false;
    if (resync) this.resyncs++;
    this.logger.debug({ resync, pid: this.backendPid }, 'listening for database notifications');
    if (this.options.pingIntervalMs > 0) {
      this.pingTimer = setInterval(() => {
        client.query('SELECT 1').catch((error: Error) => fail(error));
      }, this.options.pingIntervalMs);
      this.pingTimer.unref();
    }
    this.resolveFirstListening();
    this.emit({ type: 'listening', resync });
  }

  /**
   * Notifies this listener's own channel from another connection and waits for it to arrive
   * (at most the connect timeout); throws, naming the fix, when it does not.
   */
  private async probe(): Promise<void> {
    const arrived = new Promise<void>((resolve) => (this.probeArrived = resolve));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.options.connectTimeoutMs);
    });
    const sender = new pg.Client({
      connectionString: this.options.url,
      application_name: this.options.applicationName,
      connectionTimeoutMillis: this.options.connectTimeoutMs,
      query_timeout: this.options.connectTimeoutMs,
    });
    sender.on('error', () => undefined);
    try {
      await sender.connect();
      await sender.query('SELECT pg_notify($1, NULL)', [this.probeChannel]);
      if ((await Promise.race([arrived, timedOut])) === 'timeout') {
        const error = new Error(
          'database notifications do not arrive on this connection: is the database URL a ' +
            'pooler in transaction mode (PgBouncer)? Set DATABASE_NOTIFICATIONS=off (the ' +
            'apps listen over DATABASE_DIRECT_URL when it is set); polling until then',
        );
        if (!this.probeFailureLogged) {
          this.probeFailureLogged = true;
          this.logger.error(error.message);
        }
        throw error;
      }
    } finally {
      clearTimeout(timer);
      this.probeArrived = undefined;
      await sender.end().catch(() => undefined);
    }
  }

  private connectionLost(client: pg.Client, error: Error): void {
    if (this.client === client) {
      this.client = undefined;
      this.backendPid = null;
    }
    clearInterval(this.pingTimer);
    client.removeAllListeners('notification');
    client.end().catch(() => undefined);
    if (this.closed) return;
    const newGap = !this.inGap;
    this.inGap = true;
    const delay = Math.round(
      Math.min(this.options.backoffMaxMs, this.options.backoffInitialMs * 2 ** this.attempt) *
        (0.75 + Math.random() * 0.25),
    );
    this.attempt = Math.min(this.attempt + 1, 30);
    this.logger.debug(
      { err: error, retryInMs: delay },
      'notification listener lost its connection',
    );
    if (newGap) {
      this.gaps++;
      this.emit({ type: 'lost', error });
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
    this.retryTimer.unref();
  }

  private receive(channel: string, payload: string | undefined): void {
    if (channel === this.probeChannel) {
      this.probeArrived?.();
      return;
    }
    const notification = parseNotification(channel, payload);
    if (notification === null) {
      this.logger.warn({ channel, payload }, 'ignored a notification that is not ours');
      return;
    }
    this.received[notification.channel]++;
    this.lag.record(Math.max(0, this.options.now() - notification.committedAtMs) / 1000);
    this.emit({ type: 'notification', ...notification });
  }

  private emit(event: NotifierEvent): void {
    for (const subscriber of this.subscribers) {
      try {
        subscriber(event);
      } catch (error) {
        this.logger.error({ err: error, event: event.type }, 'a notification subscriber failed');
      }
    }
  }
}
