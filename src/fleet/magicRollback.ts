// Magic rollback, the controller's half: an activated op whose record carries `confirmDeadline`
// waits for `op.confirm` over a connection opened after the activation. Confirming over a new
// connection proves the new generation left the host reachable; without it the host goes back
// to its previous generation by itself when the deadline passes.
import type { OpInfo } from '../../protocol';
import { confirmActivation } from './confirmActivation';
import type { Connections } from './connections';
import type { FleetEvents } from './fleetEvents';

/** One op's confirmation, asked for at start (`runOp(..., { magicRollback: true })`). */
export class ActivationConfirmation {
  private confirmed = false;
  private inFlight = false;

  constructor(
    private readonly host: string,
    private readonly op: string,
    private readonly connections: Connections,
    private readonly events: FleetEvents,
  ) {}

  /**
   * The op's record changed (op.state): confirm once it waits for it. The record is read again
   * over the new connection, so only an op that is still running and waiting is confirmed.
   */
  onState(op: OpInfo): void {
    if (op.state !== 'running' || !op.confirmDeadline) return;
    this.check();
  }

  /** Read the op's record over a new connection and confirm it if it waits (once). */
  check(): void {
    if (this.confirmed || this.inFlight) return;
    void this.confirm();
  }

  private async confirm(): Promise<void> {
    const { host, op } = this;
    this.inFlight = true;
    try {
      // confirmActivation reads the record again over this connection and closes it.
      if ((await confirmActivation(await this.connections.openFresh(host), op)) !== 'confirmed') return; // not waiting (any more)
      this.confirmed = true;
      this.events.onNotice.fire({ host, level: 'info', text: `confirmed op ${op} over a new connection: host ${host} is still reachable (magic rollback)` });
    } catch (err) {
      this.events.onNotice.fire({ host, level: 'warn', text: `could not confirm op ${op} (magic rollback): ${(err as Error).message}; ${host} rolls back by itself unless confirmed in time` });
    } finally {
      this.inFlight = false;
    }
  }
}
