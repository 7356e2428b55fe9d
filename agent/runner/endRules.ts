// What the agent that sees an op end adds to its record: its own version
// (result.agentVersionAfter), the op's end check (self-update --verify), and a second audit
// record for ops that restart the agent, whose worker's record predates the restart.
import type { OpInfo } from '../../protocol';
import type { AgentConfig } from '../config';
import { AGENT_VERSION } from '../version';
import { writeOpInfo } from '../journal/opStore';
import { auditOp } from '../journal/audit';
import type { OpDefinition } from '../ops/types';

/** Whether `info`'s end was already seen by an agent (its final record is complete). */
export function endObserved(info: OpInfo): boolean {
  return info.result?.agentVersionAfter !== undefined;
}

/** The op's final record as this agent sees it end; `info` itself when already seen. */
export function endRecord(config: AgentConfig, info: OpInfo, def: OpDefinition | undefined): OpInfo {
  if (endObserved(info)) return info;
  const final: OpInfo = { ...info, result: { ...(info.result ?? {}), agentVersionAfter: AGENT_VERSION } };
  return def?.endCheck ? def.endCheck(final, config.host) : final;
}

/**
 * Write the end record back (and audit it again for ops that restart the agent). Until it
 * is written the op's end is unobserved on disk: an agent that dies meanwhile leaves it to
 * the next one, which observes the end itself.
 */
export function recordEnd(config: AgentConfig, final: OpInfo, def: OpDefinition | undefined): void {
  try {
    writeOpInfo(config.stateDir, final);
    if (def?.restartsAgent) auditOp(config.stateDir, final, true);
  } catch {
    /* state dir read-only or gone: report what we know */
  }
}
