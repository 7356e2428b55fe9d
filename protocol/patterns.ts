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

/** Generation numbers as nix-env numbers them. */
export const generationNumber = z
  .number()
  .int('generation must be a whole number')
  .min(1, 'generation numbers start at 1')
  .max(2 ** 31 - 1, 'generation number is too large');

/** Parse a generation number from text (CLI), refusing anything but plain digits. */
export function parseGeneration(text: string): number {
  if (!/^[1-9][0-9]{0,9}$/.test(text)) {
    throw new Error(`"${printable(text)}" is not a generation number: give a whole number such as 42`);
  }
  return generationNumber.parse(Number(text));
}

/** Render an untrusted string for an error message without letting it forge lines. */
export function printable(text: string, max = 80): string {
  const cleaned = JSON.stringify(text.length > max ? text.slice(0, max) + '…' : text).slice(1, -1);
  return cleaned;
}
