// The wire contract between the extension (controller) and the host agent.
// Both sides import these schemas; nothing else defines a message.
//
// Framing: one JSON object per WebSocket message, or one JSON object per line over
// stdio. The first client message must be `hello`; the agent answers `welcome`.
// Requests carry an `id` chosen by the client and are answered by exactly one
// `result` or `error` with the same id. Events (`op.output`, `op.state`, `op.end`,
// `host.status`) carry no id.
import { z } from 'zod';
import { commitHash, flakeInput, generationNumber, gitRef, hostName, opId, wholeNumber } from './patterns';
import { buildProgress } from './plan';

export const PROTOCOL_VERSION = 1;
/** gc: the largest age limit in days (100 years), and the most generations one run deletes. */
export const GC_MAX_DAYS = 36_500;
export const GC_MAX_GENERATIONS = 10_000;
/** Largest frame either side accepts; bigger frames are refused with `frame-too-large`. */
export const MAX_FRAME_BYTES = 1024 * 1024;
/** Longest output line kept in a journal; longer lines are split, never dropped. */
export const MAX_LINE_CHARS = 16 * 1024;

export const platform = z.enum(['nixos', 'darwin', 'home-manager']);
export type Platform = z.infer<typeof platform>;

export const switchMethod = z.enum(['direct', 'nixos-rebuild', 'darwin-rebuild', 'home-manager', 'nh']);
export type SwitchMethod = z.infer<typeof switchMethod>;

const isoTime = z.string().datetime({ offset: true });

// ---------------------------------------------------------------- operations

/** Parameters of each op kind. The agent's op registry validates with these. */
export const opParams = {
  /** Build the host's configuration from its checkout (optionally at `rev`), set the profile, activate, check. */
  switch: z.strictObject({ rev: commitHash.optional() }),
  /** `switch`, bypassing cached negative lookups; `fromSource` also forbids substitutes. Runs detached. */
  'force-rebuild': z.strictObject({ fromSource: z.boolean().optional(), rev: commitHash.optional() }),
  /** To the previous generation, or to `to`. Targets older than OLD_GENERATION_DAYS (rules.ts) need `confirmOld`. */
  rollback: z.strictObject({ to: generationNumber.optional(), confirmOld: z.boolean().optional() }),
  /** Run the health checks and record the result for the current generation. */
  test: z.strictObject({}),
  /** Update the checkout: fast-forward to its upstream (or `ref`), or bring it to `rev`. */
  pull: z.strictObject({ ref: gitRef.optional(), rev: commitHash.optional() }),
  /** Build the configuration (optionally at `rev`) without activating it; the result (protocol/results.ts, `build`) carries the closure diff and the plan against the current generation. */
  build: z.strictObject({ rev: commitHash.optional() }),
  /** Pull, sync dotfiles, update inputs, rebuild, check, commit and push: see agent/rebuildSmart. */
  'rebuild-smart': z.strictObject({
    skipUpstream: z.boolean().optional(),
    skipDotfiles: z.boolean().optional(),
    skipUpdate: z.boolean().optional(),
    update: z.boolean().optional(),
    dryRun: z.boolean().optional(),
    offline: z.boolean().optional(),
    rollbackOnFailure: z.boolean().optional(),
    /** Instead of rebuilding: restore the commit and generation recorded by the last run. */
    rollback: z.boolean().optional(),
    autoCommit: z.boolean().optional(),
    autoPush: z.boolean().optional(),
  }),
  /**
   * Delete the profile's generations older than `olderThanDays`, never the current one nor the
   * last known working one (gcPlan in rules.ts). `dryRun` lists what would go and deletes
   * nothing; otherwise `generations` is the list the caller confirmed (from a dry run), and
   * only those go, each only if the rule still allows it.
   */
  gc: z
    .strictObject({
      olderThanDays: wholeNumber(1, GC_MAX_DAYS, 'days'),
      dryRun: z.boolean().optional(),
      generations: z.array(generationNumber).min(1).max(GC_MAX_GENERATIONS).optional(),
    })
    .refine((p) => !(p.dryRun === true && p.generations !== undefined), {
      path: ['generations'],
      message: 'a dry run deletes nothing: give dryRun to list the generations, or generations to delete the confirmed list, not both',
    })
    .refine((p) => p.dryRun === true || p.generations !== undefined, {
      path: ['generations'],
      message: 'name the generations to delete (the list a dry run shows), or set dryRun to list them first',
    }),
  /** Pull, update the agent's flake input, force-rebuild; `verify` fails if the version did not change. */
  'self-update': z.strictObject({
    input: flakeInput.optional(),
    dryRun: z.boolean().optional(),
    verify: z.boolean().optional(),
  }),
} as const;

export type OpKind = keyof typeof opParams;
export const opKind = z.enum(Object.keys(opParams) as [OpKind, ...OpKind[]]);
export type OpParams<K extends OpKind> = z.infer<(typeof opParams)[K]>;

export const opStateName = z.enum(['running', 'succeeded', 'failed', 'cancelled', 'interrupted']);
export type OpStateName = z.infer<typeof opStateName>;
export const FINAL_OP_STATES: readonly OpStateName[] = ['succeeded', 'failed', 'cancelled', 'interrupted'];

export const outputStream = z.enum(['stdout', 'stderr', 'info']);
export type OutputStream = z.infer<typeof outputStream>;

/** One journal line as streamed. `seq` starts at 1 and has no gaps within an op. */
export const outputLine = z.strictObject({
  seq: z.number().int().min(1),
  stream: outputStream,
  text: z.string().max(MAX_LINE_CHARS),
  time: isoTime,
  /** On a build's progress lines (capability `build-progress`): the counts the text describes. */
  progress: buildProgress.optional(),
});
export type OutputLine = z.infer<typeof outputLine>;

export const clientIdentity = z.strictObject({
  /** What the client called itself in `hello` (e.g. "vscode alice@laptop"). */
  name: z.string().max(128),
  /** How it authenticated: `token:<sha256 prefix>`, `stdio:<user>` or `cli:<user>`. */
  auth: z.string().max(128),
  /** Peer address for network transports. */
  address: z.string().max(128).optional(),
});
export type ClientIdentity = z.infer<typeof clientIdentity>;

/** What an op ended with: generations before and after, revision built, check outcome. */
export const opResult = z
  .object({
    generationBefore: z.number().int().optional(),
    generationAfter: z.number().int().optional(),
    storePath: z.string().optional(),
    revision: z.string().optional(),
    checks: z.enum(['passed', 'failed', 'not-run']).optional(),
    agentVersionBefore: z.string().optional(),
    agentVersionAfter: z.string().optional(),
    message: z.string().optional(),
    /** The line that says why a failed op failed: the failed command's last stderr line, when known. */
    failingLine: z.string().max(2000).optional(),
    /**
     * A generation the op made but had to undo (failed activation, failed checks with
     * rollbackOnCheckFailure, magic rollback): generationAfter is then where the host is back.
     */
    generationFailed: z.number().int().optional(),
  })
  .catchall(z.unknown());
export type OpResult = z.infer<typeof opResult>;

export const opInfo = z.strictObject({
  id: opId,
  kind: opKind,
  params: z.record(z.string(), z.unknown()),
  state: opStateName,
  client: clientIdentity,
  startedAt: isoTime,
  endedAt: isoTime.optional(),
  /** Highest seq written to the journal so far. */
  lastSeq: z.number().int().min(0),
  exit: z.number().int().optional(),
  result: opResult.optional(),
  /** One sentence: what went wrong and what to do next. */
  error: z.string().optional(),
  agentVersion: z.string(),
  /**
   * Magic rollback: set while an activated op waits for the controller's `op.confirm`
   * over a fresh connection; without it by this time the host goes back to its previous generation.
   */
  confirmDeadline: isoTime.optional(),
});
export type OpInfo = z.infer<typeof opInfo>;

// ---------------------------------------------------------------- host model

export const checkOutcome = z.strictObject({
  passed: z.boolean(),
  at: isoTime,
  /** The first failing check's argv and output tail, when it failed. */
  detail: z.string().optional(),
});

export const generation = z.strictObject({
  generation: z.number().int().min(1),
  path: z.string(),
  createdAt: isoTime,
  current: z.boolean(),
  /** False when the store path was garbage-collected: it cannot be rolled back to. */
  present: z.boolean(),
  systemVersion: z.string().optional(),
  revision: z.string().optional(),
  checks: checkOutcome.optional(),
  lastKnownWorking: z.boolean(),
});
export type Generation = z.infer<typeof generation>;

export const hostStatus = z.strictObject({
  host: hostName,
  platform,
  agentVersion: z.string(),
  nixVersion: z.string(),
  switchMethod,
  currentGeneration: z.number().int().optional(),
  lastKnownWorking: z.number().int().optional(),
  checkout: z
    .strictObject({
      path: z.string(),
      revision: z.string().optional(),
      branch: z.string().optional(),
      dirty: z.boolean(),
      ahead: z.number().int().optional(),
      behind: z.number().int().optional(),
      /** flakeLockHash() of flake.lock (flakeLock.ts), to compare with the workspace's. */
      lockHash: z.string().optional(),
      /** lockedInputs() of flake.lock (flakeLock.ts): what each root input is pinned to. */
      lockInputs: z.record(z.string().max(256), z.string().max(256)).optional(),
      /** When the checkout last fetched from its upstream (FETCH_HEAD or the upstream ref's log): what ahead/behind are as of. */
      fetchedAt: isoTime.optional(),
      error: z.string().optional(),
    })
    .optional(),
  /** The revision the current generation was built from, when the agent recorded it. */
  currentRevision: z.string().optional(),
  /**
   * What the host runs (the config's runningSystem link, /run/current-system on NixOS and
   * nix-darwin): its store path and the profile generation with that path, if any. Differs
   * from currentGeneration when the profile moved without activation (nix-env --set, a worker
   * killed before activating) or a system was activated outside the profile.
   */
  runningSystem: z.strictObject({ path: z.string(), generation: z.number().int().optional() }).optional(),
  lastChecks: checkOutcome.optional(),
  busy: z.strictObject({ op: opId, kind: opKind, since: isoTime }).optional(),
  startedAt: isoTime,
});
export type HostStatus = z.infer<typeof hostStatus>;

// ---------------------------------------------------------------- client → agent

const reqId = z.union([wholeNumber(0), z.string().max(64)], { error: 'give a whole number of at least 0 or a string of at most 64 characters' });

export const helloMessage = z.strictObject({
  type: z.literal('hello'),
  protocol: wholeNumber(0),
  client: z.strictObject({ name: z.string().min(1).max(128), version: z.string().max(64) }),
});

export const requestMessage = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('status'), id: reqId }),
  z.strictObject({ type: z.literal('generations'), id: reqId }),
  z.strictObject({
    type: z.literal('op.start'),
    id: reqId,
    op: opId,
    kind: opKind,
    params: z.record(z.string(), z.unknown()).default({}),
    /** Ask for magic rollback: after activation the op waits for `op.confirm` (host setting confirmTimeout). */
    magicRollback: z.boolean().optional(),
  }),
  /** Confirm an activated op (magic rollback). Must come over a connection opened after the activation. */
  z.strictObject({ type: z.literal('op.confirm'), id: reqId, op: opId }),
  z.strictObject({ type: z.literal('op.cancel'), id: reqId, op: opId }),
  z.strictObject({
    type: z.literal('op.subscribe'),
    id: reqId,
    op: opId,
    /** Replay journal lines with seq > fromSeq, then stream live. */
    fromSeq: wholeNumber(0).default(0),
  }),
  z.strictObject({ type: z.literal('op.unsubscribe'), id: reqId, op: opId }),
  z.strictObject({ type: z.literal('ops.list'), id: reqId, limit: wholeNumber(1, 1000).default(50) }),
]);
export type RequestMessage = z.infer<typeof requestMessage>;
export type RequestType = RequestMessage['type'];

// ---------------------------------------------------------------- agent → client

export const errorCode = z.enum([
  'bad-frame', // not JSON, or not an object
  'frame-too-large',
  'invalid', // failed schema validation: the message names the field
  'protocol', // hello missing, repeated, or version mismatch
  'unauthorized',
  'busy', // another mutating op holds the host lock
  'not-found', // unknown op id, generation, ...
  'conflict', // op id reused with different kind/params
  'failed', // the request was valid but could not be carried out
  'internal',
]);
export type ErrorCode = z.infer<typeof errorCode>;

export const welcomeMessage = z.strictObject({
  type: z.literal('welcome'),
  protocol: z.number().int(),
  agent: z.strictObject({ version: z.string() }),
  host: hostName,
  platform,
  capabilities: z.array(z.string()),
  nixVersion: z.string(),
});

export const resultMessage = z.strictObject({
  type: z.literal('result'),
  id: reqId,
  result: z.unknown(),
});

export const errorMessage = z.strictObject({
  type: z.literal('error'),
  /** Absent when the offending frame had no readable id. */
  id: reqId.optional(),
  error: z.strictObject({ code: errorCode, message: z.string() }),
});

// Controllers read agent messages with parseAdditive (additive.ts): from this release on, a
// newer agent's extra fields are dropped, not refused. Controllers before it parse strictly, so
// a field added here still makes their agents' messages invalid to them: add fields knowing that.
// `op` means the op's id in op.output but its whole record in op.state/op.end. The one name for
// the id is `opId`: read it with `opEventId()`. Readers of this version accept an `opId` field
// on every op event; agents do not send it yet, because controllers of earlier releases parse
// these events strictly and would drop them. Once every supported controller accepts it,
// agents send `opId` too, and `op` in op.output can go with the next protocol version.
export const opOutputEvent = z.strictObject({
  type: z.literal('op.output'),
  /** The op's id (older agents: absent; read `op`). */
  opId: opId.optional(),
  /** The op's id. */
  op: opId,
  /** Consecutive lines, in seq order, batched for throughput. */
  lines: z.array(outputLine).min(1),
});
/**
 * The op's record changed: it started, or (magic rollback) it now waits for `op.confirm` until
 * `op.confirmDeadline`. Controllers that asked for magic rollback confirm on this event.
 */
export const opStateEvent = z.strictObject({ type: z.literal('op.state'), opId: opId.optional(), op: opInfo });
export const opEndEvent = z.strictObject({ type: z.literal('op.end'), opId: opId.optional(), op: opInfo });
export const hostStatusEvent = z.strictObject({ type: z.literal('host.status'), status: hostStatus });

export const agentMessage = z.discriminatedUnion('type', [
  welcomeMessage,
  resultMessage,
  errorMessage,
  opOutputEvent,
  opStateEvent,
  opEndEvent,
  hostStatusEvent,
]);
export type AgentMessage = z.infer<typeof agentMessage>;
export type WelcomeMessage = z.infer<typeof welcomeMessage>;
export type OpEventMessage = Extract<AgentMessage, { type: 'op.output' | 'op.state' | 'op.end' }>;

/** The id of the op an op event is about, whichever field carries it. */
export function opEventId(e: OpEventMessage): string {
  if (e.opId !== undefined) return e.opId;
  return typeof e.op === 'string' ? e.op : e.op.id;
}

/** Result payloads, per request type. */
export interface ResultOf {
  status: HostStatus;
  generations: { generations: Generation[] };
  'op.start': { op: OpInfo; /** true when the op id already existed: nothing new was started. */ existing: boolean };
  'op.cancel': { op: OpInfo };
  'op.confirm': { op: OpInfo };
  'op.subscribe': { op: OpInfo };
  'op.unsubscribe': Record<string, never>;
  'ops.list': { ops: OpInfo[] };
}

/**
 * The agent sends op.state when an op starts waiting for `op.confirm` (its record then carries
 * `confirmDeadline`). Controllers confirm on that event; with agents that lack it they re-read
 * the op's record whenever the op writes an info line.
 */
export const CONFIRM_DEADLINE_EVENT = 'op-state-on-confirm-deadline';

/** Capabilities announced in `welcome`, so old controllers can tell what a newer agent does. */
export const CAPABILITIES = ['ops', 'journal-resume', 'generations', 'detached-ops', 'health-checks', CONFIRM_DEADLINE_EVENT, 'build-plan', 'build-progress'] as const;
