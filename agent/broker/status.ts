// The host's record in the broker's status bucket (key: the host's name): online, the
// HostStatus every controller shows (generation, checkout, lock, last checks, running
// op), and a heartbeat. Re-published every HEARTBEAT_MS and whenever an op starts or
// ends; a record older than OFFLINE_AFTER_MS reads as offline (a host that died cannot
// say so), and a clean stop writes online: false at once.
import { randomBytes } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import type { HostStatus } from '../../protocol';
import { HEARTBEAT_MS, hostToken, type HostRecord } from '../../protocol/broker';
import type { AgentCore } from '../server/core';

/** The status is rebuilt (git, profile links) at most this often without an op event. */
const REBUILD_MS = 60_000;

export class StatusPublisher {
  readonly instance = randomBytes(9).toString('base64url');
  private status: HostStatus | undefined;
  private builtAt = 0;
  private error: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private rebuildWanted = true;
  private warned = '';
  private readonly onOp = () => this.publish(true);

  constructor(
    private readonly core: AgentCore,
    private readonly kv: KV,
    private readonly log: (text: string) => void,
  ) {}

  start(): void {
    this.core.manager.on('state', this.onOp);
    this.core.manager.on('end', this.onOp);
    this.timer = setInterval(() => this.publish(false), HEARTBEAT_MS);
    this.timer.unref();
    this.publish(true);
  }

  /** Publish now (serialised: records reach the bucket in the order they were built). */
  publish(rebuild: boolean): Promise<void> {
    this.rebuildWanted ||= rebuild;
    this.chain = this.chain.then(() => this.put(true));
    return this.chain;
  }

  private async put(online: boolean): Promise<void> {
    if (online && (this.rebuildWanted || Date.now() - this.builtAt > REBUILD_MS)) {
      this.rebuildWanted = false;
      try {
        this.status = await this.core.status();
        this.error = undefined;
      } catch (err) {
        this.error = `host ${this.core.config.host} cannot build its status: ${(err as Error).message}`;
      }
      this.builtAt = Date.now();
    }
    const record: HostRecord = {
      host: this.core.config.host,
      online,
      instance: this.instance,
      heartbeatAt: new Date().toISOString(),
      ...(this.status ? { status: this.status } : {}),
      ...(this.error ? { error: this.error.slice(0, 2000) } : {}),
    };
    try {
      await this.kv.put(hostToken(this.core.config.host), JSON.stringify(record));
      this.warned = '';
    } catch (err) {
      const msg = `cannot publish the host's status to the broker: ${(err as Error).message}`;
      if (msg !== this.warned) this.log(`${msg}; retrying every ${HEARTBEAT_MS / 1000} s (a controller creates the bucket on first connect, see docs/broker.md)`);
      this.warned = msg;
      this.rebuildWanted = true;
    }
  }

  /** Say "offline" now instead of letting the record age (a clean stop). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.core.manager.off('state', this.onOp);
    this.core.manager.off('end', this.onOp);
    await this.chain;
    await this.put(false);
  }
}
