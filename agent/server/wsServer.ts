// The WebSocket transport: HTTP(S) server on config.listen, bearer token checked in the
// upgrade handler before the WebSocket handshake completes (401 otherwise), one
// Session per connection.
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { MAX_FRAME_BYTES } from '../../protocol';
import type { AgentCore } from './core';
import { bearerToken, loadTokens, type TokenSet } from './auth';
import { Session } from './session';

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

function reject(socket: Duplex, status: number, text: string): void {
  const body = text + '\n';
  socket.end(
    `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Bad Request'}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n${status === 401 ? 'WWW-Authenticate: Bearer realm="nixfleet-agent"\r\n' : ''}\r\n${body}`,
  );
}

export async function startWsServer(core: AgentCore): Promise<ListeningServer> {
  const { config } = core;
  if (!config.listen) throw new Error('serve needs "listen" (ADDRESS:PORT) in the config or --listen');
  const tokens: TokenSet | undefined = config.tokenFile ? loadTokens(config.tokenFile) : undefined;
  let server: Server;
  if (config.tlsCert && config.tlsKey) {
    let cert: Buffer, key: Buffer;
    try {
      cert = readFileSync(config.tlsCert);
      key = readFileSync(config.tlsKey);
    } catch (err) {
      throw new Error(`cannot read the TLS certificate or key (${(err as Error).message}); check tlsCert and tlsKey`);
    }
    server = createHttpsServer({ cert, key });
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
    let auth = 'none';
    if (tokens) {
      const presented = bearerToken(req.headers.authorization);
      const id = presented === undefined ? undefined : tokens.match(presented);
      if (!id) {
        return reject(socket, 401, presented === undefined ? 'missing bearer token: send "Authorization: Bearer <token>"' : 'invalid bearer token');
      }
      auth = id;
    }
    wss.handleUpgrade(req, socket, head, (ws) => attach(ws, req, auth));
  });

  function attach(ws: WebSocket, req: IncomingMessage, auth: string): void {
    const address = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    const session = new Session(
      core,
      {
        send: (frame, flushed) => {
          if (ws.readyState !== ws.OPEN) return flushed();
          // Buffers are journal bytes already in UTF-8 JSON: send them as text frames.
          ws.send(frame, { binary: false }, () => flushed());
        },
        close: (reason) => ws.close(1008, reason.slice(0, 120)),
      },
      { auth, address, authenticated: tokens !== undefined },
    );
    ws.on('message', (data) => {
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
      session.handleFrame(text);
    });
    ws.on('close', () => session.detach());
    // maxPayload breaches close the socket with 1009; errors end the session quietly.
    ws.on('error', () => session.detach());
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
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
