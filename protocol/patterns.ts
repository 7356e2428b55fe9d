// Strict patterns for every identifier that reaches a command line, a path or a flake
// reference. Anything that does not match is rejected before it can be used, so a
// value that passed these schemas is safe to put in an argv array or a file name.
import { z } from 'zod';

/** A host is a flake attribute name (nixosConfigurations.<host>); home-manager uses "user@host". */
export const HOST_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}(@[A-Za-z0-9_][A-Za-z0-9_-]{0,62})?$/;
/** Operation ids are chosen by the client so that a retried start never runs twice. */
export const OP_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
/** A full or abbreviated git commit hash (SHA-1 or SHA-256). */
export const COMMIT_RE = /^[0-9a-f]{7,64}$/;
/** Flake input names as they appear in flake.lock. */
export const FLAKE_INPUT_RE = /^[A-Za-z_][A-Za-z0-9_-]{0,62}$/;
/** Client names (hello) as shown in the audit log: printable ASCII, 1-128 characters. */
const CLIENT_NAME_CHARS = '\\x20-\\x7e';
export const CLIENT_NAME_RE = new RegExp(`^[${CLIENT_NAME_CHARS}]{1,128}$`);
const NOT_CLIENT_NAME_CHAR = new RegExp(`[^${CLIENT_NAME_CHARS}]`, 'g');

/** A client name that matches CLIENT_NAME_RE: unprintable characters become "?", cut to 128. */
export function clientNameOf(text: string): string {
  return text.replace(NOT_CLIENT_NAME_CHAR, '?').slice(0, 128) || '?';
}

export const hostName = z
  .string()
  .regex(HOST_NAME_RE, 'host must be a flake attribute name: letters, digits, "_" and "-" (home-manager: "user@host")');

export const opId = z
  .string()
  .regex(OP_ID_RE, 'op id must be 1-64 characters of letters, digits, "_" and "-", starting with a letter or digit');

export const commitHash = z.string().regex(COMMIT_RE, 'commit must be a hexadecimal git hash (7-64 characters)');

export const flakeInput = z
  .string()
  .regex(FLAKE_INPUT_RE, 'flake input must be a name such as "nixfleet" or "nix-secrets"');

/**
 * A git branch or tag name. Follows git-check-ref-format, and additionally refuses a
 * leading "-" so a ref can never be read as an option.
 */
export const gitRef = z
  .string()
  .min(1)
  .max(200)
  .refine(isSafeGitRef, 'ref must be a branch or tag name (no "..", spaces, control characters, "~^:?*[\\" or a leading "-")');

export function isSafeGitRef(ref: string): boolean {
  if (!/^[A-Za-z0-9._\/-]+$/.test(ref)) return false;
  if (ref.startsWith('-') || ref.startsWith('/') || ref.endsWith('/') || ref.endsWith('.')) return false;
  if (ref.includes('..') || ref.includes('//') || ref.includes('@{')) return false;
  return ref.split('/').every((part) => part.length > 0 && !part.startsWith('.') && !part.endsWith('.lock'));
}

/**
 * A whole number from `min` to `max` (`unit` e.g. "seconds"), with one sentence for every
 * way a value can miss: wrong type, a fraction, out of range, not finite. Used for every
 * number in the protocol and the agent's config, so none answers with a validation dump.
 */
export function wholeNumber(min: number, max: number = Number.MAX_SAFE_INTEGER, unit?: string) {
  const what = unit ? `a whole number of ${unit}` : 'a whole number';
  const error = max === Number.MAX_SAFE_INTEGER ? `give ${what} of at least ${min}` : `give ${what} from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

/** Generation numbers as nix-env numbers them. */
export const GENERATION_MAX = 2 ** 31 - 1;
export const generationNumber = wholeNumber(1, GENERATION_MAX);

/**
 * Parse a whole number typed on a command line: plain digits only (no "1e3", "0x10",
 * signs or spaces), then the range. Throws an Error whose message is one sentence.
 */
export function parseWholeNumber(text: string, what: string, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
  const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
  const n = /^[0-9]{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new Error(`"${printable(text)}" is not ${what}: give a whole number ${range}`);
  return n;
}

/** Parse a generation number from text (CLI), refusing anything but plain digits. */
export function parseGeneration(text: string): number {
  return parseWholeNumber(text, 'a generation number', 1, GENERATION_MAX);
}

/** Render an untrusted string for an error message without letting it forge lines. */
export function printable(text: string, max = 80): string {
  const cleaned = JSON.stringify(text.length > max ? text.slice(0, max) + '…' : text).slice(1, -1);
  return cleaned;
}
