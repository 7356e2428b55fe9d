// Revert PR through the real Octokit client against the GitHub test server, which works
// on a real bare repository: the results are checked in git itself.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { createGitHubClient, gitHubLogin, parseGitHubRemote } from '../../src/github/client';
import { GitHubError } from '../../src/github/errors';
import { findMergedPullRequest, revertPullRequest } from '../../src/github/revert';
import { GitHubTestServer, type TestUser } from '../fixtures/githubTestServer';
import { commitFiles, git, makePrRepo, type PrRepo } from './deploy-fixtures';

const alice: TestUser = { login: 'alice', id: 101, name: 'Alice', email: 'alice@example.test' };
const repo = { owner: 'acme', repo: 'nixcfg' };

async function setup(): Promise<{ r: PrRepo; server: GitHubTestServer; done(): Promise<void> }> {
  const r = await makePrRepo({ 'flake.nix': '{ outputs = _: {}; }\n', 'h1.nix': 'version = 1;\n' }, { 'h1.nix': 'version = 2; # breaks h1\n', 'new.nix': 'added by the PR\n' });
  const server = await GitHubTestServer.start({ gitDir: r.origin, ...repo, users: { 'tok-alice': alice } });
  await server.recordMergedPullRequest({ number: 7, title: 'Bump h1', head: 'feature', base: 'main', user: alice });
  let closed = false;
  const done = async () => {
    if (closed) return;
    closed = true;
    await server.close();
    r.cleanup();
  };
  return { r, server, done };
}

describe('deploy: Revert PR via the GitHub REST API (test server over a real repo)', () => {
  let s: Awaited<ReturnType<typeof setup>>;
  beforeEach(async () => { s = await setup(); });
  // A failed assertion skips a test's own done(): close the server anyway, or the run hangs.
  afterEach(() => s.done());
  const gh = () => createGitHubClient({ token: 'tok-alice', baseUrl: s.server.baseUrl });

  it('finds the merge commit and the commit before the PR', async () => {
    const pr = await findMergedPullRequest(gh(), repo, 7);
    assert.equal(pr.mergeCommit, s.r.merge);
    assert.equal(pr.beforeCommit, s.r.beforeMerge);
    assert.equal(pr.beforeTree, await git(s.r.origin, 'rev-parse', `${s.r.beforeMerge}^{tree}`));
    assert.equal(pr.mergeKind, 'merge-commit');
    assert.equal(await gitHubLogin(gh()), 'alice');
    await s.done();
  });

  it('direct mode: main moves to a commit whose tree is the pre-merge tree', async () => {
    const res = await revertPullRequest(gh(), { repo, pull: 7, mode: 'direct' });
    const main = await git(s.r.origin, 'rev-parse', 'refs/heads/main');
    assert.equal(main, res.revertCommit);
    assert.equal(await git(s.r.origin, 'rev-parse', `${main}^{tree}`), await git(s.r.origin, 'rev-parse', `${s.r.beforeMerge}^{tree}`));
    assert.equal(await git(s.r.origin, 'rev-parse', `${main}^1`), s.r.merge, 'the revert sits on top of the merge');
    assert.match(await git(s.r.origin, 'log', '-1', '--format=%B', main), /^Revert "Bump h1"/);
    await s.done();
  });

  it('pull-request mode: branch revert-7 with the pre-merge tree and an open PR; main untouched', async () => {
    const res = await revertPullRequest(gh(), { repo, pull: 7, mode: 'pull-request' });
    assert.equal(res.branch, 'revert-7');
    assert.equal(await git(s.r.origin, 'rev-parse', 'refs/heads/main'), s.r.merge);
    const tip = await git(s.r.origin, 'rev-parse', 'refs/heads/revert-7');
    assert.equal(tip, res.revertCommit);
    assert.equal(await git(s.r.origin, 'rev-parse', `${tip}^{tree}`), await git(s.r.origin, 'rev-parse', `${s.r.beforeMerge}^{tree}`));
    const opened = s.server.pulls.get(res.pullRequest!.number)!;
    assert.equal(opened.state, 'open');
    assert.equal(opened.head, 'revert-7');
    assert.equal(opened.title, 'Revert "Bump h1"');
    // A second attempt must not make a second branch or PR.
    await assert.rejects(revertPullRequest(gh(), { repo, pull: 7, mode: 'pull-request' }), (e: GitHubError) => e.kind === 'refused' && /revert-7 already exists/.test(e.message));
    await s.done();
  });

  /** The tree `git revert -m 1 <merge>` makes on top of origin's main, in a scratch clone. */
  async function gitRevertTree(): Promise<string> {
    const scratch = `${s.r.dir}/scratch`;
    await git(s.r.dir, 'clone', '-q', s.r.origin, scratch);
    await git(scratch, 'revert', '--no-edit', '-m', '1', s.r.merge);
    return git(scratch, 'rev-parse', 'HEAD^{tree}');
  }

  for (const mode of ['direct', 'pull-request'] as const) {
    it(`${mode}: main moved on with other files: the revert keeps the later commits, its tree is what git revert -m 1 makes`, async () => {
      await commitFiles(s.r.work, { 'later.nix': 'later\n', 'flake.nix': '{ outputs = _: { later = true; }; }\n', 'hosts/h2/default.nix': '{ }\n' }, 'later work');
      await git(s.r.work, 'push', '-q', 'origin', 'main');
      const later = await git(s.r.origin, 'rev-parse', 'refs/heads/main');
      const expected = await gitRevertTree();
      const res = await revertPullRequest(gh(), { repo, pull: 7, mode });
      assert.equal(res.onTopOf, later);
      assert.deepEqual(res.revertedFiles, ['h1.nix', 'new.nix']);
      const tip = await git(s.r.origin, 'rev-parse', mode === 'direct' ? 'refs/heads/main' : 'refs/heads/revert-7');
      assert.equal(tip, res.revertCommit);
      assert.equal(await git(s.r.origin, 'rev-parse', `${tip}^1`), later, 'the revert sits on top of the later commit');
      assert.equal(await git(s.r.origin, 'rev-parse', `${tip}^{tree}`), expected);
      assert.equal(await git(s.r.origin, 'show', `${tip}:later.nix`), 'later');
      assert.equal(await git(s.r.origin, 'show', `${tip}:h1.nix`), 'version = 1;');
      await assert.rejects(git(s.r.origin, 'show', `${tip}:new.nix`), /does not exist|exists on disk, but not in/);
      if (mode === 'pull-request') assert.equal(await git(s.r.origin, 'rev-parse', 'refs/heads/main'), later, 'main untouched in PR mode');
      await s.done();
    });
  }

  it('main moved and a later commit changed a file of the PR: refused naming it and the local route; nothing created', async () => {
    await commitFiles(s.r.work, { 'h1.nix': 'version = 3; # fixed on main\n', 'later.nix': 'later\n' }, 'fix h1 on main');
    await git(s.r.work, 'push', '-q', 'origin', 'main');
    const mainBefore = await git(s.r.origin, 'rev-parse', 'refs/heads/main');
    const objectsBefore = await git(s.r.origin, 'count-objects', '-v');
    for (const mode of ['direct', 'pull-request'] as const) {
      await assert.rejects(revertPullRequest(gh(), { repo, pull: 7, mode }), (e: GitHubError) => {
        assert.equal(e.kind, 'base-moved');
        assert.match(e.message, /later commits also changed h1\.nix/);
        assert.doesNotMatch(e.message, /new\.nix/, 'only the files both sides changed are named');
        assert.match(e.message, /git revert -m 1/);
        assert.match(e.message, /Nothing was changed on GitHub/);
        return true;
      });
    }
    assert.equal(await git(s.r.origin, 'rev-parse', 'refs/heads/main'), mainBefore);
    assert.equal(await git(s.r.origin, 'branch', '--list', 'revert-7'), '');
    assert.equal(await git(s.r.origin, 'count-objects', '-v'), objectsBefore, 'no tree or commit was written');
    assert.ok(!s.server.requests.some((r) => r.method === 'POST'), 'no POST was made');
    await s.done();
  });

  it('main rewritten so it no longer contains the merge: refused, nothing created', async () => {
    await git(s.r.work, 'reset', '-q', '--hard', s.r.beforeMerge);
    await commitFiles(s.r.work, { 'other.nix': 'other\n' }, 'rewritten history');
    await git(s.r.work, 'push', '-q', '--force', 'origin', 'main');
    await assert.rejects(revertPullRequest(gh(), { repo, pull: 7, mode: 'direct' }), (e: GitHubError) => e.kind === 'base-moved' && /no longer contains the merge/.test(e.message));
    assert.ok(!s.server.requests.some((r) => r.method === 'POST' || r.method === 'PATCH'));
    await s.done();
  });

  it('test server: trees are listed recursively and built over a base tree like GitHub (sha null deletes)', async () => {
    const octo = gh();
    const mergeTree = await git(s.r.origin, 'rev-parse', `${s.r.merge}^{tree}`);
    const listed = (await octo.rest.git.getTree({ ...repo, tree_sha: mergeTree, recursive: 'true' })).data;
    assert.deepEqual(listed.tree.map((e) => e.path).sort(), (await git(s.r.origin, 'ls-tree', '-r', '-t', '--name-only', mergeTree)).split('\n').sort());
    const blob = (await git(s.r.origin, 'rev-parse', `${s.r.beforeMerge}:h1.nix`));
    const made = (await octo.rest.git.createTree({ ...repo, base_tree: mergeTree, tree: [{ path: 'h1.nix', mode: '100644', type: 'blob', sha: blob }, { path: 'new.nix', mode: '100644', type: 'blob', sha: null }] })).data;
    assert.equal(made.sha, await git(s.r.origin, 'rev-parse', `${s.r.beforeMerge}^{tree}`), 'setting h1.nix back and deleting new.nix gives the pre-merge tree');
    await assert.rejects(octo.rest.git.createTree({ ...repo, base_tree: mergeTree, tree: [{ path: '../x', mode: '100644', type: 'blob', sha: blob }] }), (e: { status: number }) => e.status === 422);
    await assert.rejects(octo.rest.git.getTree({ ...repo, tree_sha: '0'.repeat(40) }), (e: { status: number }) => e.status === 404);
    await s.done();
  });

  it('PR creation failing deletes the branch it made and says so', async () => {
    s.server.failNext('POST', /\/pulls$/, {
      status: 422,
      body: { message: 'Validation Failed', errors: [{ resource: 'PullRequest', code: 'custom', message: 'A pull request already exists for acme:revert-7.' }], documentation_url: 'https://docs.github.com/rest' },
    });
    await assert.rejects(revertPullRequest(gh(), { repo, pull: 7, mode: 'pull-request' }), (e: GitHubError) => {
      assert.equal(e.status, 422);
      assert.match(e.message, /A pull request already exists/);
      assert.match(e.message, /was deleted again; nothing is left/);
      return true;
    });
    assert.equal(await git(s.r.origin, 'branch', '--list', 'revert-7'), '');
    await s.done();
  });

  it('a non-fast-forward race in direct mode leaves main alone and says so', async () => {
    // Someone pushes between our read of main and our update: the server answers 422 like GitHub.
    s.server.failNext('PATCH', /\/git\/refs\/heads\/main$/, { status: 422, body: { message: 'Update is not a fast forward', documentation_url: 'https://docs.github.com/rest' } });
    await assert.rejects(revertPullRequest(gh(), { repo, pull: 7, mode: 'direct' }), (e: GitHubError) => e.kind === 'invalid' && /not a fast forward/.test(e.message) && /main was NOT changed/.test(e.message));
    assert.equal(await git(s.r.origin, 'rev-parse', 'refs/heads/main'), s.r.merge);
    await s.done();
  });

  it('the test server itself refuses a non-fast-forward ref update (real update-ref)', async () => {
    const octo = gh();
    await assert.rejects(octo.rest.git.updateRef({ ...repo, ref: 'heads/main', sha: s.r.beforeMerge, force: false }), (e: { status: number; message: string }) => e.status === 422 && /not a fast forward/.test(e.message));
    await octo.rest.git.updateRef({ ...repo, ref: 'heads/main', sha: s.r.beforeMerge, force: true });
    assert.equal(await git(s.r.origin, 'rev-parse', 'refs/heads/main'), s.r.beforeMerge);
    await s.done();
  });

  it('maps GitHub errors to messages with what to do', async () => {
    const bad = createGitHubClient({ token: 'wrong', baseUrl: s.server.baseUrl });
    await assert.rejects(revertPullRequest(bad, { repo, pull: 7, mode: 'direct' }), (e: GitHubError) => e.kind === 'auth' && e.status === 401 && /Bad credentials/.test(e.message) && /sign in/.test(e.message));
    await assert.rejects(findMergedPullRequest(gh(), repo, 99), (e: GitHubError) => e.kind === 'not-found' && /PR #99/.test(e.message));
    await assert.rejects(findMergedPullRequest(gh(), { owner: 'acme', repo: 'other' }, 7), (e: GitHubError) => e.kind === 'not-found');
    const reset = Math.floor(Date.now() / 1000) + 600;
    s.server.setRemaining('tok-alice', 0, reset);
    await assert.rejects(findMergedPullRequest(gh(), repo, 7), (e: GitHubError) => {
      assert.equal(e.kind, 'rate-limit');
      assert.equal(e.resetAt?.getTime(), reset * 1000);
      assert.match(e.message, new RegExp(new Date(reset * 1000).toISOString()));
      return true;
    });
    s.server.setRemaining('tok-alice', 100);
    s.server.failNext('GET', /\/pulls\/7$/, { status: 403, body: { message: 'Resource not accessible by personal access token', documentation_url: 'https://docs.github.com/rest' } });
    await assert.rejects(findMergedPullRequest(gh(), repo, 7), (e: GitHubError) => e.kind === 'forbidden' && /scope/.test(e.message));
    s.server.failNext('POST', /\/git\/commits$/, { status: 409, body: { message: 'Git Repository is empty.', documentation_url: 'https://docs.github.com/rest' } });
    await assert.rejects(revertPullRequest(gh(), { repo, pull: 7, mode: 'direct' }), (e: GitHubError) => e.kind === 'conflict' && e.status === 409 && /nothing was changed/.test(e.message));
    s.server.failNext('GET', /\/pulls\/7$/, { status: 0, dropConnection: true });
    await assert.rejects(findMergedPullRequest(gh(), repo, 7), (e: GitHubError) => e.kind === 'network' && /Could not reach GitHub/.test(e.message));
    assert.equal(await git(s.r.origin, 'rev-parse', 'refs/heads/main'), s.r.merge, 'no error left a change behind');
    await s.done();
  });

  it('refuses a PR that is not merged', async () => {
    await git(s.r.work, 'checkout', '-q', '-b', 'wip');
    await commitFiles(s.r.work, { 'wip.nix': 'wip\n' }, 'wip');
    await git(s.r.work, 'push', '-q', 'origin', 'wip');
    const open = await gh().rest.pulls.create({ ...repo, title: 'WIP', head: 'wip', base: 'main' });
    await assert.rejects(findMergedPullRequest(gh(), repo, open.data.number), (e: GitHubError) => e.kind === 'refused' && /not merged/.test(e.message));
    await s.done();
  });
});

describe('deploy: parseGitHubRemote', () => {
  it('reads owner/repo from the usual remote URL forms and refuses others', () => {
    for (const url of ['https://github.com/acme/nixcfg.git', 'https://github.com/acme/nixcfg', 'git@github.com:acme/nixcfg.git', 'ssh://git@github.com/acme/nixcfg.git']) {
      assert.deepEqual(parseGitHubRemote(url), repo, url);
    }
    assert.equal(parseGitHubRemote('/srv/git/nixcfg.git'), undefined);
    assert.equal(parseGitHubRemote('https://gitlab.com/acme/nixcfg.git'), undefined);
    assert.deepEqual(parseGitHubRemote('git@ghe.example.com:acme/nixcfg.git', 'ghe.example.com'), repo);
  });
});
