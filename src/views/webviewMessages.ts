// What the plan view and the deploy summary webviews may send back. A webview runs page script
// that could be anything (a bug, or content that got in): every message passes one of these
// schemas before the extension acts on it, and anything else is dropped. No vscode import.
import { z } from 'zod';
import { hostName } from '../../protocol';
import { FAILURE_POLICIES, type FailurePolicy } from '../deploy/rolloutTypes';

/** Deploy and plan ids (newDeployId, "plan…"): lower-case letters and digits. */
const recordId = z.string().regex(/^[a-z0-9]{1,40}$/);

const ready = z.strictObject({ type: z.literal('ready') });
const logs = z.strictObject({ type: z.literal('logs'), host: hostName });

export const planViewMessage = z.discriminatedUnion('type', [
  ready,
  logs,
  /** Deploy the ticked hosts of plan `plan` (the one the page shows; a stale page is refused). */
  z.strictObject({ type: z.literal('deploy'), plan: recordId, hosts: z.array(hostName).min(1).max(1024) }),
  /** Build the plan again (same commit and hosts). */
  z.strictObject({ type: z.literal('replan'), plan: recordId }),
]);
export type PlanViewMessage = z.infer<typeof planViewMessage>;

const POLICIES = FAILURE_POLICIES.filter((p): p is FailurePolicy => p !== 'ask') as [FailurePolicy, ...FailurePolicy[]];

export const summaryMessage = z.discriminatedUnion('type', [
  ready,
  logs,
  z.strictObject({ type: z.literal('action'), action: z.enum(['revert', 'rollback', 'revert-rollback', 'resume', 'retry-failed', 'push']) }),
  /** The answer to the halted rollout's question (only while that rollout asks). */
  z.strictObject({ type: z.literal('policy'), deploy: recordId, policy: z.enum(POLICIES) }),
]);
export type SummaryMessage = z.infer<typeof summaryMessage>;

/** The message if it is one `schema` allows, else undefined (dropped: the page is not trusted). */
export function parseWebviewMessage<T>(schema: z.ZodType<T>, raw: unknown): T | undefined {
  const r = schema.safeParse(raw);
  return r.success ? r.data : undefined;
}
