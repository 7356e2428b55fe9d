// The GitHub TEST server (test/fixtures/githubTestServer.ts) for the e2e harness, in its own
// process: the harness is plain ESM JavaScript, the server TypeScript (run with tsx).
//
//   node --import tsx test/e2e/github-server.ts '{"gitDir": "...", "owner": "acme", "repo": "nixcfg", "users": {...}}'
//
// Prints one JSON line {"baseUrl": "http://127.0.0.1:PORT"} when it listens, then answers
// one JSON request per stdin line with one JSON line on stdout:
//   {"id": 1, "op": "recordMergedPullRequest", "args": {...}}   → {"id": 1, "ok": true, "result": PR}
//   {"id": 2, "op": "pulls"}                                    → every PR the server knows
//   {"id": 3, "op": "requests"}                                 → every request it served
// It closes the server and exits when stdin ends, so it dies with the harness whatever way
// the harness ends (its end of the pipe closes).
import { createInterface } from 'node:readline';
import { GitHubTestServer, type GitHubTestServerOptions } from '../fixtures/githubTestServer';

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (!arg) throw new Error('usage: github-server.ts OPTIONS_JSON ({"gitDir", "owner", "repo", "users"})');
  const opts = JSON.parse(arg) as GitHubTestServerOptions;
  const server = await GitHubTestServer.start(opts);
  const write = (v: unknown) => process.stdout.write(JSON.stringify(v) + '\n');
  write({ baseUrl: server.baseUrl });
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    let id: unknown = null;
    void (async () => {
      const req = JSON.parse(line) as { id: unknown; op: string; args?: unknown };
      id = req.id;
      switch (req.op) {
        case 'recordMergedPullRequest':
          return server.recordMergedPullRequest(req.args as Parameters<GitHubTestServer['recordMergedPullRequest']>[0]);
        case 'pulls':
          return [...server.pulls.values()];
        case 'requests':
          return server.requests;
        default:
          throw new Error(`github-server: unknown op "${req.op}"`);
      }
    })().then(
      (result) => write({ id, ok: true, result }),
      (err: unknown) => write({ id, ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
  });
  lines.on('close', () => {
    void server.close().finally(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  console.error(`github-server: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
