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
 * string): `scheme://user:password@` and `password=...` forms.
 */
export function maskSecrets(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]*:)[^@\s/]+@/gi, '$1***@')
    .replace(/((?:password|passwd|pwd|secret|token)\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s&;,]+)/gi, '$1***');
}

/** An error's message (or a thrown value as text) with credentials masked (`maskSecrets`). */
export function maskedMessage(error: unknown): string {
  return maskSecrets(error instanceof Error ? error.message : String(error));
}
