// How times read in the Fleet view: local dates and times, never ages that go stale on screen.

/** "2026-11-22 04:05" in local time: short enough for a description. */
export function formatTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/**
 * "15:02" today, else "2026-11-22 15:02": a moment that stays true however long the row is
 * shown unrefreshed (an age like "5 min ago" would not).
 */
export function formatMoment(iso: string, now: number): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const full = formatTime(iso);
  return new Date(now).toDateString() === d.toDateString() ? full.slice(11) : full;
}
