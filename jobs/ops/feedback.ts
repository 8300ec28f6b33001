// Ganeti's LU feedback lines (mcpu.LogWarning / LogInfo) as they appear in a
// job's oplog: tools and operators read them there.
import type { OpContext } from './context.ts';

export const logWarning = (ctx: OpContext, message: string): Promise<void> => ctx.log(` - WARNING: ${message}`);

export const logInfo = (ctx: OpContext, message: string): Promise<void> => ctx.log(` - INFO: ${message}`);
