// The WebSocket transport: HTTP(S) server on config.listen, bearer token checked in the
// upgrade handler before the WebSocket handshake completes (401 otherwise), one
// Session per connection. The token file is re-checked on every upgrade and every few
// seconds: a rotated token works at once, a removed one closes its connections, and an
// unusable file refuses everyone (503) until it is fixed. Refusals go to the audit log.
// The TLS certificate and key are re-read the same way (agent/server/tlsFiles.ts): a
// renewed pair is served to new connections without a restart, a broken one is not.
// An upgrade that carries a browser Origin is refused (403) on every listener unless
// config.allowedOrigins lists it: a web page in a browser on the host can reach a
// loopback listener, and a tokenless one would serve it the journals.
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { MAX_FRAME_BYTES, printable } from '../../protocol';
import type { AgentCore } from './core';
import { bearerToken, tokenIdentity, TokenFile, type TokenState } from './auth';
import { Session } from './session';
import { TlsFiles, type TlsPair } from './tlsFiles';

/** How often the token file is stat'ed between upgrades, to close revoked connections. */
const TOKEN_CHECK_MS = 2000;
/** How often the TLS files are stat'ed between connections (each connection checks too). */
const TLS_CHECK_MS = 2000;

function describePair(pair: TlsPair): string {
  const expired = pair.validTo.getTime() < Date.now() ? ' (EXPIRED: renew it)' : '';
  return `certificate ${pair.subject} sha256 ${pair.fingerprint}, valid until ${pair.validTo.toISOString()}${expired}`;
}

export interface ListeningServer {
  address: { host: string; port: number };
  close(): Promise<void>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  let host = listen.slice(0, i);
  if (host.startsWith('[')) host = host.slice(1, -1);
  return { host, port: Number(listen.slice(i + 1)) };
}

const STATUS_TEXT: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 503: 'Service Unavailable' };

function reject(socket: Duplex, status: number, text: string): void {
  const body = text + '\n';
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Bad Request'}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n${status === 401 ? 'WWW-Authenticate: Bearer realm="nixfleet-agent"\r\n' : ''}\r\n${body}`,
  );
}

export async function startWsServer(core: AgentCore): Promise<ListeningServer> {
  const { config } = core;
  if (!config.listen) throw new Error('serve needs "listen" (ADDRESS:PORT) in the config or --listen');
  const log = (text: string) => process.stderr.write(`nixfleet-agent: ${text}\n`);
  /** Token identity per open WebSocket, to close those whose token left the file. */
  const byToken = new Map<WebSocket, { id: string; session: Session }>();
  const onTokenChange = (state: TokenState, previous: TokenState) => {
    if (state.error !== undefined) {
      if (state.error !== previous.error) log(`${state.error}: refusing every connection (HTTP 503) and closing the authenticated ones until the token file is fixed`);
    } else {
      log(`token file ${config.tokenFile} re-read: ${state.tokens.count} token(s)${previous.error !== undefined ? '; accepting connections again' : ''}`);
    }
    closeUnverified(state);
  };
  /** Close every connection whose token is not in the file as it is now. */
  const closeUnverified = (state: TokenState) => {
    let closed = 0;
    for (const [ws, { id, session }] of byToken) {
      if (state.tokens?.ids.has(id)) continue;
      // Closing the session at once: no request that arrives during the close handshake runs.
      session.close(state.tokens ? 'token revoked' : 'token file unusable');
      byToken.delete(ws);
      closed++;
    }
    if (closed) log(`closed ${closed} connection(s) whose token is ${state.tokens ? 'no longer in' : 'unverifiable with'} ${config.tokenFile}`);
  };
  const tokenFile = config.tokenFile ? new TokenFile(config.tokenFile, onTokenChange) : undefined;
  const tokenTimer = tokenFile ? setInterval(() => tokenFile.current(), TOKEN_CHECK_MS) : undefined;
  tokenTimer?.unref();
  let server: Server;
  let tlsTimer: NodeJS.Timeout | undefined;
  if (config.tlsCert && config.tlsKey) {
    // Assigned before any check can run (the checks start below, after it exists).
    let https!: HttpsServer;
    const tls = new TlsFiles(
      config.tlsCert,
      config.tlsKey,
      {
        reloaded: (pair, previous, recovered) =>
          log(
            recovered && pair.fingerprint === previous.fingerprint
              ? `TLS certificate ${config.tlsCert} and key ${config.tlsKey} load again: still serving ${describePair(pair)}`
              : `TLS certificate ${config.tlsCert} re-read: new connections get ${describePair(pair)} (was sha256 ${previous.fingerprint}); open connections stay up`,
          ),
        failed: (error, serving) => log(`${error}. Until it is fixed, new connections keep getting ${describePair(serving)}`),
      },
      (pair) => https.setSecureContext({ cert: pair.cert, key: pair.key }),
    );
    https = createHttpsServer({ cert: tls.current.cert, key: tls.current.key });
    log(`TLS: serving ${describePair(tls.current)}; ${config.tlsCert} and ${config.tlsKey} are re-read when they change`);
    // Before the TLS handshake is set up for the connection, so a renewed certificate
    // is what the very next client gets; errors are reported by the timer, once settled.
    https.prependListener('connection', () => tls.check(false));
    tlsTimer = setInterval(() => tls.check(true), TLS_CHECK_MS);
    tlsTimer.unref();
    server = https;
  } else {
    server = createHttpServer();
  }
  server.on('request', (_req, res) => {
    res.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket' });
    res.end('nixfleet-agent speaks WebSocket only\n');
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const presented = tokenFile ? bearerToken(req.headers.authorization) : undefined;
    const refuse = (status: number, reason: string, body: string) => {
      core.refusals.record({
        source: req.socket.remoteAddress ?? '?',
        client: { name: printable(String(req.headers['user-agent'] ?? 'unknown'), 100), auth: 'none', address: peer(req) },
        request: 'upgrade',
        ...(presented !== undefined ? { presented: tokenIdentity(presented) } : {}),
        code: String(status),
        reason,
      });
      reject(socket, status, body);
    };
    // Browsers always send Origin on a WebSocket upgrade (Sec-WebSocket-Origin in the
    // draft version 8 that ws also speaks); the extension and the CLI never do.
    const origin = req.headers.origin ?? req.headers['sec-websocket-origin'];
    if (origin !== undefined) {
      const text = Array.isArray(origin) ? origin.join(',') : origin;
      if (!config.allowedOrigins.includes(text)) {
        return refuse(403, `browser origin ${printable(text, 200)} is not in allowedOrigins`, 'requests from web pages are refused: this origin is not in the agent\'s allowedOrigins');
      }
    }
    let auth = 'none';
    if (tokenFile) {
      const state = tokenFile.current();
      if (!state.tokens) {
        return refuse(503, 'token file unusable', `host ${config.host} cannot check tokens: its token file is unusable; the host's operator must fix it (see the agent's log)`);
      }
      const id = presented === undefined ? undefined : state.tokens.match(presented);
      if (!id) {
        return presented === undefined
          ? refuse(401, 'missing bearer token', 'missing bearer token: send "Authorization: Bearer <token>"')
          : refuse(401, 'invalid bearer token', 'invalid bearer token');
      }
      auth = id;
    }
    wss.handleUpgrade(req, socket, head, (ws) => attach(ws, req, auth));
  });

  function peer(req: IncomingMessage): string {
    return `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
  }

  function attach(ws: WebSocket, req: IncomingMessage, auth: string): void {
    const address = peer(req);
    const session = new Session(
      core,
      {
        send: (frame, flushed) => {
          if (ws.readyState !== ws.OPEN) return flushed();
          // Buffers are journal bytes already in UTF-8 JSON: send them as text frames.
          ws.send(frame, { binary: false }, () => flushed());
        },
        close: (reason) => ws.close(1008, reason.slice(0, 120)),
        // What was queued for this client is thrown away with the socket.
        abort: () => ws.terminate(),
        pauseInput: () => ws.pause(),
        resumeInput: () => ws.resume(),
      },
      { auth, address, source: req.socket.remoteAddress ?? '?', authenticated: tokenFile !== undefined },
    );
    if (tokenFile) {
      byToken.set(ws, { id: auth, session });
      // The file may have changed while the handshake completed: the token must still be in it.
      closeUnverified(tokenFile.current());
    }
    ws.on('message', (data) => {
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
      session.handleFrame(text);
    });
    const gone = () => {
      byToken.delete(ws);
      session.detach();
    };
    ws.on('close', gone);
    // maxPayload breaches close the socket with 1009; errors end the session quietly.
    ws.on('error', gone);
  }

  const { host, port } = parseListen(config.listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : { host, port };
  return {
    address: bound,
    close: () =>
      new Promise<void>((resolve) => {
        if (tokenTimer) clearInterval(tokenTimer);
        if (tlsTimer) clearInterval(tlsTimer);
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
