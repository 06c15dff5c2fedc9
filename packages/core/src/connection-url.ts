/**
 * Whether pg (pg-connection-string 2.x) can parse a `postgresql://` connection string, for the
 * checks that refuse a bad one before any I/O (store-postgres's options, the CLI's
 * `--database-url`): the same normalization first (spaces and stray `%` encoded) and the same
 * fallback for an empty host (`postgresql://app@/db`: the host then comes from PGHOST or the
 * socket default), so nothing pg accepts is refused; then the parts pg decodes (user, password,
 * database), whose URIError pg would otherwise throw at the first connection. The scheme is the
 * caller's to check.
 */
export function parsesAsPostgresUrl(url: string): boolean {
  const normalized = /\s|%[^a-f0-9]|%[a-f0-9][^a-f0-9]/i.test(url)
    ? encodeURI(url).replace(/%25(\d\d)/g, '%$1')
    : url;
  for (const candidate of [normalized, normalized.replace('@/', '@___DUMMY___/')]) {
    let parsed: URL;
    try {
      parsed = new URL(candidate, 'postgres://base');
    } catch {
      continue;
    }
    try {
      decodeURIComponent(parsed.username);
      decodeURIComponent(parsed.password);
      decodeURI(parsed.pathname);
      return true;
    } catch {
      return false;
    }
  }
  return false;
}
