// The local route: `git revert -m 1 <merge>` in a clone and push, with real repositories.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { findPullRequestMerge, remoteUrl } from '../../src/gitops/repo';
import { GitOpsError, headCommit, revertLocally } from '../../src/gitops/revert';
import { commitFiles, git, makePrRepo } from './deploy-fixtures';

const base = { 'flake.nix': '{ outputs = _: {}; }\n', 'h1.nix': 'version = 1;\n' };
const pr = { 'h1.nix': 'version = 2;\n', 'new.nix': 'added by the PR\n' };

describe('deploy: local git revert of a merge', () => {
  it('reverts the merge with -m 1 and pushes; the tree equals the pre-merge tree', async () => {
    const r = await makePrRepo(base, pr);
    try {
      const res = await revertLocally({ repoDir: r.work, commit: r.merge });
      assert.equal(res.mainline, true);
      assert.equal(res.pushedTo, 'origin/main');
      assert.equal(await git(r.origin, 'rev-parse', 'refs/heads/main'), res.revertCommit);
      assert.equal(await git(r.origin, 'rev-parse', `${res.revertCommit}^{tree}`), await git(r.origin, 'rev-parse', `${r.beforeMerge}^{tree}`));
      assert.equal(existsSync(path.join(r.work, 'new.nix')), false);
      assert.equal((await git(r.work, 'status', '--porcelain')), '');
    } finally {
      r.cleanup();
    }
  });

  it('keeps later commits: only the PR changes go (main moved after the merge)', async () => {
    const r = await makePrRepo(base, pr);
    try {
      await commitFiles(r.work, { 'later.nix': 'later\n' }, 'later work');
      await git(r.work, 'push', '-q', 'origin', 'main');
      // The clone is behind origin: another clone pushed one more commit.
      const other = path.join(r.dir, 'other');
      await git(r.dir, 'clone', '-q', r.origin, other);
      await commitFiles(other, { 'other.nix': 'other\n' }, 'from another clone');
      await git(other, 'push', '-q', 'origin', 'main');
      const res = await revertLocally({ repoDir: r.work, commit: r.merge.slice(0, 12) });
      const files = (await git(r.origin, 'ls-tree', '--name-only', res.revertCommit)).split('\n').sort();
      assert.deepEqual(files, ['flake.nix', 'h1.nix', 'later.nix', 'other.nix']);
      assert.equal(await git(r.origin, 'show', `${res.revertCommit}:h1.nix`), 'version = 1;');
    } finally {
      r.cleanup();
    }
  });

  it('a conflict aborts the revert and leaves the clone as it was', async () => {
    const r = await makePrRepo(base, pr);
    try {
      await commitFiles(r.work, { 'h1.nix': 'version = 3;\n' }, 'edit the same line later');
      const head = await git(r.work, 'rev-parse', 'HEAD');
      await assert.rejects(revertLocally({ repoDir: r.work, commit: r.merge, push: false }), (e: GitOpsError) => {
        assert.match(e.message, /conflicts with later changes to h1\.nix/);
        assert.match(e.message, /back as it was/);
        return true;
      });
      assert.equal(await git(r.work, 'rev-parse', 'HEAD'), head);
      assert.equal(await git(r.work, 'status', '--porcelain'), '');
      assert.equal(readFileSync(path.join(r.work, 'h1.nix'), 'utf8'), 'version = 3;\n');
    } finally {
      r.cleanup();
    }
  });

  it('without a commit identity: refused before anything changes, with how to set one', async () => {
    const r = await makePrRepo(base, pr);
    const saved = process.env.HOME;
    const home = path.join(r.dir, 'empty-home');
    try {
      await git(r.work, 'config', '--unset', 'user.name');
      await git(r.work, 'config', '--unset', 'user.email');
      // No guessing from the machine's host name either (it may or may not work there).
      await git(r.work, 'config', 'user.useConfigOnly', 'true');
      mkdirSync(home);
      process.env.HOME = home;
      const head = await git(r.work, 'rev-parse', 'HEAD');
      await assert.rejects(revertLocally({ repoDir: r.work, commit: r.merge }), (e: GitOpsError) => {
        assert.match(e.message, /no commit identity .* nothing was changed\. Set one \(git config --global user\.name/);
        return true;
      });
      assert.equal(await git(r.work, 'rev-parse', 'HEAD'), head);
      assert.equal(await git(r.work, 'status', '--porcelain'), '', 'no staged or changed file left behind');
      assert.equal(await git(r.origin, 'rev-parse', 'refs/heads/main'), r.merge);
    } finally {
      process.env.HOME = saved;
      r.cleanup();
    }
  });

  it('refuses a dirty clone, an unknown commit and a commit not on the branch', async () => {
    const r = await makePrRepo(base, pr);
    try {
      writeFileSync(path.join(r.work, 'h1.nix'), 'edited\n');
      await assert.rejects(revertLocally({ repoDir: r.work, commit: r.merge }), /uncommitted changes \(h1\.nix\)/);
      await git(r.work, 'checkout', '-q', '--', 'h1.nix');
      await assert.rejects(revertLocally({ repoDir: r.work, commit: 'deadbeefdeadbeef' }), /is not in/);
      await assert.rejects(revertLocally({ repoDir: r.work, commit: 'main; rm -rf /' }), /not a commit hash/);
      await git(r.work, 'checkout', '-q', '-b', 'side', r.beforeMerge);
      const side = await commitFiles(r.work, { 'side.nix': 's\n' }, 'side');
      await git(r.work, 'checkout', '-q', 'main');
      await assert.rejects(revertLocally({ repoDir: r.work, commit: side, push: false }), /not part of main/);
      assert.deepEqual(await headCommit(r.work), { commit: r.merge, branch: 'main', dirty: false });
    } finally {
      r.cleanup();
    }
  });

  it('a refused push says the revert commit is local only', async () => {
    const r = await makePrRepo(base, pr);
    try {
      // A pre-receive hook on origin refuses every push.
      const hook = path.join(r.origin, 'hooks', 'pre-receive');
      writeFileSync(hook, '#!/bin/sh\necho "protected branch" >&2\nexit 1\n', { mode: 0o755 });
      await assert.rejects(revertLocally({ repoDir: r.work, commit: r.merge }), (e: GitOpsError) => {
        assert.ok(e.unpushedCommit);
        assert.match(e.message, /NOT on origin/);
        return true;
      });
      assert.equal(await git(r.origin, 'rev-parse', 'refs/heads/main'), r.merge);
    } finally {
      r.cleanup();
    }
  });

  it('finds a PR\'s merge commit by GitHub\'s merge message, and the origin URL', async () => {
    const r = await makePrRepo(base, pr);
    try {
      assert.equal(await findPullRequestMerge(r.work, 1), r.merge);
      assert.equal(await findPullRequestMerge(r.work, 11), undefined, '#1 must not match #11 nor the reverse');
      assert.equal(await remoteUrl(r.work), r.origin);
      assert.equal(await remoteUrl(r.work, 'upstream'), undefined);
      await assert.rejects(remoteUrl(r.work, '--upload-pack=x'), /not a valid remote name/);
    } finally {
      r.cleanup();
    }
  });
});
