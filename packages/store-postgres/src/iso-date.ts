/**
 * `date.toISOString()`, computed in JavaScript for the years 0000–9999 (every other date, and
 * an invalid one, goes to `toISOString` itself). V8's is a call into the runtime's date cache:
 * about 0.55 µs against 0.19 here, and an append formats two (`occurredAt` and the append's
 * time), a claim two more.
 */
export function isoDate(date: Date): string {
  const t = date.getTime();
  // NaN fails both comparisons.
  if (!(t >= MIN_FAST && t <= MAX_FAST)) return date.toISOString();
  const days = Math.floor(t / DAY);
  let ms = t - days * DAY;
  // Days since 1970-01-01 to the proleptic Gregorian calendar (H. Hinnant, "civil_from_days"):
  // eras of 400 years starting on 1 March, so the leap day ends a year.
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const hours = Math.floor(ms / 3_600_000);
  ms -= hours * 3_600_000;
  const minutes = Math.floor(ms / 60_000);
  ms -= minutes * 60_000;
  const seconds = Math.floor(ms / 1000);
  ms -= seconds * 1000;
  const y = year < 1000 ? (year < 10 ? '000' : year < 100 ? '00' : '0') + year : `${year}`;
  return `${y}-${two(month)}-${two(day)}T${two(hours)}:${two(minutes)}:${two(seconds)}.${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
}

const DAY = 86_400_000;
/** 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: `toISOString` prints a 4-digit year. */
const MIN_FAST = -62_167_219_200_000;
const MAX_FAST = 253_402_300_799_999;

const two = (n: number): string => (n < 10 ? `0${n}` : `${n}`);
