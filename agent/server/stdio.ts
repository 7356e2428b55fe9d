// `nixfleet-agent stdio`: the same protocol as newline-delimited JSON over stdin/stdout,
// for controllers that reach the host over SSH (SSH did the authentication).
import { MAX_FRAME_BYTES } from '../../protocol';
import type { AgentCore } from './core';
import { Session } from './session';

export function stdioIdentity(env: NodeJS.ProcessEnv = process.env): { auth: string; address?: string } {
  const user = (env.USER ?? env.LOGNAME ?? 'unknown').replace(/[^A-Za-z0-9._-]/g, '?').slice(0, 64);
  const ssh = env.SSH_CONNECTION?.split(' ');
  return { auth: `stdio:${user}`, ...(ssh && ssh[0] ? { address: `${ssh[0]}:${ssh[1] ?? '?'}` } : {}) };
}

/** Serve one session on stdin/stdout; resolves when stdin ends. */
export function serveStdio(core: AgentCore, input: NodeJS.ReadableStream = process.stdin, output: NodeJS.WritableStream = process.stdout): Promise<void> {
  const id = stdioIdentity();
  const session = new Session(
    core,
    {
      send: (frame, flushed) => {
        output.write(frame);
        output.write('\n', () => flushed());
      },
      close: () => {
        (input as NodeJS.ReadStream).destroy?.();
      },
      abort: () => {
        (input as NodeJS.ReadStream).destroy?.();
        (output as NodeJS.WriteStream).destroy?.();
      },
      pauseInput: () => input.pause(),
      resumeInput: () => input.resume(),
    },
    { ...id, authenticated: true },
  );
  return new Promise((resolve) => {
    let buffered: Buffer[] = [];
    let size = 0;
    let discarding = 0; // bytes of an oversize line being skipped
    input.on('data', (chunk: Buffer) => {
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, start);
        const piece = chunk.subarray(start, nl < 0 ? chunk.length : nl);
        if (discarding) discarding += piece.length;
        else if (size + piece.length > MAX_FRAME_BYTES) {
          discarding = size + piece.length;
          buffered = [];
          size = 0;
        } else {
          buffered.push(piece);
          size += piece.length;
        }
        if (nl < 0) break;
        if (discarding) session.oversize(discarding);
        else {
          const line = Buffer.concat(buffered).toString('utf8').trim();
          if (line) session.handleFrame(line);
        }
        buffered = [];
        size = 0;
        discarding = 0;
        start = nl + 1;
      }
    });
    const done = () => {
      session.detach();
      resolve();
    };
    input.on('end', done);
    input.on('close', done);
    input.on('error', done);
  });
}
