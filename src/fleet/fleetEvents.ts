// What the fleet tells the rest of the extension, one Emitter per event. The parts of the fleet
// (registry, connections, op follower) fire them; views, logs and deploys listen.
import type { OpInfo, OutputLine } from '../../protocol';
import { Emitter } from './emitter';

export interface OutputEvent {
  host: string;
  op: string;
  lines: OutputLine[];
  /** Lines the journal had but this client never received (should not happen; shown if it does). */
  gap?: { from: number; to: number };
}

export interface OpEventOfHost {
  host: string;
  op: OpInfo;
}

export interface FleetNotice {
  host: string;
  level: 'info' | 'warn';
  text: string;
}

export class FleetEvents {
  /** A host's snapshot, the host list or the workspace changed. */
  readonly onDidChange = new Emitter<void>();
  /** New output lines of an op, each once and in seq order. */
  readonly onOutput = new Emitter<OutputEvent>();
  readonly onOpStart = new Emitter<OpEventOfHost>();
  readonly onOpEnd = new Emitter<OpEventOfHost>();
  /** Things the fleet did on its own that belong in the host's log (e.g. a magic-rollback confirmation). */
  readonly onNotice = new Emitter<FleetNotice>();

  clear(): void {
    this.onDidChange.clear();
    this.onOutput.clear();
    this.onOpStart.clear();
    this.onOpEnd.clear();
    this.onNotice.clear();
  }
}
