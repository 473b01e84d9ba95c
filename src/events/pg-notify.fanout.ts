import pg from 'pg';
import type { Logger } from '../platform/logger.js';
import { dedicatedClient } from '../platform/primary-locator.js';
import type { Fanout, FanoutItem, FanoutMessage } from './fanout.js';
import { decodeMessage, encodeMessages } from './wire.core.js';

/** The channel every instance on one database listens to. */
export const EVENT_CHANNEL = 'reward_ledger_events';
/** Items waiting to be sent when the database is slow or away; past this the oldest are dropped. */
export const PUBLISH_QUEUE_MAX = 10_000;
const RECONNECT_DELAY_MS_MIN = 100;
const RECONNECT_DELAY_MS_MAX = 5_000;

/**
 * Cross-instance fan-out over Postgres LISTEN/NOTIFY.
 *
 * NOTIFY is never sent inside a posting's transaction: Postgres takes one global lock at the commit of
 * any transaction that notified, which would serialize every posting. Instead, after the posting has
 * committed, its event joins a queue that one sender drains: while one batch is on the wire the next
 * accumulates, and each batch is a single statement (one commit) however many postings it carries.
 *
 * Delivery is at most once. A message lost while the listener reconnects, or dropped because the queue
 * overflowed, shows to clients as a gap in `Balance.version`, which they can detect and refetch.
 */
export class PgNotifyFanout implements Fanout {
  private queue: FanoutItem[] = [];
  private sending = false;
  private dropped = 0;
  private listener: pg.Client | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectDelayMs = RECONNECT_DELAY_MS_MIN;
  private stopped = false;
  private receive: ((message: FanoutMessage) => void) | null = null;
  private idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly origin: string,
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
    private readonly channel: string = EVENT_CHANNEL,
  ) {}

  async start(receive: (message: FanoutMessage) => void): Promise<void> {
    this.receive = receive;
    await this.listen();
  }

  publish(item: FanoutItem): void {
    if (this.stopped) return;
    this.queue.push(item);
    if (this.queue.length > PUBLISH_QUEUE_MAX) {
      this.queue.shift();
      this.dropped += 1;
    }
    if (!this.sending) {
      this.sending = true;
      // Postings that commit in the same turn of the event loop share a batch.
      this.idle = new Promise((resolve) => setImmediate(() => void this.drain().finally(resolve)));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const listener = this.listener;
    this.listener = null;
    await listener?.end().catch(() => undefined);
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      if (this.dropped > 0) {
        this.logger.warn('event fan-out queue overflowed; the oldest events were not sent to other instances', {
          dropped: this.dropped,
        });
        this.dropped = 0;
      }
      try {
        await this.pool.query('SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload', [
          this.channel,
          encodeMessages(this.origin, batch),
        ]);
      } catch (error) {
        this.logger.warn('could not send events to other instances', { items: batch.length, error });
      }
    }
    this.sending = false;
  }

  /** One dedicated session holds the LISTEN; when it breaks, it is replaced with growing delays. */
  private async listen(): Promise<void> {
    // Made as the pool makes its connections: on a host list it follows the primary, where NOTIFY is sent.
    const client = dedicatedClient(this.pool, { application_name: 'reward-ledger-listener' });
    client.on('notification', (notification) => {
      if (notification.channel !== this.channel || notification.payload === undefined) return;
      const message = decodeMessage(notification.payload);
      if (message === null || message.origin === this.origin) return;
      this.receive?.(message);
    });
    client.on('error', (error) => {
      this.logger.warn('event listener connection failed', { error });
      this.replace(client);
    });
    client.on('end', () => this.replace(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${client.escapeIdentifier(this.channel)}`);
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      throw error;
    }
    this.listener = client;
    this.reconnectDelayMs = RECONNECT_DELAY_MS_MIN;
  }

  private replace(broken: pg.Client): void {
    if (this.stopped || this.listener !== broken) return;
    this.listener = null;
    broken.removeAllListeners();
    broken.on('error', () => undefined);
    void broken.end().catch(() => undefined);
    const retry = () => {
      this.reconnectTimer = null;
      if (this.stopped) return;
      this.listen().then(
        () => this.logger.info('event listener reconnected; events sent meanwhile by other instances were missed'),
        (error) => {
          this.logger.warn('event listener could not reconnect', { error, retryInMs: this.reconnectDelayMs });
          this.reconnectDelayMs = Math.min(this.reconnectDelayMs * 2, RECONNECT_DELAY_MS_MAX);
          this.reconnectTimer = setTimeout(retry, this.reconnectDelayMs);
        },
      );
    };
    this.reconnectTimer = setTimeout(retry, this.reconnectDelayMs);
  }
}
