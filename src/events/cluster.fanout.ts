import type { PrimaryLink } from '../platform/worker-link.js';
import type { Fanout, FanoutItem, FanoutMessage } from './fanout.js';
import { decodeMessage, encodeMessages } from './wire.core.js';

/** IPC has no NOTIFY's 8 kB bound: a posting this large still travels whole, with no read back. */
const IPC_PAYLOAD_BYTES_MAX = 1_000_000;
const CHANNEL = 'events';

/**
 * `EVENT_FANOUT=local` with `WEB_CONCURRENCY` > 1: "local" is this server, all its workers, so events go to
 * the sibling workers through the primary (workers.ts relays them) instead of through Postgres. The items
 * travel in the same encoding as LISTEN/NOTIFY payloads.
 * Items committed in one turn of the event loop share one message.
 */
export class ClusterFanout implements Fanout {
  private queue: FanoutItem[] = [];
  private stopped = false;

  constructor(
    private readonly origin: string,
    private readonly link: PrimaryLink,
  ) {}

  async start(receive: (message: FanoutMessage) => void): Promise<void> {
    this.link.receiveBroadcasts(CHANNEL, (payloads) => {
      for (const payload of payloads) {
        const message = decodeMessage(payload);
        if (message !== null && message.origin !== this.origin) receive(message);
      }
    });
  }

  publish(item: FanoutItem): void {
    if (this.stopped) return;
    this.queue.push(item);
    if (this.queue.length === 1) setImmediate(() => this.flush());
  }

  async stop(): Promise<void> {
    this.flush();
    this.stopped = true;
    this.link.receiveBroadcasts(CHANNEL, null);
  }

  private flush(): void {
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.link.broadcast(CHANNEL, encodeMessages(this.origin, batch, IPC_PAYLOAD_BYTES_MAX));
  }
}
