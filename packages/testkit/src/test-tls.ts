import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A certificate authority of the test's own and one certificate it signed for `127.0.0.1` and
 * `localhost`, usable by a server and as a client certificate (mutual TLS), all as PEM files in a
 * temporary directory. Made with the `openssl` command (P-256 keys, valid two days).
 */
export interface TestTls {
  readonly dir: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA certificate's PEM text (what a client verifies the server with). */
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  /** Removes the directory. */
  remove(): void;
}

/** Makes the CA and the certificate (`openssl` on PATH); `remove()` when done. */
export function makeTestTls(): TestTls {
  const dir = mkdtempSync(join(tmpdir(), 'evco-tls-'));
  const file = (name: string) => join(dir, name);
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    openssl([
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=evco test CA',
    ]);
    openssl(['req', ...ec, '-keyout', 'redis.key', '-out', 'redis.csr', '-subj', '/CN=localhost']);
    writeFileSync(
      file('ext.cnf'),
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n',
    );
    openssl([
      'x509',
      '-req',
      '-in',
      'redis.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'redis.crt',
      '-days',
      '2',
      '-extfile',
      'ext.cnf',
    ]);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`cannot make test certificates with openssl: ${(error as Error).message}`);
  }
  const read = (name: string) => readFileSync(file(name), 'utf8');
  return {
    dir,
    caFile: file('ca.crt'),
    certFile: file('redis.crt'),
    keyFile: file('redis.key'),
    ca: read('ca.crt'),
    cert: read('redis.crt'),
    key: read('redis.key'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * `redis-server` arguments serving TLS only, on `port`, with the test's certificate; `peers`
 * also speaks TLS to the other servers (replication, the cluster bus, a sentinel's links).
 * `authClients`: whether clients must present a certificate (`--tls-auth-clients`);
 * `plainPort`: also serve plain connections there (`--port`; none by default).
 */
export function redisTlsArgs(
  tls: TestTls,
  port: number,
  options: {
    authClients?: 'yes' | 'no' | 'optional' | undefined;
    peers?: 'replication' | 'cluster' | undefined;
    plainPort?: number | undefined;
  } = {},
): string[] {
  return [
    '--port',
    String(options.plainPort ?? 0),
    '--tls-port',
    String(port),
    '--tls-cert-file',
    tls.certFile,
    '--tls-key-file',
    tls.keyFile,
    '--tls-ca-cert-file',
    tls.caFile,
    '--tls-auth-clients',
    options.authClients ?? 'no',
    ...(options.peers === 'replication' ? ['--tls-replication', 'yes'] : []),
    ...(options.peers === 'cluster' ? ['--tls-replication', 'yes', '--tls-cluster', 'yes'] : []),
  ];
}
