// WebSocket transport: ws:// or wss:// (optionally trusting a given CA), bearer token in
// the Authorization header of the upgrade request.
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { MAX_FRAME_BYTES } from '../../protocol';
import { Transport } from './transport';

export interface WsTransportOptions {
  url: string;
  token?: string;
  /** PEM file of the CA (or self-signed certificate) that signed the agent's TLS certificate. */
  caFile?: string;
  ca?: string | Buffer;
  connectTimeoutMs?: number;
}

export class WsTransport extends Transport {
  readonly description: string;
  private readonly ws: WebSocket;
  private closed = false;

  constructor(opts: WsTransportOptions) {
    super();
    this.description = opts.url;
    if (!/^wss?:\/\//.test(opts.url)) throw new Error(`agent address ${opts.url} must start with ws:// or wss://`);
    const ca = opts.ca ?? (opts.caFile ? readFileSync(opts.caFile) : undefined);
    this.ws = new WebSocket(opts.url, {
      headers: opts.token ? { Authorization: `Bearer ${opts.token}` } : {},
      ca,
      maxPayload: MAX_FRAME_BYTES * 2,
      perMessageDeflate: false,
      handshakeTimeout: opts.connectTimeoutMs ?? 10_000,
    });
    this.ws.on('open', () => this.onOpen.fire());
    this.ws.on('message', (data: WebSocket.RawData) => {
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
      this.onMessage.fire(text);
    });
    this.ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c.slice(0, 500)));
      res.on('end', () => {
        const fatal = res.statusCode === 401 || res.statusCode === 403;
        const what = res.statusCode === 401 ? 'the agent refused the token (401)' : `the agent answered HTTP ${res.statusCode}`;
        this.finish(`${what}${body.trim() ? ': ' + body.trim() : ''}`, fatal, res.statusCode === 401 ? 'unauthorized' : undefined);
      });
      res.on('error', () => this.finish(`the agent answered HTTP ${res.statusCode}`, false));
    });
    // A certificate the client does not accept stays unaccepted on retry: give up (fatal).
    this.ws.on('error', (err) => this.finish(`cannot reach the agent at ${opts.url}: ${err.message}`, CERTIFICATE_ERRORS.has((err as NodeJS.ErrnoException).code ?? '')));
    this.ws.on('close', (code, reason) => this.finish(`connection closed (${code}${reason.length ? ' ' + reason.toString() : ''})`, false));
  }

  private finish(reason: string, fatal: boolean, code?: 'unauthorized'): void {
    if (this.closed) return;
    this.closed = true;
    this.ws.terminate();
    this.onClose.fire({ reason, fatal, ...(code ? { code } : {}) });
  }

  send(text: string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
  }

  close(): void {
    if (this.closed) return;
    try {
      this.ws.close(1000, 'client closed');
    } catch {
      /* not yet open */
    }
    this.finish('closed by the client', true);
  }
}

/** Node's codes for a TLS certificate it refused (OpenSSL's X509 verify errors, and the name check). */
const CERTIFICATE_ERRORS = new Set([
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE', 'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID', 'CERT_HAS_EXPIRED', 'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_CHAIN_TOO_LONG', 'CERT_REVOKED', 'INVALID_CA',
  'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
