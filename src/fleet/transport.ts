// A connection to one agent, carrying protocol frames as text. Two kinds: WebSocket
// (transportWs.ts) and a spawned command speaking NDJSON, e.g. over SSH
// (transportCommand.ts). The client opens a new transport for every (re)connect.
import { Emitter } from './emitter';

export abstract class Transport {
  readonly onOpen = new Emitter<void>();
  /** One protocol frame. */
  readonly onMessage = new Emitter<string>();
  /** `fatal`: retrying cannot help (e.g. the agent refused the token); `code`: why, when a command fixes it. */
  readonly onClose = new Emitter<{ reason: string; fatal: boolean; code?: 'unauthorized' }>();
  /** For messages: "ws://10.0.0.5:7531", "ssh root@h1 …". */
  abstract readonly description: string;
  abstract send(text: string): void;
  abstract close(): void;

  /** Drop every listener (the client is done with this transport). */
  dispose(): void {
    this.onOpen.clear();
    this.onMessage.clear();
    this.onClose.clear();
  }
}

export type TransportFactory = () => Transport;
