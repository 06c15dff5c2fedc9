import { setTimeout as sleep } from 'node:timers/promises';
import { type AdminClient, NotFoundError, type ReplayReport } from '@evco/core';
import cliProgress from 'cli-progress';
import type { Context } from '../context.js';
import { withConnection } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { outageTolerant } from '../outage.js';
import { printFields, printJson } from '../output.js';
import { checkInterval, parseTime } from '../time.js';
import { printPruned } from './history.js';

export interface ReplayArgs {
  from: string;
  to: string;
  /** One event type; yargs makes a repeated `--type` an array, refused with what to do. */
  type?: string | string[];
  handler?: string;
  maxEvents?: number;
  detach: boolean;
  intervalMs: number;
}

/**
 * `evco replay --from --to`: records the durable replay job, queues its pages, and shows a
 * progress bar until every delivery it queued is handled. Ctrl-C stops watching only: the job
 * is in the store, and any running coordinator resumes queueing it and runs its deliveries.
 */
export async function replay(ctx: Context, args: ReplayArgs): Promise<number> {
  const from = parseTime(args.from, '--from');
  const to = parseTime(args.to, '--to');
  checkInterval(args.intervalMs, '--interval');
  if (Array.isArray(args.type)) {
    throw new UsageError(
      `--type takes one event type for a replay (got ${args.type.length}: ${args.type.join(', ')}); replay each type on its own, or give no --type for all`,
    );
  }
  const type = args.type;
  return withConnection(ctx, { announce: true }, async ({ admin }) => {
    const started = await admin.startReplay({
      from,
      to,
      ...(type === undefined ? {} : { eventType: type }),
      ...(args.handler === undefined ? {} : { handler: args.handler }),
      ...(args.maxEvents === undefined ? {} : { maxEvents: args.maxEvents }),
    });
    if (!ctx.json) ctx.io.stderr.write(`replay ${started.id} started\n`);
    const watch = args.detach ? untilQueued : untilDone;
    const outcome = await Promise.race([
      watch(ctx, admin, started.id, args.intervalMs),
      ctx.io.interrupted.then(() => 'interrupted' as const),
    ]);
    if (outcome === 'interrupted') {
      ctx.io.stderr.write(
        `stopped watching; replay ${started.id} goes on (running coordinators finish it): evco replay status ${started.id}\n`,
      );
      return EXIT.interrupted;
    }
    if (ctx.json) printJson(ctx.io, outcome);
    else printSummary(ctx, outcome);
    return outcome.deliveriesDead > 0 ? EXIT.failure : EXIT.ok;
  });
}

/**
 * `--detach`: returns once every page is queued; handlers run them whenever they run. While pages
 * are still being queued it says how far it got, once per change, worded as progress (the result
 * is the summary on stdout): "queued 0 events" before "10 events" read as a replay that found none.
 */
export async function untilQueued(
  ctx: Context,
  admin: Pick<AdminClient, 'getReplay'>,
  id: string,
  intervalMs: number,
): Promise<ReplayReport> {
  const poll = outageTolerant(ctx, `watching replay ${id}`);
  let lastLine = '';
  for (;;) {
    const p = await poll(() => current(admin, id));
    if (p === undefined) {
      await sleep(intervalMs);
      continue;
    }
    if (p.status === 'done') return p;
    const line = `queueing: ${p.eventsMatched} events matched so far`;
    if (!ctx.json && line !== lastLine) ctx.io.stderr.write(`${line}\n`);
    lastLine = line;
    await sleep(intervalMs);
  }
}

/** Polls the job until it is done, drawing a bar on a terminal and progress lines otherwise. */
async function untilDone(
  ctx: Context,
  admin: AdminClient,
  id: string,
  intervalMs: number,
): Promise<ReplayReport> {
  const bar =
    !ctx.json && ctx.io.stderr.isTTY
      ? new cliProgress.SingleBar(
          {
            stream: ctx.io.stderr as NodeJS.WriteStream,
            format: 'replay {bar} {value}/{total} handled | {dead} dead | {stage}',
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  bar?.start(1, 0, { dead: 0, stage: 'queueing' });
  let lastLine = '';
  const poll = outageTolerant(ctx, `watching replay ${id}`);
  try {
    for (;;) {
      const p = await poll(() => current(admin, id));
      if (p === undefined) {
        await sleep(intervalMs);
        continue;
      }
      const handled = p.deliveriesQueued - p.deliveriesOpen - p.deliveriesDead;
      const stage = p.status === 'done' ? 'all queued' : 'queueing';
      if (bar) {
        bar.setTotal(Math.max(p.deliveriesQueued, 1));
        bar.update(handled, { dead: p.deliveriesDead, stage });
      } else if (!ctx.json) {
        const line = `${handled}/${p.deliveriesQueued} handled, ${p.deliveriesDead} dead, ${stage}`;
        if (line !== lastLine) ctx.io.stderr.write(`${line}\n`);
        lastLine = line;
      }
      if (p.done) return p;
      await sleep(intervalMs);
    }
  } finally {
    bar?.stop();
  }
}

async function current(admin: Pick<AdminClient, 'getReplay'>, id: string): Promise<ReplayReport> {
  const p = await admin.getReplay(id);
  if (!p) throw new NotFoundError('replay', id, { source: 'cli' });
  return p;
}

function printSummary(ctx: Context, p: ReplayReport): void {
  const handled = p.deliveriesQueued - p.deliveriesOpen - p.deliveriesDead;
  const state = p.done ? 'done' : p.status === 'done' ? 'queued' : 'running';
  ctx.io.stdout.write(
    `replay ${p.id} ${state}: ${p.eventsMatched} events, ${p.deliveriesQueued} deliveries queued, ${handled} handled, ${p.deliveriesOpen} open, ${p.deliveriesDead} dead${p.truncated ? ' (truncated at --max-events)' : ''}\n`,
  );
  printPruned(ctx, p.pruned, PRUNED_NOTE);
}

const PRUNED_NOTE = 'those are not replayed';

/** `evco replay status ID`: the job and its progress. */
export async function replayStatus(ctx: Context, id: string): Promise<void> {
  const p = await withConnection(ctx, {}, ({ admin }) => admin.getReplay(id));
  if (!p) throw new NotFoundError('replay', id, { source: 'cli' });
  if (ctx.json) {
    printJson(ctx.io, p);
    return;
  }
  printFields(ctx.io, [
    ['replay', p.id],
    ['state', p.done ? 'done' : p.status === 'done' ? 'queued, deliveries still open' : 'queueing pages'],
    ['range', `${p.from.toISOString()} … ${p.to.toISOString()}`],
    ['event type', p.eventType ?? 'all'],
    ['handler', p.handler ?? 'all'],
    ['events', `${p.eventsMatched}${p.truncated ? ' (truncated)' : ''}`],
    ['deliveries', `${p.deliveriesQueued} queued, ${p.deliveriesOpen} open, ${p.deliveriesDead} dead`],
    ['started', p.createdAt],
    ['updated', p.updatedAt],
  ]);
  printPruned(ctx, p.pruned, PRUNED_NOTE);
}
