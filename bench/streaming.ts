// Streaming: time to first token and the delay added to every token, relayed against direct, for a model that
// streams 200 tokens 2 ms apart; and how many SSE events the caller gets per task, with tokens 2 ms apart and with
// all 200 at once. An `openai` stream keeps each upstream payload one SSE event (the caller's SDK reads them as the
// upstream sent them), so that count is 200 + `[DONE]` however the registrar coalesces: how many sends it made (chunk
// POSTs to a base hub, writes of one upload to ours) is what `bench/syscalls.ts` counts, as writes per token.
import {
  interleaved,
  isMain,
  mean,
  percentile,
  printTable,
  round,
  startHubProcess,
  startModelServer,
  startRegistrarProcess,
  openAiProvider,
  timedStream,
  withProcesses,
  writeResult,
} from './support.ts';

const TOKENS = 200;
const TOKEN_DELAY_MS = 2;
const BURST_CALLS = 10;

export interface StreamingResult {
  calls: number;
  tokens: number;
  tokenDelayMs: number;
  ttft: { directP50: number; relayedP50: number; addedP50: number; addedP90: number };
  perToken: { addedMeanMs: number; addedLastTokenMs: number };
  total: { directP50: number; relayedP50: number };
  sseEvents: { perTaskP50: number };
  /** The same 200 tokens sent by the model all at once. */
  burst: { calls: number; sseEventsPerTaskP50: number };
}

export async function runStreaming(options: { calls?: number } = {}): Promise<StreamingResult> {
  const calls = options.calls ?? 25;
  return withProcesses(async (track) => {
    const model = track(await startModelServer('stream-model', { tokens: TOKENS, tokenDelayMs: TOKEN_DELAY_MS }));
    const burstModel = track(await startModelServer('stream-model-burst', { tokens: TOKENS, tokenDelayMs: 0 }));
    const hub = track(await startHubProcess('stream-hub'));
    track(
      await startRegistrarProcess('stream-registrar', hub.url, [openAiProvider('bench', `${model.url}/v1`), openAiProvider('burst', `${burstModel.url}/v1`)]),
    );

    await interleaved(3, () => timedStream(model.url, 'bench'), () => timedStream(hub.url, 'bench'));
    const { direct, relayed } = await interleaved(calls, () => timedStream(model.url, 'bench'), () => timedStream(hub.url, 'bench'));
    for (const call of [...direct, ...relayed]) {
      if (call.tokenArrivals.length !== TOKENS) throw new Error(`a streamed answer had ${call.tokenArrivals.length} tokens, not ${TOKENS}`);
    }
    const ttftAdded = direct.map((d, i) => relayed[i].tokenArrivals[0] - d.tokenArrivals[0]);
    const perTokenAdded = Array.from({ length: TOKENS }, (_, k) =>
      percentile(relayed.map((c) => c.tokenArrivals[k]), 50) - percentile(direct.map((c) => c.tokenArrivals[k]), 50),
    );
    const events = relayed.map((c) => c.contentEvents + 1);
    const burstEvents: number[] = [];
    for (let i = 0; i < BURST_CALLS; i++) {
      const call = await timedStream(hub.url, 'burst');
      if (call.tokenArrivals.length !== TOKENS) throw new Error(`a burst answer had ${call.tokenArrivals.length} tokens, not ${TOKENS}`);
      burstEvents.push(call.contentEvents + 1);
    }
    const result: StreamingResult = {
      calls,
      tokens: TOKENS,
      tokenDelayMs: TOKEN_DELAY_MS,
      ttft: {
        directP50: round(percentile(direct.map((c) => c.tokenArrivals[0]), 50), 3),
        relayedP50: round(percentile(relayed.map((c) => c.tokenArrivals[0]), 50), 3),
        addedP50: round(percentile(ttftAdded, 50), 3),
        addedP90: round(percentile(ttftAdded, 90), 3),
      },
      perToken: { addedMeanMs: round(mean(perTokenAdded), 3), addedLastTokenMs: round(perTokenAdded[TOKENS - 1], 3) },
      total: { directP50: round(percentile(direct.map((c) => c.totalMs), 50), 2), relayedP50: round(percentile(relayed.map((c) => c.totalMs), 50), 2) },
      sseEvents: { perTaskP50: percentile(events, 50) },
      burst: { calls: BURST_CALLS, sseEventsPerTaskP50: percentile(burstEvents, 50) },
    };
    printTable(`streaming: ${TOKENS} tokens, ${TOKEN_DELAY_MS} ms apart, ${calls} calls each (ms)`, [
      { path: 'direct', 'first token p50': result.ttft.directP50, 'whole answer p50': result.total.directP50, 'SSE events/task': '-' },
      { path: 'hub + registrar', 'first token p50': result.ttft.relayedP50, 'whole answer p50': result.total.relayedP50, 'SSE events/task': result.sseEvents.perTaskP50 },
      { path: 'added', 'first token p50': result.ttft.addedP50, 'whole answer p50': round(result.total.relayedP50 - result.total.directP50, 2), 'SSE events/task': '' },
    ]);
    printTable('per-token added latency (relayed − direct arrival, median over calls)', [
      { 'mean over 200 tokens': result.perToken.addedMeanMs, 'last token': result.perToken.addedLastTokenMs },
    ]);
    printTable(`the same ${TOKENS} tokens sent at once, ${BURST_CALLS} calls`, [{ 'SSE events/task p50': result.burst.sseEventsPerTaskP50 }]);
    writeResult('streaming', result);
    return result;
  });
}

if (isMain(import.meta.url)) await runStreaming();
