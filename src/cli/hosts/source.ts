// Where `nixfleet` finds hosts and how it reaches them. Today: a hosts file with the
// direct addresses of the nixfleet.hosts setting (direct.ts: ws/wss with tokens, ssh).
// The broker (NATS, issue 10) is a second implementation of this interface: its hosts
// come from the broker's status bucket and its sessions speak the same protocol.
import type { Platform } from '../../../protocol';
import type { AgentSession } from '../../fleet/session';

export interface SourceHost {
  name: string;
  platform: Platform;
  /** How it is reached, for messages and `hosts` output (e.g. "ws://10.0.0.5:7531"). */
  address: string;
  /** Tags for rollout waves (`tag:NAME`), from the hosts file entry. */
  tags?: string[];
}

export interface HostSource {
  /** For messages: "hosts file /etc/nixfleet/hosts.json". */
  readonly description: string;
  /** Every host this source knows, sorted by name. */
  hosts(): readonly SourceHost[];
  /**
   * Refuses (throws one sentence naming the host and the fix) when a command that changes
   * `host` could not be authorised, before anything connects: e.g. a ws:// host with no token.
   */
  checkCanOperate(host: string): void;
  /** A new session to `host`; it connects and reconnects by itself until closed. */
  open(host: string): AgentSession;
}
