// What every session shares: config, the op manager, the detected Nix version, and the
// list of live sessions for host.status pushes after an op ends.
import { CAPABILITIES, PROTOCOL_VERSION, type HostStatus, type OpInfo } from '../../protocol';
import type { AgentConfig } from '../config';
import { AGENT_VERSION } from '../version';
import { OpManager, type OpManagerOptions } from '../runner/manager';
import type { NixInfo } from '../ops/types';
import { buildHostStatus } from './status';
import { listGenerations } from '../nix/generations';
import { RefusalLog } from './refusalLog';

export interface SessionLike {
  readonly welcomed: boolean;
  sendEvent(msg: object): void;
  /** Resolves once the op's end went out to this session's subscribers. */
  opEnded(info: OpInfo): Promise<void> | undefined;
}

export class AgentCore {
  readonly manager: OpManager;
  readonly startedAt = new Date().toISOString();
  readonly sessions = new Set<SessionLike>();
  /** Refused attempts, rate-limited into the audit log. */
  readonly refusals: RefusalLog;

  constructor(
    readonly config: AgentConfig,
    readonly nix: NixInfo,
    opts: OpManagerOptions = {},
  ) {
    this.manager = new OpManager(config, opts);
    this.refusals = new RefusalLog(config.stateDir);
    this.manager.on('end', (info) => void this.onOpEnd(info));
    this.manager.on('state', (info) => {
      for (const s of this.sessions) if (s.welcomed) s.sendEvent({ type: 'op.state', op: info });
    });
  }

  start(): void {
    this.manager.recover();
    this.manager.followForeignOps();
    this.manager.startStandby();
  }

  welcome() {
    return {
      type: 'welcome' as const,
      protocol: PROTOCOL_VERSION,
      agent: { version: AGENT_VERSION },
      host: this.config.host,
      platform: this.config.platform,
      capabilities: [...CAPABILITIES, 'magic-rollback'],
      nixVersion: this.nix.version,
    };
  }

  status(): Promise<HostStatus> {
    return buildHostStatus(this.config, this.nix.version, this.startedAt);
  }

  generations() {
    return listGenerations(this.config);
  }

  private async onOpEnd(info: OpInfo): Promise<void> {
    const sent = [...this.sessions].map((s) => s.opEnded(info));
    // host.status is built once op.end went out: building it starts git and nix processes,
    // and spawning them held the event loop for ~20 ms that op.end waited behind. Bounded:
    // a client that does not read must not hold back the others' status.
    await Promise.race([Promise.all(sent), new Promise((resolve) => setTimeout(resolve, 250).unref())]);
    // The op's standby worker was used up (or retired): the next one starts now, if one is wanted.
    this.manager.replenishStandby();
    let status: HostStatus;
    try {
      status = await this.status();
    } catch {
      return; // a status that cannot be built now is asked for again by the client
    }
    for (const s of this.sessions) if (s.welcomed) s.sendEvent({ type: 'host.status', status });
  }

  close(): void {
    this.refusals.close();
    this.manager.close();
  }
}
