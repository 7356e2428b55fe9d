// Turns what Octokit throws into one sentence: what GitHub said, while doing what, and
// what the user can do next. Every GitHub call in src/github goes through `explain`.

export type GitHubErrorKind =
  | 'auth' // 401: token missing, wrong or expired
  | 'forbidden' // 403 without rate limit: token lacks a scope or the repo forbids it
  | 'rate-limit' // 403/429 with x-ratelimit-remaining: 0, or a secondary limit
  | 'not-found' // 404: repo, PR, commit or branch does not exist (or is invisible to the token)
  | 'conflict' // 409: the repository is in a state that refuses the change
  | 'invalid' // 422: GitHub refused the request's content (not fast-forward, ref exists, ...)
  | 'network' // no HTTP answer at all
  | 'server' // 5xx
  | 'base-moved' // the PR's base branch has commits after the merge: only a local `git revert` can merge them
  | 'refused'; // our own precondition (PR not merged, not a merge we can invert, ...)

export class GitHubError extends Error {
  override name = 'GitHubError';
  constructor(
    readonly kind: GitHubErrorKind,
    message: string,
    readonly status?: number,
    /** For rate limits: when GitHub resets the limit. */
    readonly resetAt?: Date,
  ) {
    super(message);
  }
}

interface OctokitLikeError {
  status?: number;
  message?: string;
  response?: { headers?: Record<string, string | number | undefined>; data?: unknown };
  cause?: unknown;
}

function header(err: OctokitLikeError, name: string): string | undefined {
  const v = err.response?.headers?.[name];
  return v === undefined ? undefined : String(v);
}

/** GitHub's message plus the first entry of `errors` (422 Validation Failed names the field there). */
function githubMessage(err: OctokitLikeError): string {
  const data = err.response?.data as { message?: unknown; errors?: unknown } | undefined;
  let msg = typeof data?.message === 'string' ? data.message : (err.message ?? 'unknown error');
  if (Array.isArray(data?.errors) && data.errors.length) {
    const first = data.errors[0] as { message?: unknown; code?: unknown; field?: unknown; resource?: unknown };
    const detail =
      typeof first.message === 'string'
        ? first.message
        : [first.resource, first.field, first.code].filter((x) => typeof x === 'string').join(' ');
    if (detail) msg += `: ${detail}`;
  }
  return msg.replace(/\s+/g, ' ').trim().slice(0, 300);
}

/**
 * Explain an error thrown by an Octokit call made while `doing` (e.g. "reading PR #12 of
 * acme/nixcfg"). Errors that are already GitHubErrors pass through.
 */
export function explain(err: unknown, doing: string): GitHubError {
  if (err instanceof GitHubError) return err;
  const e = (err ?? {}) as OctokitLikeError;
  const status = typeof e.status === 'number' ? e.status : undefined;
  if (status === undefined || !e.response) {
    // Octokit reports a failed fetch as status 500 without a response.
    const cause = e.cause instanceof Error ? ((e.cause as { cause?: unknown }).cause ?? e.cause) : undefined;
    const why = cause instanceof Error ? cause.message : (e.message ?? String(err));
    return new GitHubError(
      'network',
      `Could not reach GitHub while ${doing}: ${why}. Check the network (and the GitHub API URL setting for GitHub Enterprise), then retry.`,
    );
  }
  const msg = githubMessage(e);
  const remaining = header(e, 'x-ratelimit-remaining');
  const reset = header(e, 'x-ratelimit-reset');
  const retryAfter = header(e, 'retry-after');
  if ((status === 403 || status === 429) && (remaining === '0' || retryAfter !== undefined || /rate limit/i.test(msg))) {
    let resetAt: Date | undefined;
    if (reset && /^[0-9]+$/.test(reset)) resetAt = new Date(Number(reset) * 1000);
    else if (retryAfter && /^[0-9]+$/.test(retryAfter)) resetAt = new Date(Date.now() + Number(retryAfter) * 1000);
    const when = resetAt ? `retry after ${resetAt.toISOString()}` : 'wait a few minutes and retry';
    return new GitHubError('rate-limit', `GitHub's API rate limit was hit while ${doing} (${msg}); nothing was changed by this call: ${when}.`, status, resetAt);
  }
  switch (status) {
    case 401:
      return new GitHubError('auth', `GitHub refused the token while ${doing} (401 ${msg}): sign in to GitHub again or store a new token (it needs the "repo" scope).`, status);
    case 403:
      return new GitHubError('forbidden', `GitHub forbade ${doing} (403 ${msg}): the token needs the "repo" scope (or "contents: write" and "pull requests: write" for a fine-grained token), and branch protection may forbid pushing to the branch directly: open a revert PR instead.`, status);
    case 404:
      return new GitHubError('not-found', `GitHub found nothing while ${doing} (404 ${msg}): check the repository owner/name and the number, and that the token can see the repository (private repositories answer 404 to tokens without access).`, status);
    case 409:
      return new GitHubError('conflict', `GitHub refused ${doing} because of the repository's state (409 ${msg}): reload the PR and the branch on GitHub, then retry.`, status);
    case 422:
      return new GitHubError('invalid', `GitHub refused ${doing} (422 ${msg}).`, status);
    default:
      if (status >= 500) {
        return new GitHubError('server', `GitHub failed while ${doing} (${status} ${msg}): GitHub may be having trouble; retry in a moment (githubstatus.com).`, status);
      }
      return new GitHubError('invalid', `GitHub answered ${status} while ${doing}: ${msg}.`, status);
  }
}
