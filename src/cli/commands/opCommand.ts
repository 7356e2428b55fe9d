// The commands that run one op on one host (switch, force-rebuild, rollback, test, pull)
// share one flow: validate the arguments, refuse at once if nobody can confirm, connect,
// ask (the question may read the host first), run the op while printing its journal,
// print the final op record with --json, exit 0 only when it succeeded.
import type { OpKind } from '../../../protocol';
import type { AgentSession } from '../../fleet/session';
import { hostArg, type FlagSpec } from '../args';
import { MAGIC_FLAG, OP_ID_FLAG, type Command } from '../command';
import type { CliContext } from '../context';
import { runOp } from '../runOp';

export interface OpCommandSpec {
  name: string;
  kind: OpKind;
  summary: string;
  details?: string;
  flags: Record<string, FlagSpec>;
  mutating: boolean;
  /** Ops that activate a generation run with magic rollback unless --no-magic-rollback. */
  activates: boolean;
  /** The op's params from the command's flags; throws UsageError on bad input. */
  params(ctx: CliContext): Record<string, unknown>;
  /**
   * The confirmation question; may read the host and add params (e.g. rollback's confirmOld),
   * or say there is nothing to do (`nothing`: printed, exit 0, no op started).
   */
  review(ctx: CliContext, host: string, session: AgentSession, params: Record<string, unknown>): Promise<{ question: string; params?: Record<string, unknown> } | { nothing: string }>;
}

export function opCommand(spec: OpCommandSpec): Command {
  return {
    name: spec.name,
    summary: spec.summary,
    details: spec.details,
    positionals: ['HOST'],
    mutating: spec.mutating,
    finishesOnInterrupt: true,
    flags: { ...spec.flags, ...(spec.activates ? { 'no-magic-rollback': MAGIC_FLAG } : {}), 'op-id': OP_ID_FLAG },
    async run(ctx) {
      const host = hostArg(spec.name, ctx.positionals[0]);
      let params = spec.params(ctx);
      const opId = ctx.opId(spec.kind);
      ctx.knownHost(host);
      if (spec.mutating) {
        ctx.source().checkCanOperate(host);
        ctx.requireConfirmable(`${spec.name} ${host}`);
      }
      const conns = ctx.connections();
      const session = await conns.online(host);
      if (spec.mutating) {
        const r = await spec.review(ctx, host, session, params);
        if ('nothing' in r) {
          ctx.out.note(r.nothing);
          return 0;
        }
        await ctx.confirm(`${spec.name} ${host}`, r.question);
        params = { ...params, ...(r.params ?? {}) };
      }
      const final = await runOp(conns, host, spec.kind, params, {
        opId,
        magicRollback: spec.activates && ctx.flags['no-magic-rollback'] !== true,
        signal: ctx.signal,
        onStarted: (op, existing) => ctx.out.note(`${existing ? 'following the running' : 'started'} ${spec.kind} ${op.id} on ${host}`),
        onLines: (lines) => {
          for (const l of lines) ctx.out.opLine(l, ctx.json);
        },
        onNotice: (text) => ctx.out.note(text),
      });
      if (ctx.json) ctx.out.json(final);
      if (final.state === 'succeeded') {
        const r = final.result;
        const gens = r?.generationAfter !== undefined ? `: generation ${r.generationBefore ?? '?'} → ${r.generationAfter}` : '';
        ctx.out.note(`${spec.name} on ${host} succeeded${gens}`);
        return 0;
      }
      ctx.out.note(`nixfleet: ${spec.name} on ${host} ${final.state}${final.error ? `: ${final.error}` : ''}`);
      return 1;
    },
  };
}

/** "h1 (nixos, generation 3, checkout main at abc1234)": what the question is about. */
export async function describeHost(host: string, session: AgentSession): Promise<string> {
  const s = await session.status();
  const c = s.checkout;
  const checkout = c ? `, checkout ${c.branch ?? 'detached'} at ${c.revision?.slice(0, 7) ?? '?'}${c.dirty ? ' (dirty)' : ''}` : '';
  return `${host} (${s.platform}, generation ${s.currentGeneration ?? 'none'}${checkout})`;
}
