// What the extension knows about one host at a moment: its settings entry (if any), its
// connection, and the last status and generations the agent sent. Offline hosts keep their
// last known state, with the reason they are offline.
import type { BuildProgress, Generation, HostStatus, OpInfo, Platform } from '../../protocol';
import type { HostOutcome } from './hostOutcome';
import type { HostEntry } from './hostConfig';

export type ConnectionState = 'unconfigured' | 'connecting' | 'online' | 'offline';

export interface HostSnapshot {
  name: string;
  platform: Platform;
  /** The nixfleet.hosts entry; absent for a host found only in the flake. */
  entry?: HostEntry;
  /** Flake attribute the host was discovered under, e.g. nixosConfigurations. */
  discoveredIn?: string;
  connection: ConnectionState;
  /** Why the host is offline (or why the last refresh failed), with what to do. */
  problem?: string;
  /** Offline because the agent refused the token: Set Agent Token fixes it. */
  problemCode?: 'unauthorized';
  /** When the agent last answered. */
  lastSeen?: string;
  agentVersion?: string;
  status?: HostStatus;
  generations?: Generation[];
  /** Ops of this host currently running, as last reported. */
  runningOps: OpInfo[];
  /** How the last op that changed the host ended when that was not well (hostOutcome.ts); kept while offline. */
  lastOutcome?: HostOutcome;
  /** The latest build counts of a running op (capability build-progress), until it ends. */
  building?: { op: string; progress: BuildProgress };
  /** The host's most recent finished op (by anyone), as last reported: the host tooltip says how it ended. */
  lastOp?: OpInfo;
}
