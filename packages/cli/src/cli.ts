import { maskSecrets } from '@evco/core';
import yargs from 'yargs';
import { deadLetters } from './commands/dead-letters.js';
import { showEvent } from './commands/event.js';
import { listHandlers, retireHandler } from './commands/handlers.js';
import { history } from './commands/history.js';
import { migrate } from './commands/migrate.js';
import { type PruneArgs, prune } from './commands/prune.js';
import { replay, replayStatus } from './commands/replay.js';
import { retry } from './commands/retry.js';
import { status } from './commands/status.js';
import { tail } from './commands/tail.js';
import { unprocessed } from './commands/unprocessed.js';
import type { ConnectionFlags } from './connect.js';
import type { Context } from './context.js';
import { describeFailure, EXIT, exitCodeOf, UsageError, withSchemaHint } from './errors.js';
import type { CliIo } from './io.js';
import { CLI_VERSION } from './version.js';

/** The global flags: the connection flags every command takes, and the output format. */
interface GlobalArgs extends ConnectionFlags {
  json: boolean;
}

const EXAMPLES: Array<[string, string]> = [
  ['$0 status --sqlite ./events.db', 'health, handlers, backlog and lag'],
  ['$0 dead-letters --database-url postgresql://app@db/app', 'what failed, with the error'],
  ['$0 retry --handler sendWelcomeMail', 'run its dead letters again'],
  [
    '$0 prune --before 90d --archive-dir ./archive',
    'remove handled events older than 90 days, archived first',
  ],
  ['$0 event 0190f5d2-…', 'one event, its deliveries and causation tree'],
  ['$0 replay --from 2h --to now --handler projector', 'replay the last two hours to one handler'],
];

/**
 * Runs the `evco` command line and resolves with its exit code; writes only to `io`. Commands
 * are registered here in one list, so a new one (the retention `prune` command) is one more
 * `.command(...)` line and one file in `commands/`.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode: number = EXIT.ok;
  /**
   * `interrupt`: what Ctrl-C (or SIGTERM) does. `'watch'`: the command races `io.interrupted`
   * itself (tail, replay). Otherwise the command is abandoned at once with exit 130 and this
   * note: the process exits, so whatever statement was in flight is rolled back with its
   * connection. Without it a prune paced over hours ignored both signals (the CLI listens for
   * them, so Node no longer exits on them by itself).
   */
  const run =
    <A>(fn: (ctx: Context, args: A) => Promise<unknown>, interrupt = 'stopped') =>
    async (raw: unknown) => {
      // yargs has parsed and typed these from the options declared below.
      const args = raw as A & GlobalArgs;
      const ctx: Context = {
        io,
        json: args.json,
        flags: {
          ...(args.databaseUrl === undefined ? {} : { databaseUrl: args.databaseUrl }),
          ...(args.schema === undefined ? {} : { schema: args.schema }),
          ...(args.sqlite === undefined ? {} : { sqlite: args.sqlite }),
          ...(args.redisUrl === undefined ? {} : { redisUrl: args.redisUrl }),
          ...(args.redisSentinels === undefined ? {} : { redisSentinels: args.redisSentinels }),
          ...(args.redisSentinelName === undefined ? {} : { redisSentinelName: args.redisSentinelName }),
          ...(args.redisCluster === undefined ? {} : { redisCluster: args.redisCluster }),
          ...(args.redisShardedPubsub === undefined ? {} : { redisShardedPubsub: args.redisShardedPubsub }),
          ...(args.channelPrefix === undefined ? {} : { channelPrefix: args.channelPrefix }),
          ...(args.redisTls === undefined ? {} : { redisTls: args.redisTls }),
          ...(args.redisSentinelTls === undefined ? {} : { redisSentinelTls: args.redisSentinelTls }),
          ...(args.redisTlsCa === undefined ? {} : { redisTlsCa: args.redisTlsCa }),
          ...(args.redisTlsCert === undefined ? {} : { redisTlsCert: args.redisTlsCert }),
          ...(args.redisTlsKey === undefined ? {} : { redisTlsKey: args.redisTlsKey }),
          ...(args.redisTlsInsecure === undefined ? {} : { redisTlsInsecure: args.redisTlsInsecure }),
        },
      };
      try {
        const running = fn(ctx, args);
        if (interrupt !== 'watch') {
          // Abandoned on Ctrl-C: its later failure (the store closing under it) is not reported.
          running.catch(() => {});
          const first = await Promise.race([
            running.then(() => 'done' as const),
            io.interrupted.then(() => 'interrupted' as const),
          ]);
          if (first === 'interrupted') {
            io.stderr.write(`evco: interrupted; ${interrupt}\n`);
            exitCode = EXIT.interrupted;
            return;
          }
        }
        const code = await running;
        if (typeof code === 'number') exitCode = code;
      } catch (error) {
        throw new CommandError(error, ctx.flags);
      }
    };

  const parser = yargs([...argv])
    .scriptName('evco')
    .usage('$0 <command> [options]\n\nOperator commands for an evco store (Postgres or SQLite).')
    .option('database-url', {
      type: 'string',
      describe: 'Postgres URL (postgresql://…) or sqlite: URL; default $DATABASE_URL',
      group: 'Connection:',
    })
    .option('schema', {
      type: 'string',
      describe: 'Postgres schema of the store (default evco)',
      group: 'Connection:',
    })
    .option('sqlite', { type: 'string', describe: 'SQLite file of the store', group: 'Connection:' })
    .option('redis-url', {
      type: 'string',
      describe:
        'Redis URL to announce retries and replays to running coordinators (one server; or --redis-sentinels, --redis-cluster); default $REDIS_URL',
      group: 'Connection:',
    })
    .option('redis-sentinels', {
      type: 'string',
      describe:
        'Redis behind Sentinel: host:port,… of the sentinels (with --redis-sentinel-name); default $EVCO_REDIS_SENTINELS. Passwords: $EVCO_REDIS_PASSWORD, $EVCO_REDIS_SENTINEL_PASSWORD',
      group: 'Connection:',
    })
    .option('redis-sentinel-name', {
      type: 'string',
      describe: 'the master group the sentinels monitor; default $EVCO_REDIS_SENTINEL_NAME',
      group: 'Connection:',
    })
    .option('redis-cluster', {
      type: 'string',
      describe:
        'Redis Cluster: host:port,… seed nodes; default $EVCO_REDIS_CLUSTER. Password: $EVCO_REDIS_PASSWORD',
      group: 'Connection:',
    })
    .option('redis-sharded-pubsub', {
      type: 'boolean',
      describe:
        'on a Cluster, announce with SPUBLISH as publisher-redis does by default; --no-redis-sharded-pubsub for a fleet with shardedPubSub: false; default $EVCO_REDIS_SHARDED_PUBSUB, else true',
      group: 'Connection:',
    })
    .option('redis-tls', {
      type: 'boolean',
      describe:
        'TLS to the Redis data nodes: the master behind --redis-sentinels, every --redis-cluster node (a --redis-url says it with rediss://); default $EVCO_REDIS_TLS',
      group: 'Connection:',
    })
    .option('redis-sentinel-tls', {
      type: 'boolean',
      describe: 'TLS to the sentinels themselves; default $EVCO_REDIS_SENTINEL_TLS',
      group: 'Connection:',
    })
    .option('redis-tls-ca', {
      type: 'string',
      describe:
        "PEM file of the CA the Redis servers' certificates are verified with (default: Node's CAs); default $EVCO_REDIS_TLS_CA_FILE",
      group: 'Connection:',
    })
    .option('redis-tls-cert', {
      type: 'string',
      describe:
        'PEM client certificate for servers with tls-auth-clients (with --redis-tls-key); default $EVCO_REDIS_TLS_CERT_FILE',
      group: 'Connection:',
    })
    .option('redis-tls-key', {
      type: 'string',
      describe: "PEM file of the client certificate's unencrypted key; default $EVCO_REDIS_TLS_KEY_FILE",
      group: 'Connection:',
    })
    .option('redis-tls-insecure', {
      type: 'boolean',
      describe:
        "do not verify the Redis servers' certificates (a test setup only); default $EVCO_REDIS_TLS_INSECURE",
      group: 'Connection:',
    })
    .option('channel-prefix', {
      type: 'string',
      describe:
        "the fleet's publisher-redis channelPrefix (announcements go to <prefix>:events); default $EVCO_REDIS_CHANNEL_PREFIX, else evco",
      group: 'Connection:',
    })
    .option('json', { type: 'boolean', default: false, describe: 'machine-readable JSON on stdout' })
    .command(
      'status',
      'store and publisher health, handlers, counts and lag (exit 1 when the store is unhealthy, 3 when its counts are unknown)',
      {},
      run(status),
    )
    .command(
      'handlers',
      'subscriptions: live or expired (orphaned), with their backlog (exit 3 when its counts are unknown)',
      (y) =>
        y.command(
          'retire <name>',
          'retire a handler: delete its subscriptions and its unfinished deliveries',
          (r) =>
            r
              .positional('name', { type: 'string', demandOption: true, describe: 'handler name' })
              .option('yes', { type: 'boolean', default: false, describe: 'confirm' }),
          run((ctx, a: { name: string; yes: boolean }) => retireHandler(ctx, a.name, a.yes)),
        ),
      run(listHandlers),
    )
    .command(
      'history',
      'stored events, filtered, a page at a time',
      (y) =>
        y
          .option('type', { type: 'string', array: true, describe: 'event type (repeatable)' })
          .option('aggregate', { type: 'string', describe: 'aggregate id' })
          .option('aggregate-type', { type: 'string', describe: 'aggregate type' })
          .option('correlation', { type: 'string', describe: 'correlation id: one flow' })
          .option('causation', { type: 'string', describe: 'causation id: the direct effects of one event' })
          .option('from', {
            type: 'string',
            describe: 'occurred at or after (ISO date-time, date, or age: 2h)',
          })
          .option('to', { type: 'string', describe: 'occurred before (same forms)' })
          .option('limit', limitOption(20))
          .option('cursor', { type: 'string', describe: 'continue after this position (printed as "more:")' })
          .option('order', {
            choices: ['asc', 'desc'] as const,
            default: 'asc' as const,
            describe: 'by position',
          }),
      run(history),
    )
    .command(
      'event <id>',
      'one event: its data, its deliveries per handler and its causation tree',
      (y) => y.positional('id', { type: 'string', demandOption: true, describe: 'event id' }),
      run((ctx, a: { id: string }) => showEvent(ctx, a.id)),
    )
    .command(
      'unprocessed',
      'events with a delivery not done (pending, running or dead)',
      (y) =>
        y
          .option('limit', limitOption(50))
          .option('cursor', { type: 'string', describe: 'continue after this position' }),
      run(unprocessed),
    )
    .command(
      'dead-letters',
      'deliveries that ran out of attempts, with their last error',
      (y) =>
        y
          .option('handler', { type: 'string', describe: 'only this handler' })
          .option('limit', limitOption(50))
          .option('cursor', { type: 'string', describe: 'continue after this position' }),
      run(deadLetters),
    )
    .command(
      'retry [ids..]',
      're-drive dead letters: these delivery ids, --handler NAME, or --all',
      (y) =>
        y
          .positional('ids', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: 'delivery ids',
          })
          .option('handler', { type: 'string', describe: "this handler's dead letters" })
          .option('all', { type: 'boolean', default: false, describe: 'every dead letter' }),
      run((ctx, a: { ids: string[]; handler?: string; all: boolean }) => retry(ctx, a)),
    )
    .command(
      'replay',
      'replay events of a time range (durable job) and watch until handled; Ctrl-C stops watching only',
      (y) =>
        y
          .command(
            'status <id>',
            'a replay job and its progress',
            (r) => r.positional('id', { type: 'string', demandOption: true, describe: 'replay id' }),
            run((ctx, a: { id: string }) => replayStatus(ctx, a.id)),
          )
          .option('from', {
            type: 'string',
            describe: 'occurred at or after (ISO date-time, date, or age: 2h)',
          })
          .option('to', { type: 'string', describe: 'occurred before (same forms, or now)' })
          .option('type', { type: 'string', describe: 'only this event type' })
          .option('handler', { type: 'string', describe: 'only to this handler' })
          .option('max-events', {
            type: 'number',
            describe: 'replay at most this many events (default 100000)',
          })
          .option('detach', {
            type: 'boolean',
            default: false,
            describe: 'return once queued, without waiting for handlers',
          })
          .option('interval', intervalOption(500)),
      run(
        (
          ctx,
          a: {
            from?: string;
            to?: string;
            type?: string | string[];
            handler?: string;
            maxEvents?: number;
            detach: boolean;
            interval: number;
          },
        ) => {
          if (a.from === undefined || a.to === undefined) {
            throw new UsageError('replay needs --from and --to (or: evco replay status ID)');
          }
          return replay(ctx, { ...a, from: a.from, to: a.to, intervalMs: a.interval });
        },
        'watch',
      ),
    )
    .command(
      'tail',
      'print events as they are stored, until Ctrl-C',
      (y) =>
        y
          .option('type', { type: 'string', array: true, describe: 'only these event types (repeatable)' })
          .option('from-start', {
            type: 'boolean',
            default: false,
            describe: 'begin with the first stored event',
          })
          .option('cursor', {
            type: 'string',
            describe:
              'begin after this position (as tail, history or event printed it) instead of at the end',
          })
          .option('limit', { type: 'number', describe: 'stop after this many events' })
          .option('interval', intervalOption(500)),
      run(
        (
          ctx,
          a: { type?: string[]; fromStart: boolean; cursor?: string; limit?: number; interval: number },
        ) => tail(ctx, { ...a, intervalMs: a.interval }),
        'watch',
      ),
    )
    .command(
      'prune',
      'remove old events whose deliveries are all done (open, dead and replayed ones stay), in short batches',
      (y) =>
        y
          .option('before', {
            type: 'string',
            demandOption: true,
            describe: 'occurred before (ISO date-time, date, or age: 90d)',
          })
          .option('type', { type: 'string', array: true, describe: 'only these event types (repeatable)' })
          .option('archive-dir', {
            type: 'string',
            describe: 'write each batch there first (newline-delimited JSON, fsynced)',
          })
          .option('archive-timeout', {
            type: 'string',
            describe:
              "how long one batch's archive write may take before the prune stops with that batch kept (100ms-1d: 30s, 10m; default 5m)",
          })
          .option('batch-size', { type: 'number', describe: 'events per transaction (default 1000)' })
          .option('duty-cycle', {
            type: 'number',
            describe:
              'share of the time spent removing, above 0 up to 1 (pauses between batches for the rest; default 1)',
          })
          .option('max-rate', {
            type: 'number',
            describe:
              'at most this many events removed per second (pauses between batches; default: no limit)',
          }),
      run(
        (ctx, a: PruneArgs) => prune(ctx, a),
        'the batch in flight is rolled back; the batches before it stay pruned (evco history lists them as pruned)',
      ),
    )
    .command('migrate', 'create the schema (or the SQLite file), or bring it up to date', {}, run(migrate))
    .completion('completion', 'print a bash/zsh completion script (evco completion >> ~/.bashrc)')
    .example(EXAMPLES)
    .demandCommand(1, 'name a command (see evco --help)')
    .strict()
    .recommendCommands()
    .help()
    .alias('help', 'h')
    .version(CLI_VERSION)
    .wrap(Math.min(110, io.stdout.columns ?? 100))
    .exitProcess(false)
    .fail(false);

  // yargs prints help and version through console; route them to io.
  const log = console.log;
  console.log = (...parts: unknown[]) => io.stdout.write(`${parts.join(' ')}\n`);
  try {
    await parser.parseAsync();
    return exitCode;
  } catch (error) {
    // Whatever a command threw is wrapped; anything else is yargs refusing the command line.
    if (error instanceof CommandError) {
      io.stderr.write(`evco: ${withSchemaHint(describeFailure(error.cause), error.flags)}\n`);
      return exitCodeOf(error.cause);
    }
    io.stderr.write(`evco: ${usageMessage(error, argv)}\n`);
    return EXIT.usage;
  } finally {
    console.log = log;
  }
}

function limitOption(fallback: number) {
  return { type: 'number', default: fallback, describe: 'entries per page (1-10000)' } as const;
}

function intervalOption(fallback: number) {
  return { type: 'number', default: fallback, describe: 'poll period in ms' } as const;
}

/** An error thrown by a command (as opposed to yargs refusing the command line). */
class CommandError extends Error {
  constructor(
    override readonly cause: unknown,
    readonly flags: Context['flags'],
  ) {
    super('command failed');
  }
}

/** yargs' own messages, made to name the problem the way the rest of the CLI does. */
function usageMessage(error: unknown, argv: readonly string[]): string {
  const message = maskSecrets(error instanceof Error ? error.message : String(error)).replace(
    /\s*\n\s*/g,
    ' ',
  );
  const unknown = /^Unknown arguments?: (.+)$/.exec(message);
  if (unknown) return `unknown command or option: ${unknownArguments(unknown[1]!, argv)} (see evco --help)`;
  // The .demandCommand message already says where to look.
  return message.endsWith('(see evco --help)') ? message : `${message} (see evco --help)`;
}

/**
 * yargs lists a mistyped option twice, as typed and camelCased (`databse-url, databseUrl`), and
 * without its dashes: each once, as typed on the command line (`--databse-url`); a stray word
 * (`evco status extra`) stays as it is.
 */
function unknownArguments(list: string, argv: readonly string[]): string {
  const names = list.split(', ');
  const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return names
    .filter((name) => kebab(name) === name || !names.includes(kebab(name)))
    .map((name) => {
      const flag = name.length === 1 ? `-${name}` : `--${name}`;
      if (argv.some((a) => a === flag || a.startsWith(`${flag}=`))) return flag;
      return argv.includes(`--no-${name}`) ? `--no-${name}` : name;
    })
    .join(', ');
}
