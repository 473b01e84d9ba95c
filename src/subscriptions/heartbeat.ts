import type { WebSocket } from 'ws';

/**
 * Slots the sockets are spread over. One timer visits one slot every `everyMs / SLOTS`: ten thousand
 * sockets cost one timer, not ten thousand, and their pings go out in small groups rather than in a
 * single burst that would delay the events sent in the same moment.
 */
const SLOTS = 20;

/**
 * Keep-alive for WebSocket clients: each socket is pinged every `everyMs` and terminated (no closing
 * handshake: the peer is not answering) when the next ping falls due before the previous one was answered.
 */
export class Heartbeat {
  private readonly slots: Array<Set<WebSocket>> = Array.from({ length: SLOTS }, () => new Set());
  private cursor = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(everyMs: number) {
    this.timer = setInterval(() => this.visitNextSlot(), Math.max(1, Math.floor(everyMs / SLOTS)));
    // Open sockets keep the process alive by themselves; the timer must not outlive them at shutdown.
    this.timer.unref();
  }

  watch(socket: WebSocket): void {
    // The slot visited last comes round again in a full period: the first ping falls due `everyMs` after opening.
    this.slots[(this.cursor + SLOTS - 1) % SLOTS]!.add(socket);
    socket.on('pong', markAnswered);
  }

  forget(socket: WebSocket): void {
    for (const slot of this.slots) if (slot.delete(socket)) break;
    awaitingPong.delete(socket);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private visitNextSlot(): void {
    const slot = this.slots[this.cursor]!;
    this.cursor = (this.cursor + 1) % SLOTS;
    for (const socket of slot) {
      if (socket.readyState !== socket.OPEN) continue;
      if (awaitingPong.has(socket)) {
        socket.terminate();
        continue;
      }
      awaitingPong.add(socket);
      socket.ping();
    }
  }
}

/** Sockets pinged that have not answered yet (a socket is watched by one heartbeat only). */
const awaitingPong = new WeakSet<WebSocket>();

/** One function shared by every socket (`ws` calls it with the socket as `this`): a socket costs no closure of its own. */
function markAnswered(this: WebSocket): void {
  awaitingPong.delete(this);
}
