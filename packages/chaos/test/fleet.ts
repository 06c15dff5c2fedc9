import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type IpcMessage, type IpcProcess, spawnIpcProcess, waitFor } from '@evco/testkit';
import pg from 'pg';

const MEMBER = fileURLToPath(new URL('./fixtures/member.ts', import.meta.url));

export interface Member extends IpcProcess {
  name: string;
}

export interface FleetOptions {
  databaseUrl?: string;
  redisUrl: string;
  /** Postgres schema of this fleet; every scenario gets its own. */
  schema?: string;
  /** A SQLite file instead of Postgres; `fileMustExist` for members joining it. */
  dbFile?: string;
  fileMustExist?: boolean;
  channelPrefix: string;
  throwers?: boolean;
  /** store-postgres `asyncCommit` of every member. @default the store's ('none') */
  asyncCommit?: 'none' | 'leases';
}

export const uniqueName = (prefix: string) => `${prefix}_${randomBytes(4).toString('hex')}`;

/** Starts the member processes and waits until each has its handlers registered. */
export async function startMembers(names: string[], options: FleetOptions): Promise<Member[]> {
  const members = names.map((name) => spawnMember(name, options));
  await Promise.all(members.map((m) => m.next('ready', { timeoutMs: 120_000 })));
  return members;
}

/** One member process, not waited for (it may be meant to fail its start). */
export function spawnMember(name: string, options: FleetOptions): Member {
  const env: Record<string, string> = {
    MEMBER: name,
    REDIS_URL: options.redisUrl,
    CHANNEL_PREFIX: options.channelPrefix,
    THROWERS: options.throwers ? '1' : '0',
    FILE_MUST_EXIST: options.fileMustExist ? '1' : '0',
  };
  if (options.asyncCommit) env.ASYNC_COMMIT = options.asyncCommit;
  if (options.dbFile) env.DB_FILE = options.dbFile;
  else Object.assign(env, { DATABASE_URL: options.databaseUrl!, SCHEMA: options.schema! });
  return Object.assign(spawnIpcProcess(MEMBER, { env }), { name });
}

export async function stopMembers(members: Member[]): Promise<void> {
  for (const m of members) {
    if (!m.alive) continue;
    m.send({ type: 'shutdown' });
  }
  await Promise.all(
    members.map(async (m) => {
      if (!m.alive) return;
      await Promise.race([m.exited, new Promise((r) => setTimeout(r, 30_000))]);
      await m.kill();
    }),
  );
}

export async function dropSchema(databaseUrl: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** A fault the scenario injected: from `start` until `end` (when the faulty part was back). */
export interface Fault {
  label: string;
  start: number;
  end: number;
  /** For a killed process: its pid (its runs before `start` may be repeated by others). */
  victimPid?: number;
}

interface Run {
  id: string;
  attempt: number;
  pid: number;
  at: number;
}

export interface Audit {
  acknowledged: string[];
  /** Acknowledged events no handler run ever reported. */
  lost: string[];
  /** Events handled more than once, with the fault that explains it (or none). */
  duplicates: Array<{ id: string; runs: Run[]; fault: string | undefined }>;
  /** Handler runs per fault label. */
  duplicatesByFault: Record<string, number>;
  publishRetries: number;
}

/** Grace after a fault during which a run's completion may still be lost (pool reconnects). */
const GRACE_MS = 3000;

const runs = (members: Member[]): Run[] =>
  members.flatMap((m) => m.messages.filter((x) => x.type === 'handled') as unknown as Run[]);

/** Acknowledged publishes of the events every member handles (`ChaosWork`). */
const acknowledged = (members: Member[]): IpcMessage[] =>
  members.flatMap((m) => m.messages.filter((x) => x.type === 'published' && x.eventType === 'ChaosWork'));

/** Waits until every acknowledged event has been handled at least once. */
export async function waitUntilHandled(members: Member[], timeoutMs = 120_000): Promise<void> {
  await waitFor(
    () => {
      const handled = new Set(runs(members).map((r) => r.id));
      return acknowledged(members).every((p) => handled.has(p.id as string));
    },
    { timeoutMs, intervalMs: 50, message: 'acknowledged events still unhandled' },
  );
}

/**
 * What happened to every acknowledged event. A duplicate is explained by a fault when one run
 * ended before the fault was over (plus a grace for connections to come back) and a later run
 * came after it started: the first run's completion was in flight when the fault hit. For a
 * killed process, the earlier run must also be the victim's.
 */
export function audit(members: Member[], faults: Fault[]): Audit {
  const byEvent = new Map<string, Run[]>();
  for (const r of runs(members)) byEvent.set(r.id, [...(byEvent.get(r.id) ?? []), r]);
  const acked = acknowledged(members).map((p) => p.id as string);
  const lost = acked.filter((id) => !byEvent.has(id));
  const duplicates: Audit['duplicates'] = [];
  const duplicatesByFault: Record<string, number> = {};
  for (const [id, list] of byEvent) {
    if (list.length < 2) continue;
    const sorted = [...list].sort((a, b) => a.at - b.at);
    const fault = faults.find((f) =>
      sorted.some(
        (earlier, i) =>
          earlier.at <= f.end + GRACE_MS &&
          (f.victimPid === undefined || earlier.pid === f.victimPid) &&
          sorted.slice(i + 1).some((later) => later.at >= f.start),
      ),
    );
    duplicates.push({ id, runs: sorted, fault: fault?.label });
    const key = fault?.label ?? 'unexplained';
    duplicatesByFault[key] = (duplicatesByFault[key] ?? 0) + 1;
  }
  const publishRetries = members
    .flatMap((m) => m.messages)
    .filter((x) => x.type === 'published')
    .reduce((sum, x) => sum + Number(x.failures ?? 0), 0);
  return { acknowledged: acked, lost, duplicates, duplicatesByFault, publishRetries };
}

/** Prints the audit: the numbers a reader of the CI log wants to see. */
export function printAudit(scenario: string, result: Audit, extra: Record<string, unknown> = {}): void {
  const line = {
    scenario,
    acknowledged: result.acknowledged.length,
    lost: result.lost.length,
    duplicates: result.duplicates.length,
    duplicatesByFault: result.duplicatesByFault,
    publishRetries: result.publishRetries,
    ...extra,
  };
  console.log(`[chaos] ${JSON.stringify(line)}`);
}

/** Asks every member for its status and returns the replies. */
export async function statuses(members: Member[]): Promise<IpcMessage[]> {
  const asked = Date.now();
  for (const m of members) m.send({ type: 'status' });
  return Promise.all(
    members.map((m) => m.next('status', { where: (s) => Number(s.at) >= asked, timeoutMs: 30_000 })),
  );
}

/** Last time a member acknowledged a publish and ran a handler. */
export function lastActivity(member: Member): { published: number; handled: number } {
  let published = 0;
  let handled = 0;
  for (const x of member.messages) {
    if (x.type === 'published') published = Math.max(published, Number(x.at));
    if (x.type === 'handled') handled = Math.max(handled, Number(x.at));
  }
  return { published, handled };
}
