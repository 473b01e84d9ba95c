import client from 'prom-client';
import type pg from 'pg';

/**
 * Prometheus metrics, one registry per server (tests run several servers in one process). Every name
 * is documented in the README; labels take only bounded values (schema field names, catalog codes).
 */
export interface Metrics {
  registry: client.Registry;
  requestDuration: client.Histogram<'operation' | 'outcome'>;
  postings: client.Counter<'kind' | 'outcome'>;
  retries: client.Counter;
  schedulerRuns: client.Counter<'outcome'>;
  schedulerWork: client.Counter<'job'>;
  deliveryLag: client.Histogram;
  rateLimited: client.Counter;
  webhookAttempts: client.Counter<'outcome'>;
  webhookDeliveries: client.Counter;
}

export interface MetricSources {
  pool: pg.Pool;
  webSocketConnections(): number;
  subscriptions(): number;
  /** The read replicas' routing counts (read-replica.ts), when DATABASE_READ_URL is set. */
  staleReads?: () => { replica: number; primary: number; lagged: number; retriedOnPrimary: number };
}

const PREFIX = 'reward_ledger_';

export function createMetrics(sources: MetricSources): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: PREFIX });
  const registers = [registry];

  new client.Gauge({
    name: `${PREFIX}db_pool_connections`,
    help: 'Connections in the shared Postgres pool, by state (total, idle, waiting = requests queued for one).',
    labelNames: ['state'],
    registers,
    collect() {
      this.set({ state: 'total' }, sources.pool.totalCount);
      this.set({ state: 'idle' }, sources.pool.idleCount);
      this.set({ state: 'waiting' }, sources.pool.waitingCount);
    },
  });
  const staleReads = sources.staleReads;
  if (staleReads !== undefined) {
    const seen = { replica: 0, primary: 0, lagged: 0, retriedOnPrimary: 0 };
    const labels = { replica: 'replica', primary: 'primary', lagged: 'primary_lagged', retriedOnPrimary: 'retried' };
    new client.Counter({
      name: `${PREFIX}stale_reads_total`,
      help: "Stale-OK reads (lists, reports) by where they ran: replica, primary (all on the primary), primary_lagged (of those, because the replica had not replayed the caller's write in time), retried (failed on a replica, run again on the primary).",
      labelNames: ['served_by'],
      registers,
      collect() {
        const now = staleReads();
        for (const key of Object.keys(seen) as Array<keyof typeof seen>) {
          if (now[key] > seen[key]) this.inc({ served_by: labels[key] }, now[key] - seen[key]);
          seen[key] = now[key];
        }
      },
    });
  }

  new client.Gauge({
    name: `${PREFIX}websocket_connections`,
    help: 'Open graphql-ws connections on this instance.',
    registers,
    collect() {
      this.set(sources.webSocketConnections());
    },
  });
  new client.Gauge({
    name: `${PREFIX}subscriptions`,
    help: 'Active subscriptions (balanceUpdated, transactionPosted) on this instance.',
    registers,
    collect() {
      this.set(sources.subscriptions());
    },
  });

  return {
    registry,
    requestDuration: new client.Histogram({
      name: `${PREFIX}graphql_request_duration_seconds`,
      help: 'GraphQL requests over HTTP, by root operation (e.g. mutation.issue) and outcome code (OK or the first error code).',
      labelNames: ['operation', 'outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    }),
    postings: new client.Counter({
      name: `${PREFIX}postings_total`,
      help: 'Postings attempted, by transaction kind and outcome code (OK, or why it was refused).',
      labelNames: ['kind', 'outcome'],
      registers,
    }),
    retries: new client.Counter({
      name: `${PREFIX}posting_retries_total`,
      help: 'Posting transactions retried after a deadlock or serialization failure.',
      registers,
    }),
    schedulerRuns: new client.Counter({
      name: `${PREFIX}scheduler_runs_total`,
      help: 'Scheduler passes (expiry and hold timeouts), by outcome (ok, failed).',
      labelNames: ['outcome'],
      registers,
    }),
    schedulerWork: new client.Counter({
      name: `${PREFIX}scheduler_work_total`,
      help: 'What the scheduler did: EXPIRE transactions posted (job=expiry) and holds voided (job=hold_timeout).',
      labelNames: ['job'],
      registers,
    }),
    deliveryLag: new client.Histogram({
      name: `${PREFIX}event_delivery_lag_seconds`,
      help: "From a posting's commit to its event reaching this instance's subscription hub.",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    }),
    rateLimited: new client.Counter({
      name: `${PREFIX}rate_limited_total`,
      help: 'Requests refused with RATE_LIMITED.',
      registers,
    }),
    webhookAttempts: new client.Counter({
      name: `${PREFIX}webhook_attempts_total`,
      help: 'Webhook delivery attempts by this instance, by what came of them.',
      labelNames: ['outcome'],
      registers,
    }),
    webhookDeliveries: new client.Counter({
      name: `${PREFIX}webhook_deliveries_total`,
      help: 'Webhook deliveries made from feed events by this instance (one per event and endpoint).',
      registers,
    }),
  };
}
