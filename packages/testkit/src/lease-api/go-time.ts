/**
 * Go's `time.Parse` for the two layouts the apiserver decodes: `metav1.Time` (time.RFC3339) and
 * `metav1.MicroTime` (`2006-01-02T15:04:05.000000Z07:00`). Same acceptance rules and the same error
 * text, because a client that sends `...05.123Z` must fail here exactly as it fails on a real cluster.
 */

export const RFC3339 = '2006-01-02T15:04:05Z07:00';
export const RFC3339_MICRO = '2006-01-02T15:04:05.000000Z07:00';

/** A parsed instant: epoch milliseconds (UTC) plus the microseconds within the millisecond. */
export interface GoInstant {
  epochMs: number;
  /** 0-999, the microseconds beyond `epochMs`. */
  micros: number;
}

type Element =
  | { literal: string }
  | { std: '2006' | '01' | '02' | '15' | '04' | '05' | '.000000' | 'Z07:00' };

const ELEMENTS: Record<string, Element[]> = {
  [RFC3339]: [
    { std: '2006' },
    { literal: '-' },
    { std: '01' },
    { literal: '-' },
    { std: '02' },
    { literal: 'T' },
    { std: '15' },
    { literal: ':' },
    { std: '04' },
    { literal: ':' },
    { std: '05' },
    { std: 'Z07:00' },
  ],
  [RFC3339_MICRO]: [
    { std: '2006' },
    { literal: '-' },
    { std: '01' },
    { literal: '-' },
    { std: '02' },
    { literal: 'T' },
    { std: '15' },
    { literal: ':' },
    { std: '04' },
    { literal: ':' },
    { std: '05' },
    { std: '.000000' },
    { std: 'Z07:00' },
  ],
};

const quote = (s: string) => JSON.stringify(s);
const isDigit = (s: string, i: number) => {
  const c = s.charCodeAt(i);
  return c >= 48 && c <= 57;
};

/** Go's `getnum`: one or two digits; `fixed` demands two. */
function getnum(value: string, fixed: boolean): [number, string] | undefined {
  if (!isDigit(value, 0)) return undefined;
  if (!isDigit(value, 1)) {
    if (fixed) return undefined;
    return [Number(value[0]), value.slice(1)];
  }
  return [Number(value.slice(0, 2)), value.slice(2)];
}

function daysIn(month: number, year: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * Parses `value` with `layout` as Go does.
 *
 * @returns the instant, or the Go error message (`parsing time "..." as "...": cannot parse "..." as "..."`).
 */
export function parseGoTime(
  value: string,
  layout: typeof RFC3339 | typeof RFC3339_MICRO,
): GoInstant | string {
  const elements = ELEMENTS[layout] ?? [];
  let rest = value;
  let year = 0;
  let month = 0;
  let day = 0;
  let hour = 0;
  let minute = 0;
  let second = 0;
  let nanos = 0;
  let offsetMinutes = 0;
  const cannotParse = (layoutElem: string) =>
    `parsing time ${quote(value)} as ${quote(layout)}: cannot parse ${quote(rest)} as ${quote(layoutElem)}`;
  const outOfRange = (what: string) => `parsing time ${quote(value)}: ${what} out of range`;

  for (let index = 0; index < elements.length; index += 1) {
    const element = elements[index] as Element;
    if ('literal' in element) {
      if (!rest.startsWith(element.literal)) return cannotParse(element.literal);
      rest = rest.slice(element.literal.length);
      continue;
    }
    switch (element.std) {
      case '2006': {
        if (rest.length < 4 || ![0, 1, 2, 3].every((i) => isDigit(rest, i))) return cannotParse('2006');
        year = Number(rest.slice(0, 4));
        rest = rest.slice(4);
        break;
      }
      case '01':
      case '02':
      case '04':
      case '15': {
        const got = getnum(rest, element.std !== '15');
        if (got === undefined) return cannotParse(element.std);
        [, rest] = got;
        if (element.std === '01') {
          month = got[0];
          if (month < 1 || month > 12) return outOfRange('month');
        } else if (element.std === '02') {
          day = got[0];
        } else if (element.std === '15') {
          hour = got[0];
          if (hour >= 24) return outOfRange('hour');
        } else {
          minute = got[0];
          if (minute >= 60) return outOfRange('minute');
        }
        break;
      }
      case '05': {
        const got = getnum(rest, true);
        if (got === undefined) return cannotParse('05');
        [second, rest] = got;
        if (second >= 60) return outOfRange('second');
        const nextElement = elements[index + 1];
        const layoutHasFraction =
          nextElement !== undefined && 'std' in nextElement && nextElement.std === '.000000';
        // Go accepts a fraction the layout does not name, but only when the layout has none.
        if (
          !layoutHasFraction &&
          rest.length >= 2 &&
          (rest[0] === '.' || rest[0] === ',') &&
          isDigit(rest, 1)
        ) {
          let n = 2;
          while (n < rest.length && isDigit(rest, n)) n += 1;
          const digits = rest.slice(1, n);
          nanos = Number(digits.slice(0, 9).padEnd(9, '0'));
          rest = rest.slice(n);
        }
        break;
      }
      case '.000000': {
        const width = 7;
        if (rest.length < width || (rest[0] !== '.' && rest[0] !== ',')) return cannotParse('.000000');
        const digits = rest.slice(1, width);
        if (!/^\d{6}$/.test(digits)) return cannotParse('.000000');
        nanos = Number(digits) * 1000;
        rest = rest.slice(width);
        break;
      }
      case 'Z07:00': {
        if (rest.startsWith('Z')) {
          rest = rest.slice(1);
          offsetMinutes = 0;
          break;
        }
        if (rest.length < 6 || (rest[0] !== '+' && rest[0] !== '-') || rest[3] !== ':')
          return cannotParse('Z07:00');
        if (!isDigit(rest, 1) || !isDigit(rest, 2) || !isDigit(rest, 4) || !isDigit(rest, 5)) {
          return cannotParse('Z07:00');
        }
        const hours = Number(rest.slice(1, 3));
        const minutes = Number(rest.slice(4, 6));
        if (hours > 24) return outOfRange('time zone offset hour');
        if (minutes > 60) return outOfRange('time zone offset minute');
        offsetMinutes = (rest[0] === '-' ? -1 : 1) * (hours * 60 + minutes);
        rest = rest.slice(6);
        break;
      }
    }
  }
  if (rest.length > 0) return `parsing time ${quote(value)}: extra text: ${quote(rest)}`;
  if (day < 1 || day > daysIn(month, year)) return outOfRange('day');
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, 0);
  const epochMs = utc.getTime() - offsetMinutes * 60_000 + Math.floor(nanos / 1_000_000);
  return { epochMs, micros: Math.floor(nanos / 1000) % 1000 };
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** Go's `Time.UTC().Format(layout)` for the two layouts (RFC3339 drops the fraction). */
export function formatGoTime(instant: GoInstant, layout: typeof RFC3339 | typeof RFC3339_MICRO): string {
  const date = new Date(instant.epochMs);
  const base = `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)}T${pad(
    date.getUTCHours(),
    2,
  )}:${pad(date.getUTCMinutes(), 2)}:${pad(date.getUTCSeconds(), 2)}`;
  if (layout === RFC3339) return `${base}Z`;
  return `${base}.${pad(date.getUTCMilliseconds() * 1000 + instant.micros, 6)}Z`;
}

/** Go's zero `time.Time` (0001-01-01T00:00:00Z), which MicroTime marshals as `null`. */
export function isGoZeroTime(instant: GoInstant): boolean {
  return instant.epochMs === -62135596800000 && instant.micros === 0;
}

/** Now as `metav1.Time` prints it. */
export function nowRfc3339(now = Date.now()): string {
  return formatGoTime({ epochMs: now, micros: 0 }, RFC3339);
}
