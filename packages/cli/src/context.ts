import { type Connection, type ConnectionFlags, connect } from './connect.js';
import type { CliIo } from './io.js';

/** What every command gets: where to write, the output mode and the connection flags. */
export interface Context {
  io: CliIo;
  json: boolean;
  flags: ConnectionFlags;
}

/** Opens an admin client for the command and always closes it, also when the command fails. */
export async function withConnection<T>(
  ctx: Context,
  options: { announce?: boolean; mustExist?: boolean },
  fn: (connection: Connection) => Promise<T>,
): Promise<T> {
  const connection = await connect(ctx.flags, ctx.io.env, options);
  try {
    return await fn(connection);
  } finally {
    await connection.admin.close();
  }
}
