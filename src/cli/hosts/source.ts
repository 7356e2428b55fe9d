// Where `nixfleet` finds hosts and how it reaches them: a hosts file with the direct
// addresses of the nixfleet.hosts setting (direct.ts: ws/wss with tokens, ssh), or a NATS
// broker (broker.ts: hosts from its status bucket, sessions through it, same protocol).
import type { Platform } from '../../../protocol';
import type { AgentSession } from '../../fleet/session';

export interface SourceHost {
  name: string;
  /** null: the broker's record of the host holds no status (its agent could not build one). */
  platform: Platform | null;
  /** How it is reached, for messages and `hosts` output (e.g. "ws://10.0.0.5:7531"). */
  address: string;
  /** What the source already knows of the host without asking it (the broker's status bucket). */
  recorded?: RecordedHost;
  /** Tags for rollout waves (`tag:NAME`), from the hosts file entry. */
  tags?: string[];
}

export interface RecordedHost {
  online: boolean;
  generation: number | null;
  runningOp: { id: string; kind: string; since: string } | null;
  agentVersion: string | null;
  /** Why it is offline (or what its agent reported), with what to do. */
  error?: string;
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
  /** Let go of what the source holds (the broker connection); sessions are closed first. */
  close?(): Promise<void>;
}
