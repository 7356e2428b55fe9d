// The checkout as the agent's status reports it (agent/git/status.ts readCheckout), read from
// one `git status --porcelain=v2` and git's own paths, against real git repositories: no
// commits yet, an upstream ahead/behind and when it was fetched (also in a worktree, where git
// keeps FETCH_HEAD apart), untracked files that do not make it dirty, renames, detached HEAD,
// a gone upstream, and a directory that is no repository.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { parseStatusV2, readCheckout } from '../../agent/git/status';

const root = mkdtempSync(path.join(tmpdir(), 'nixfleet-checkout-'));
after(() => rmSync(root, { recursive: true, force: true }));

const env = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t', GIT_CONFIG_NOSYSTEM: '1', HOME: root };
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env, encoding: 'utf8', stdio: 'pipe' }).trim();
const commit = (cwd: string, file: string, text: string) => {
  writeFileSync(path.join(cwd, file), text);
  git(cwd, 'add', file);
  git(cwd, 'commit', '-qm', `${file}: ${text}`);
  return git(cwd, 'rev-parse', 'HEAD');
};
/** When git says the checkout last fetched: the newer of the two files, found by git itself. */
const gitFetchTime = (cwd: string, upstream: string) => {
  const files = git(cwd, 'rev-parse', '--git-path', 'FETCH_HEAD', '--git-path', `logs/refs/remotes/${upstream}`).split('\n');
  const times = files.map((f) => {
    try {
      return statSync(path.resolve(cwd, f)).mtimeMs;
    } catch {
      return 0;
    }
  });
  const newest = Math.max(...times);
  return newest > 0 ? new Date(newest).toISOString() : undefined;
};

function origin(): { bare: string; work: string } {
  const bare = mkdtempSync(path.join(root, 'origin-'));
  git(bare, 'init', '-q', '--bare', '-b', 'main');
  const work = mkdtempSync(path.join(root, 'work-'));
  git(work, 'clone', '-q', bare, '.');
  commit(work, 'flake.nix', '{ }');
  git(work, 'push', '-q', 'origin', 'main');
  return { bare, work };
}

test('a repository without commits: its branch, no revision, dirty once a file is staged, untracked files ignored', async () => {
  const dir = mkdtempSync(path.join(root, 'empty-'));
  git(dir, 'init', '-q', '-b', 'main');
  writeFileSync(path.join(dir, 'flake.nix'), '{ }');
  const fresh = await readCheckout({ flake: dir });
  assert.deepEqual(fresh, { path: dir, dirty: false, branch: 'main' });
  git(dir, 'add', 'flake.nix');
  assert.equal((await readCheckout({ flake: dir })).dirty, true);
});

test('a clone: revision, branch, ahead/behind its upstream, and when it last fetched', async () => {
  const { work } = origin();
  const host = mkdtempSync(path.join(root, 'host-'));
  git(host, 'clone', '-q', work, '.');
  const cloned = await readCheckout({ flake: host });
  assert.equal(cloned.revision, git(host, 'rev-parse', 'HEAD'));
  assert.equal(cloned.branch, 'main');
  assert.equal(cloned.ahead, 0);
  assert.equal(cloned.behind, 0);
  assert.equal(cloned.dirty, false);
  assert.equal(cloned.fetchedAt, gitFetchTime(host, 'origin/main'));

  commit(work, 'a', '1');
  commit(work, 'b', '2');
  git(host, 'fetch', '-q');
  // FETCH_HEAD newer than the reflog by a clear margin: the answer must be FETCH_HEAD's time.
  const fetchHead = path.resolve(host, git(host, 'rev-parse', '--git-path', 'FETCH_HEAD'));
  utimesSync(fetchHead, new Date(), new Date(Date.now() + 60_000));
  commit(host, 'c', 'local');
  writeFileSync(path.join(host, 'untracked'), 'not in the flake');
  const st = await readCheckout({ flake: host });
  assert.equal(st.behind, 2);
  assert.equal(st.ahead, 1);
  assert.equal(st.dirty, false, 'an untracked file does not make the checkout dirty');
  assert.equal(st.fetchedAt, new Date(statSync(fetchHead).mtimeMs).toISOString());

  renameSync(path.join(host, 'c'), path.join(host, '1 c'));
  git(host, 'add', '-A', '.');
  const renamed = await readCheckout({ flake: host });
  assert.equal(renamed.dirty, true, 'a staged rename is a tracked change');
  assert.equal(renamed.revision, git(host, 'rev-parse', 'HEAD'));
  git(host, 'reset', '-q', '--hard');

  git(host, 'checkout', '-q', '--detach', 'HEAD~1');
  const detached = await readCheckout({ flake: host });
  assert.equal(detached.branch, undefined);
  assert.equal(detached.ahead, undefined, 'no upstream when detached');
  assert.equal(detached.revision, git(host, 'rev-parse', 'HEAD'));
});

test('a worktree: fetch time from its own FETCH_HEAD; a gone upstream claims no ahead/behind; not a repository is an error', async () => {
  const { work } = origin();
  const host = mkdtempSync(path.join(root, 'host-'));
  git(host, 'clone', '-q', work, '.');
  const tree = path.join(root, `tree-${path.basename(host)}`);
  git(host, 'worktree', 'add', '-q', '-b', 'side', tree, 'origin/main');
  git(tree, 'fetch', '-q', 'origin');
  const st = await readCheckout({ flake: tree });
  assert.equal(st.branch, 'side');
  assert.equal(st.behind, 0);
  assert.equal(st.fetchedAt, gitFetchTime(tree, 'origin/main'));
  assert.ok(st.fetchedAt, 'the worktree was fetched');

  git(host, 'checkout', '-q', '-b', 'topic', '--track', 'origin/main');
  git(host, 'branch', '-q', '-dr', 'origin/main');
  const gone = await readCheckout({ flake: host });
  assert.equal(gone.branch, 'topic');
  assert.equal(gone.ahead, undefined);
  assert.equal(gone.behind, undefined);

  const nowhere = await readCheckout({ flake: path.join(root, 'missing') });
  assert.match(nowhere.error ?? '', /cannot read the nixcfg checkout .*missing.*check that it is a git repository/);
});

test('porcelain v2: the headers, and a renamed entry\'s original path is not read as an entry or a header', () => {
  const out = ['# branch.oid (initial)', '# branch.head (detached)', '2 R. N... 100644 100644 100644 aaa bbb R100 new', '# branch.oid 1234', '? untracked', ''].join('\0');
  assert.deepEqual(parseStatusV2(out), { trackedChanges: true });
  assert.deepEqual(parseStatusV2(['# branch.oid abc', '# branch.head main', '# branch.upstream origin/main', '# branch.ab +3 -0', '? x', ''].join('\0')), {
    trackedChanges: false, revision: 'abc', branch: 'main', upstream: 'origin/main', ahead: 3, behind: 0,
  });
});
