// Whether an upstream is up: a GET that must answer 2xx in time (each kind of server has its own path to ask).
/** A readiness check: a GET that must answer 2xx within the timeout; any failure means "not available". */
export async function answersOk(url: string, headers: Record<string, string>, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return false;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const onAbort = (): void => controller.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const response = await fetch(url, { headers, signal: controller.signal });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}
