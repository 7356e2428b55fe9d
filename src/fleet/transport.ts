// A connection to one agent, carrying protocol frames as text. Two kinds: WebSocket
// (transportWs.ts) and a spawned command speaking NDJSON, e.g. over SSH
// (transportCommand.ts). The client opens a new transport for every (re)connect.
import { EventEmitter } from 'node:events';

export interface TransportEvents {
  open: [];
  message: [text: string];
  /** `fatal`: retrying cannot help (e.g. the agent refused the token). */
  close: [reason: string, fatal: boolean];
}

export abstract class Transport extends EventEmitter<TransportEvents> {
  /** For messages: "ws://10.0.0.5:7531", "ssh root@h1 …". */
  abstract readonly description: string;
  abstract send(text: string): void;
  abstract close(): void;
}

export type TransportFactory = () => Transport;
