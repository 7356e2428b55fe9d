// The deploy summary webview as the UI tests read it (06-deploy, 07-github): its state,
// a bounded wait for a state, and a host's row.
import { waitFor } from './procs.mjs';

/** The deploy summary webview's state: headline and one { host, outcome, generations, line } per row. */
export async function summary(frame) {
  return frame.evaluate(() => ({
    headline: document.getElementById('headline')?.textContent ?? '',
    meta: document.getElementById('meta')?.textContent ?? '',
    actions: [...document.querySelectorAll('#actions button')].map((b) => b.textContent),
    rows: [...document.querySelectorAll('#rows tr')].map((tr) => {
      const td = [...tr.children].map((c) => c.textContent ?? '');
      // The failing line is the cell's own text; the closure diff is a <details> inside it.
      const lineCell = tr.children[3];
      const line = lineCell ? [...lineCell.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent).join('') : '';
      const diff = lineCell?.querySelector('details pre')?.textContent ?? '';
      return { host: td[0], outcome: td[1], outcomeClass: tr.children[1]?.className ?? '', generations: td[2], line, diff };
    }),
  }));
}

export async function waitSummary(frame, what, check, timeoutMs) {
  let last;
  try {
    return await waitFor(what, async () => {
      last = await summary(frame);
      return check(last) ? last : null;
    }, { timeoutMs, everyMs: 100 });
  } catch (err) {
    throw new Error(`${err.message}; the deploy summary shows: ${JSON.stringify(last)}`);
  }
}

export const row = (s, host) => s.rows.find((r) => r.host === host || r.host === `${host} (canary)`);
