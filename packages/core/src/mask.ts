/**
 * Masks the password (and any `password=`/`token=`-like query parameter) in a connection URL,
 * so it can go into a log line, an error message or the status view.
 * `postgresql://app:s3cret@db/app` → `postgresql://app:***@db/app`.
 */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    let changed = false;
    if (parsed.password) {
      parsed.password = '***';
      changed = true;
    }
    for (const key of [...parsed.searchParams.keys()]) {
      if (SECRET_PARAM.test(key)) {
        parsed.searchParams.set(key, '***');
        changed = true;
      }
    }
    return changed ? parsed.toString() : url;
  } catch {
    return maskSecrets(url);
  }
}

const SECRET_PARAM = /pass|secret|token|key|auth/i;

/**
 * Best-effort scrub of credentials inside free text (a driver error that echoes its connection
 * string): `scheme://user:password@` and `password=...` forms. The scheme is matched on at most
 * its last 32 letters (a longer one is still found, from a later letter): unbounded, a long word
 * without `://` cost a scan to its end from each of its letters (15 ms for 4 000 letters).
 */
export function maskSecrets(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]{0,31}:\/\/[^:/?#\s@]*:)[^@\s/]+@/gi, '$1***@')
    .replace(/((?:password|passwd|pwd|secret|token)\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s&;,]+)/gi, '$1***');
}

/**
 * Masks a credential left unfinished at the end of a text that was cut short (before its
 * ellipsis): a connection string whose password the cut fell in or right after
 * (`postgresql://app:s3c`, no `@` left to tell `maskSecrets` it was one) and a quoted
 * `password="…` value whose closing quote was cut off. Run it before `maskSecrets`, on the kept
 * text only. `postgresql://db:5432/app` cut in its path is not one and stays as it is; one cut in
 * its port (`postgresql://db:54`) is masked as if it were, which hides nothing secret.
 */
export function maskCutTail(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]{0,31}:\/\/[^:/?#\s@]*:)[^@\s/]+$/i, '$1***')
    .replace(/((?:password|passwd|pwd|secret|token)\s*[=:]\s*)("[^"]*|'[^']*)$/i, '$1***');
}

/** An error's message (or a thrown value as text) with credentials masked (`maskSecrets`). */
export function maskedMessage(error: unknown): string {
  return maskSecrets(error instanceof Error ? error.message : String(error));
}
