// The broker contract (NATS JetStream): subject names, the streams and the key-value
// bucket, and the records both sides put in them. The agent dials out to the broker;
// controllers reach it there. Protocol frames (messages.ts) are carried unchanged;
// what must be durable and shared (host status, journals, audit, queued ops) lives in
// JetStream, so the engine does durability, replay and permissions. docs/broker.md
// explains the design; nats-server 2.9 is enough for everything here.
import { z } from 'zod';
import { hostName, opId } from './patterns';
import { hostStatus, opKind } from './messages';

/** Prefix of every NixFleet subject. */
export const SUBJECT_PREFIX = 'nixfleet';

/**
 * A host name as one subject token / KV key. "@" (home-manager "user@host") is not a
 * valid KV key character; "=" never occurs in host names, so the mapping is reversible.
 */
export function hostToken(host: string): string {
  return host.replace('@', '=');
}
export function hostFromToken(token: string): string {
  return token.replace('=', '@');
}

export const subjects = {
  /** A controller's frames for one broker session: the agent subscribes to `session.*` of its host. */
  session: (host: string, sid: string) => `${SUBJECT_PREFIX}.host.${hostToken(host)}.session.${sid}`,
  sessions: (host: string) => `${SUBJECT_PREFIX}.host.${hostToken(host)}.session.*`,
  /** The agent's frames for a session. Only host H may publish under `reply.H`. */
  reply: (host: string, sid: string) => `${SUBJECT_PREFIX}.reply.${hostToken(host)}.${sid}`,
  /** Journal batches and the end record of one op (stream JOURNAL). */
  journal: (host: string, op: string) => `${SUBJECT_PREFIX}.journal.${hostToken(host)}.${op}`,
  /** Audit records of one host (stream AUDIT). */
  audit: (host: string) => `${SUBJECT_PREFIX}.audit.${hostToken(host)}`,
  /** Ops queued for one host (stream QUEUE, a work queue). */
  queue: (host: string) => `${SUBJECT_PREFIX}.queue.${hostToken(host)}`,
  /** Wildcards, for permissions and consumers. */
  hostRequests: (host: string) => `${SUBJECT_PREFIX}.host.${hostToken(host)}.>`,
  anySession: `${SUBJECT_PREFIX}.host.*.session.*`,
  replies: (host: string) => `${SUBJECT_PREFIX}.reply.${hostToken(host)}.>`,
  anyReply: `${SUBJECT_PREFIX}.reply.>`,
  journals: (host: string) => `${SUBJECT_PREFIX}.journal.${hostToken(host)}.>`,
  anyJournal: `${SUBJECT_PREFIX}.journal.>`,
  anyAudit: `${SUBJECT_PREFIX}.audit.*`,
  anyQueue: `${SUBJECT_PREFIX}.queue.*`,
  /** Inbox prefix of a host's own connection (JetStream acks and API replies). */
  hostInbox: (host: string) => `${SUBJECT_PREFIX}.inbox.${hostToken(host)}`,
};

export const STREAMS = {
  journal: 'NIXFLEET_JOURNAL',
  audit: 'NIXFLEET_AUDIT',
  queue: 'NIXFLEET_QUEUE',
} as const;

/** The KV bucket holding one status record per host (key: hostToken). */
export const STATUS_BUCKET = 'nixfleet-status';
/** The queue consumer of a host: durable, created by the host itself. */
export const queueConsumer = (host: string) => `host-${hostToken(host)}`;

/** How often an agent re-publishes its status record. */
export const HEARTBEAT_MS = 10_000;
/** A host whose record is older than this is shown offline (three missed heartbeats, plus slack). */
export const OFFLINE_AFTER_MS = 35_000;
/** Queued ops expire after this by default (the controller may give another expiry, up to QUEUE_MAX_AGE_MS). */
export const QUEUE_DEFAULT_EXPIRY_MS = 24 * 3600_000;
/** The queue stream drops anything older: no queued op outlives a week. */
export const QUEUE_MAX_AGE_MS = 7 * 24 * 3600_000;
/** Journals and audit records are kept this long in the broker (the host keeps its own files). */
export const JOURNAL_MAX_AGE_MS = 30 * 24 * 3600_000;
export const AUDIT_MAX_AGE_MS = 365 * 24 * 3600_000;
/** Largest message the generated server config allows (a journal batch stays well below). */
export const BROKER_MAX_PAYLOAD = 4 * 1024 * 1024;

/** One broker server: nats:// or tls://, host and optional port, never a user or password (credentials are given separately). */
export const BROKER_URL_RE = /^(nats|tls):\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$/;

/** Why `urls` is not a broker's list of servers (`what` names where it came from), or undefined when it is. */
export function brokerUrlsProblem(urls: readonly string[], what: string): string | undefined {
  if (urls.length === 0) return `${what} names no broker address: give nats://HOST:PORT or tls://HOST:PORT`;
  for (const u of urls) {
    if (!BROKER_URL_RE.test(u)) return `${what}: "${u.slice(0, 200)}" is not a broker address: give nats://HOST:PORT or tls://HOST:PORT, with no user or password in it (operator credentials are kept apart)`;
  }
  if (new Set(urls).size !== urls.length) return `${what} names a broker address twice; give each once`;
  return undefined;
}

/**
 * A `tls://` URL means TLS is required: the NATS client otherwise upgrades only when the
 * server offers it, and would talk in clear to a server (or an impostor) that does not.
 * One tls:// URL in a cluster's list requires it for every server of the list.
 */
export function requiresTls(servers: readonly string[]): boolean {
  return servers.some((s) => s.startsWith('tls://'));
}

/** Transport-level headers of session messages (the payload is a protocol frame, or empty). */
export const HEADERS = {
  /** Client → agent: the first frame (hello) of a new session. */
  open: 'Nixfleet-Open',
  /** Client → agent: the session is over. Agent → client: the session is gone (value: why). */
  close: 'Nixfleet-Close',
  /** Agent → client: no such session here (the agent restarted); the payload is the frame it got: send hello, then that frame again. */
  resume: 'Nixfleet-Resume',
  /** Client → agent: are you there? Agent → client: `pong`. */
  ping: 'Nixfleet-Ping',
  pong: 'Nixfleet-Pong',
  /** Journal batch: the seq of its first and last line. */
  firstSeq: 'Nixfleet-First-Seq',
  lastSeq: 'Nixfleet-Last-Seq',
  /** Journal: this message is the op's final record (payload: OpInfo); nothing follows. */
  end: 'Nixfleet-End',
  /** Audit: byte offset in the host's audit file just after this record. */
  auditOffset: 'Nixfleet-Audit-Offset',
} as const;

/** A client pings its sessions this often; the agent drops a session silent for SESSION_IDLE_MS. */
export const SESSION_PING_MS = 5_000;
export const SESSION_IDLE_MS = 30_000;
/** A client gives a session up when the agent answered nothing for this long. */
export const SESSION_DEAD_MS = 15_000;

/** The status record of one host in the KV bucket. */
export const hostRecord = z.strictObject({
  host: hostName,
  /** false: the agent stopped cleanly. A record older than OFFLINE_AFTER_MS also means offline. */
  online: z.boolean(),
  /** Random per agent process: a new value means the agent restarted. */
  instance: z.string().max(64),
  heartbeatAt: z.string().datetime({ offset: true }),
  /** Absent while the agent could not build it (it says why in `error`). */
  status: hostStatus.optional(),
  error: z.string().max(2000).optional(),
});
export type HostRecord = z.infer<typeof hostRecord>;

/** An op queued for a host that may be offline. Mutating ops only run with broker authentication. */
export const queuedOp = z.strictObject({
  op: opId,
  kind: opKind,
  params: z.record(z.string(), z.unknown()),
  /** Who queued it (the name a controller gives in hello). */
  client: z.string().min(1).max(128),
  queuedAt: z.string().datetime({ offset: true }),
  /** After this the host records the op as expired instead of running it. */
  expiresAt: z.string().datetime({ offset: true }),
});
export type QueuedOp = z.infer<typeof queuedOp>;
