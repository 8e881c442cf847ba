// `--inspect` frames the inspector UI from stately.ai: on a machine that cannot reach it the page would stay blank
// without a word, so the daemon looks once and says so.
import type { Logger } from '../log.ts';

/** True when `url` answers at all (any status); else a warning that names what the inspector needs. */
export async function checkInspectorReachable(url: string, logger: Logger, timeoutMs = 3_000): Promise<boolean> {
  try {
    const response = await fetch(url, { method: 'GET', redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    return true;
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? ((error as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : (error as Error).message);
    logger.warn(
      { url },
      `the Stately inspector needs ${url}, which this machine cannot reach (${cause}): its page stays blank until it can; the status page (--status-port) draws the same machines without it`,
    );
    return false;
  }
}
