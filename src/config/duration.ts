/**
 * Go `time.Duration` strings ("168h", "1h30m", "300ms"), as registry:2's config.yml writes
 * them. A bare integer is nanoseconds, which is what Go's YAML decoder makes of it.
 */
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value / 1e6 : undefined;
  const text = value.trim();
  if (text === '0') return 0;
  const part = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let consumed = 0;
  while (consumed < text.length) {
    part.lastIndex = consumed;
    const match = part.exec(text);
    if (!match) return undefined;
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
    consumed = part.lastIndex;
  }
  return consumed === 0 ? undefined : total;
}
