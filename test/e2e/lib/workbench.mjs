// Small helpers over VS Code's workbench DOM for the UI tests: the Fleet tree, the command
// palette and QuickPicks, context menus, dialogs, notifications and the output panel.
import { normalise, sel } from './browser.mjs';

/** Click the NixFleet activity bar item unless the Fleet view is already showing. */
export async function openFleetView(page) {
  const item = page.locator(`${sel.activityBar} [aria-label^="NixFleet"]`).first();
  await item.waitFor({ timeout: 20_000 });
  const header = page.locator(`${sel.sidebar} .composite.title`, { hasText: /NixFleet/i }).first();
  if (!(await header.isVisible().catch(() => false))) await item.click();
  await header.waitFor({ timeout: 20_000 });
}

/** The visible rows of the sidebar tree: { text, level, expanded, index }. */
export async function treeRows(page) {
  return page.$$eval(sel.treeRow, (rows) =>
    rows.map((r) => ({
      text: (r.innerText || '').replace(/\u00a0/g, ' ').replace(/\s+/g, ' ').trim(),
      label: (r.querySelector('.label-name')?.textContent || '').trim(),
      description: (r.querySelector('.label-description')?.textContent || '').trim(),
      aria: r.getAttribute('aria-label') || '',
      level: Number(r.getAttribute('aria-level') || 0),
      expanded: r.getAttribute('aria-expanded'),
      index: Number(r.getAttribute('data-index') ?? -1),
    })),
  );
}

/** Text dump of the tree, for error messages. */
export async function treeDump(page) {
  const rows = await treeRows(page);
  return rows.map((r) => `${'  '.repeat(Math.max(0, r.level - 1))}${r.text}`).join('\n') || '(no rows)';
}

/** Locator of the first tree row (at `level`, if given) whose label matches `label`. */
export function rowLocator(page, label, level) {
  const rows = page.locator(sel.treeRow + (level ? `[aria-level="${level}"]` : ''));
  return rows.filter({ has: page.locator('.label-name', { hasText: label instanceof RegExp ? label : exact(label) }) }).first();
}

function exact(text) {
  return new RegExp(`^\\s*${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`);
}

/** Wait until a row appears, with the tree in the error message when it does not. */
export async function waitRow(page, label, { level, timeoutMs = 30_000 } = {}) {
  const row = rowLocator(page, label, level);
  try {
    await row.waitFor({ timeout: timeoutMs });
  } catch {
    throw new Error(`no tree row ${label}${level ? ` at level ${level}` : ''} within ${timeoutMs / 1000} s; the Fleet tree shows:\n${await treeDump(page)}`);
  }
  return row;
}

/**
 * Expand a collapsed row (clicking its twistie) until it shows expanded. A tree refresh that
 * lands right after the click can re-render the row collapsed (CI saw it), so the click is
 * repeated, each time after reading the state afresh.
 */
export async function expand(page, row, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await row.getAttribute('aria-expanded', { timeout: 2_000 }).catch(() => null);
    if (state === 'true') return;
    if (Date.now() > deadline) {
      const text = await row.innerText({ timeout: 1_000 }).catch(() => '(row gone)');
      throw new Error(`the tree row "${text.replace(/\s+/g, ' ')}" did not expand within ${timeoutMs / 1000} s (aria-expanded ${state}); the Fleet tree shows:\n${await treeDump(page)}`);
    }
    if (state === 'false') await row.locator('.monaco-tl-twistie').click({ timeout: 2_000 }).catch(() => {});
    await page.waitForTimeout(state === 'false' ? 400 : 100);
  }
}

/**
 * Poll a condition on the tree (e.g. a row's description) with the tree dump on timeout.
 * `keepExpanded`: labels of rows to (re-)expand while polling, as a tree refresh that lands
 * while a row is being expanded can leave it collapsed.
 */
export async function waitTree(page, what, check, timeoutMs = 30_000, { keepExpanded = [] } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await treeRows(page);
    const v = check(rows);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}; the Fleet tree shows:\n${await treeDump(page)}`);
    for (const r of rows) {
      if (r.expanded === 'false' && keepExpanded.includes(r.label)) {
        await page.locator(`${sel.treeRow}[data-index="${r.index}"] .monaco-tl-twistie`).click().catch(() => {});
      }
    }
    await page.waitForTimeout(200);
  }
}

/**
 * F1, type the command's title, run it. F1 can miss: a quick input still closing from the
 * Escape, or the keyboard focus inside a webview's iframe. So each attempt waits for the old
 * quick input to be gone, and a retry opens the palette with a click on the command center.
 */
export async function runPaletteCommand(page, title) {
  const input = page.locator(sel.quickInputBox);
  let failure;
  for (let attempt = 0; attempt < 3; attempt++) {
    await page.keyboard.press('Escape');
    await input.waitFor({ state: 'hidden', timeout: 3_000 }).catch(() => {});
    if (attempt === 0) await page.keyboard.press('F1');
    else await page.locator('.command-center-center').first().click({ timeout: 5_000 }).catch(() => page.keyboard.press('F1'));
    try {
      await input.waitFor({ timeout: 5_000 });
      await input.fill('>' + title, { timeout: 5_000 });
      failure = undefined;
      break;
    } catch (err) {
      failure = err;
    }
  }
  if (failure) throw new Error(`could not open the command palette to run "${title}" (3 attempts): ${String(failure.message).split('\n')[0]}`);
  const row = page.locator(sel.quickInputRow, { has: page.locator('.label-name', { hasText: exact(title) }) }).first();
  try {
    await row.waitFor({ timeout: 10_000 });
  } catch {
    const shown = await page.locator(sel.quickInputRow).allInnerTexts();
    throw new Error(`the command palette has no command "${title}"; it shows: ${shown.map((s) => s.replace(/\s+/g, ' ')).join(' | ') || '(nothing)'}`);
  }
  await row.click();
}

/**
 * In an open QuickPick, choose the first item whose label is `text` (string) or whose text
 * matches (RegExp). Chosen with the keyboard (arrows, Enter): a hover that opens over the list
 * when items appear under the mouse would swallow a click.
 */
export async function pickQuick(page, text, timeoutMs = 15_000) {
  const rows = page.locator(sel.quickInputRow);
  const row = (typeof text === 'string' ? rows.filter({ has: page.locator('.label-name', { hasText: exact(text) }) }) : rows.filter({ hasText: text })).first();
  try {
    await row.waitFor({ timeout: timeoutMs });
  } catch {
    const shown = await page.locator(sel.quickInputRow).allInnerTexts();
    throw new Error(`the QuickPick has no item matching ${text}; it shows: ${shown.map((s) => s.replace(/\s+/g, ' ')).join(' | ') || '(nothing)'}`);
  }
  const items = (await rows.allInnerTexts()).map((s) => s.replace(/\s+/g, ' ').trim());
  // The list can re-render while we move (an extension may update its items, which resets the
  // focus), so each step re-reads both where the focus is and where the target is, and the
  // choice is confirmed by the focused row's own text rather than by an index read earlier.
  const matches = async (loc) => {
    if (!(await loc.count())) return false;
    if (typeof text !== 'string') return text.test(await loc.innerText().catch(() => ''));
    const label = (await loc.locator('.label-name').first().innerText().catch(() => '')).trim();
    return label === text;
  };
  const focusedRow = () => page.locator(`${sel.quickInputRow}.focused`).first();
  let confirmed = false;
  for (let i = 0; i < 80 && !confirmed; i++) {
    if (await matches(focusedRow())) {
      confirmed = true;
      break;
    }
    const focused = focusedRow();
    const at = (await focused.count()) ? Number(await focused.getAttribute('data-index').catch(() => -1)) : -1;
    const target = Number(await row.getAttribute('data-index', { timeout: 2_000 }).catch(() => -1));
    if (target < 0) {
      await page.waitForTimeout(50);
      continue;
    }
    await page.keyboard.press(at < target ? 'ArrowDown' : 'ArrowUp');
    await page.waitForTimeout(30);
  }
  if (!confirmed) {
    const shown = (await rows.allInnerTexts()).map((s) => s.replace(/\s+/g, ' ').trim());
    const at = await focusedRow().innerText().catch(() => '(none)');
    throw new Error(`could not move the QuickPick's focus to the item matching ${text}; focused: ${at.replace(/\s+/g, ' ')}; items: ${shown.join(' | ')}`);
  }
  await page.keyboard.press('Enter');
  return items;
}

/** Right-click a row and click the context menu item with this title. */
export async function contextMenu(page, row, title) {
  await row.click({ button: 'right' });
  const menu = page.locator('.context-view .monaco-menu');
  await menu.waitFor({ timeout: 10_000 });
  // Choose with the keyboard, as a mouse click right after the menu opens can be swallowed
  // while VS Code's menu is still taking focus: Down moves through the enabled items in order.
  const labels = (await menu.locator('.action-item:not(.disabled) .action-label').allInnerTexts()).map((s) => s.trim()).filter(Boolean);
  const at = labels.findIndex((l) => l === title);
  if (at < 0) {
    await page.keyboard.press('Escape');
    throw new Error(`the context menu has no "${title}"; it shows: ${labels.join(' | ') || '(nothing)'}`);
  }
  for (let i = 0; i <= at; i++) await page.keyboard.press('ArrowDown');
  const focused = (await menu.locator('.action-item.focused .action-label').allInnerTexts().catch(() => []))[0]?.trim();
  if (focused !== title) {
    await page.keyboard.press('Escape');
    throw new Error(`could not select "${title}" in the context menu (focused: ${focused ?? 'nothing'}; items: ${labels.join(' | ')})`);
  }
  await page.keyboard.press('Enter');
}

/** The open modal dialog's message text, and a function to click one of its buttons. */
export async function dialog(page, timeoutMs = 15_000) {
  const box = page.locator(sel.dialog);
  try {
    await box.waitFor({ timeout: timeoutMs });
  } catch {
    // Say what the window showed instead: an error notification usually tells why.
    const shown = await notifications(page).catch(() => []);
    throw new Error(`no modal dialog within ${timeoutMs / 1000} s; notifications shown: ${shown.join(' | ') || '(none)'}`);
  }
  const text = normalise(await box.innerText()).replace(/\s+/g, ' ');
  const buttons = (await box.locator('.monaco-button').allInnerTexts()).map((s) => s.trim());
  return {
    text,
    buttons,
    click: (label) => box.locator('.monaco-button', { hasText: label }).first().click(),
  };
}

/** Texts of the notification toasts currently shown. */
export async function notifications(page) {
  return (await page.locator(sel.notification).allInnerTexts()).map((s) => normalise(s).replace(/\s+/g, ' ').trim());
}

/**
 * Dismiss every notification, so a test waits for its own: VS Code shows only a few toasts at
 * once and keeps those with buttons, so an earlier test's toasts can hide the one awaited.
 */
export async function clearNotifications(page) {
  if (!(await notifications(page)).length) return;
  await runPaletteCommand(page, 'Notifications: Clear All Notifications');
  await page.locator(sel.notification).first().waitFor({ state: 'hidden', timeout: 5_000 }).catch(() => {});
}

/**
 * The notification matching `re`, as a toast; at the deadline also in the notification center:
 * VS Code hides an info toast without buttons after 15 s and shows only three toasts at once,
 * so one that was shown may already be gone from the toasts, but the center keeps it.
 */
export async function waitNotification(page, re, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await notifications(page);
    const hit = all.find((t) => re.test(t));
    if (hit) return hit;
    if (Date.now() > deadline) {
      const kept = await notificationCenter(page);
      const inCenter = kept.find((t) => re.test(t));
      if (inCenter) return inCenter;
      throw new Error(`no notification matching ${re} within ${timeoutMs / 1000} s; toasts shown: ${all.join(' | ') || '(none)'}; in the notification center: ${kept.join(' | ') || '(none)'}`);
    }
    await page.waitForTimeout(200);
  }
}

/** Every notification the notification center holds (it is opened to read them, then closed). */
export async function notificationCenter(page) {
  await runPaletteCommand(page, 'Notifications: Show Notifications');
  const items = page.locator(sel.notificationCenterItem);
  await items.first().waitFor({ state: 'visible', timeout: 5_000 }).catch(() => {});
  const texts = (await items.allInnerTexts()).map((s) => normalise(s).replace(/\s+/g, ' ').trim());
  await page.keyboard.press('Escape');
  return texts;
}

/** The output panel's visible lines, U+00A0 normalised. */
export async function outputLines(page) {
  const lines = await page.$$eval(`${sel.outputLines} .view-line`, (els) =>
    els
      .map((e) => ({ top: parseFloat(e.style.top || '0'), text: e.textContent || '' }))
      .sort((a, b) => a.top - b.top)
      .map((l) => l.text),
  );
  return lines.map((l) => normalise(l).trimEnd());
}

/** Which output channel the panel shows (the channel picker's value). */
export async function outputChannel(page) {
  return page
    .locator(`${sel.panel} .monaco-select-box, ${sel.panel} select`)
    .first()
    .evaluate((e) => (e.tagName === 'SELECT' ? e.options[e.selectedIndex]?.text : e.getAttribute('title') || e.textContent) || '')
    .catch(() => '');
}

/** Drag the sidebar's sash so tree descriptions fit (screenshots show the whole row). */
export async function widenSidebar(page, width = 560) {
  const box = await page.locator(sel.sidebar).boundingBox();
  if (!box || box.width >= width) return;
  const y = box.y + box.height / 2;
  const x = box.x + box.width - 1;
  await page.mouse.move(x, y);
  await page.mouse.down();
  await page.mouse.move(box.x + width, y, { steps: 5 });
  await page.mouse.up();
  // Off the sash, so its hover highlight is not in the screenshots.
  await page.mouse.move(box.x + width + 300, y + 200);
}

/**
 * The notification toast whose text matches `re`: its text, its action buttons' labels, and a
 * function to click one of them.
 */
export async function notificationWithActions(page, re, timeoutMs = 60_000) {
  const text = await waitNotification(page, re, timeoutMs);
  const toast = page.locator(sel.notification).filter({ hasText: re }).first();
  const buttons = (await toast.locator('.notification-list-item-buttons-container .monaco-button').allInnerTexts()).map((s) => s.trim()).filter(Boolean);
  return {
    text,
    buttons,
    click: (label) => toast.locator('.notification-list-item-buttons-container .monaco-button', { hasText: exact(label) }).first().click(),
  };
}

/**
 * The frame of the webview whose document has `selector`. A webview is an iframe (the
 * workbench's webview host) holding another iframe with the extension's HTML; playwright
 * lists both in page.frames(), cross-origin included.
 */
export async function webviewFrame(page, selector, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const f of page.frames()) {
      if (f === page.mainFrame()) continue;
      if (await f.$(selector).catch(() => null)) return f;
    }
    if (Date.now() > deadline) {
      throw new Error(`no webview with ${selector} within ${timeoutMs / 1000} s (frames: ${page.frames().map((f) => f.url().slice(0, 80)).join(' | ')})`);
    }
    await page.waitForTimeout(200);
  }
}
