// The text of a host log's lines (ui/hostLogs.ts), without VS Code: each line starts with the
// time the agent journalled it, in local time as VS Code's own stamps are, then the op kind.
import type { OpInfo } from '../../protocol';

export interface LogEntry {
  level: 'info' | 'warn' | 'error';
  text: string;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** "14:35:02.456" (local time) of an ISO time; the text itself when it is not a time. */
export function timeOfDay(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** "2026-12-04 14:35:02" (local time). */
export function dateTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${timeOfDay(iso).slice(0, 8)}`;
}

/** "14:35:02.456 [switch] building …": one output line with its own time. */
export function lineText(iso: string, kind: string, text: string): string {
  return `${timeOfDay(iso)} [${kind}] ${text}`;
}

/** The first line of an op's block: what, where, when (with the date: history may be days old), who. */
export function blockHeader(host: string, op: OpInfo): LogEntry {
  const params = Object.keys(op.params).length ? ' ' + JSON.stringify(op.params) : '';
  return { level: 'info', text: lineText(op.startedAt, op.kind, `▶ ${op.kind}${params} on ${host}, started ${dateTime(op.startedAt)} by ${op.client.name} (op ${op.id})`) };
}

/** The last line of an op's block: how it ended and how long it took. */
export function blockFooter(op: OpInfo): LogEntry {
  const secs = op.endedAt ? ` in ${((Date.parse(op.endedAt) - Date.parse(op.startedAt)) / 1000).toFixed(1)} s` : '';
  const text = lineText(op.endedAt ?? new Date().toISOString(), op.kind, `■ ${op.kind} ${op.state}${secs}${op.error ? ': ' + op.error : ''} (op ${op.id})`);
  return { level: op.state === 'succeeded' ? 'info' : op.state === 'cancelled' ? 'warn' : 'error', text };
}
