// The hard limits that keep the registrar's memory bounded whatever the hub sends (src/protocol/wire.ts `limits`):
// no task frame above maxFrameBytes is ever buffered (actors/frame-guard.ts, checked property-based in front of the
// same SSE parser the stream uses), and no provider queues more than maxQueuedPerProvider tasks (machines/provider.ts).
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { frameGuard, OVERSIZED_EVENT } from '../../actors/frame-guard.ts';
import { limits } from '../../src/protocol/index.ts';
import { eventually } from '../support/cluster.ts';
import { faultStage, infer } from '../support/fault-stage.ts';
import { finalError } from '../support/invariant.ts';

const stage = faultStage();

/** Pushes `pieces` through a frame guard into an SSE parser: the events it yields and the bytes it let through. */
async function guarded(pieces: Uint8Array[], maxFrameBytes: number): Promise<{ events: EventSourceMessage[]; passed: number }> {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => events.push(event) });
  const decoder = new TextDecoder();
  let passed = 0;
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const piece of pieces) controller.enqueue(piece);
      controller.close();
    },
  });
  for await (const chunk of source.pipeThrough(frameGuard({ maxFrameBytes, onBytes: () => {} })) as unknown as AsyncIterable<Uint8Array>) {
    passed += chunk.length;
    parser.feed(decoder.decode(chunk, { stream: true }));
  }
  return { events, passed };
}

/** Cuts `bytes` at the given fractions, as a network would. */
function chunked(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => Math.floor(cut * bytes.length)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const point of [...points, bytes.length]) {
    if (point > from) pieces.push(bytes.subarray(from, point));
    from = Math.max(from, point);
  }
  return pieces;
}

const encoder = new TextEncoder();
const dataLine = fc.string({ unit: fc.constantFrom('a', 'b', '{', '"', ':', ' ', 'é', '字'), maxLength: 40 });
const sseEvent = fc.record({
  named: fc.boolean(),
  lines: fc.array(dataLine, { minLength: 1, maxLength: 4 }),
  comment: fc.boolean(),
});

describe('frame guard (property-based)', () => {
  it('passes every event within the limit untouched and turns every larger one into a short `oversized` event', async () => {
    const max = 64;
    await fc.assert(
      fc.asyncProperty(
        fc.array(sseEvent, { minLength: 1, maxLength: 8 }),
        fc.constantFrom('\n', '\r\n', '\r'),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 10 }),
        async (events, eol, cuts) => {
          const blocks = events.map((event) =>
            event.comment ? [': keep-alive'] : [...(event.named ? ['event: task'] : []), ...event.lines.map((line) => `data: ${line}`)],
          );
          // A closing comment: a lone CR at the very end could still be the first half of a CRLF, so nothing after it.
          const text = blocks.map((lines) => lines.map((line) => line + eol).join('') + eol).join('') + `: end${eol}${eol}`;
          const { events: parsed } = await guarded(chunked(encoder.encode(text), cuts), max);
          const expected: (EventSourceMessage | 'oversized')[] = [];
          for (const [i, lines] of blocks.entries()) {
            if (events[i].comment) continue;
            const size = lines.reduce((sum, line) => sum + encoder.encode(line).length, 0);
            expected.push(size > max ? 'oversized' : { event: events[i].named ? 'task' : undefined, id: undefined, data: events[i].lines.join('\n') });
          }
          const got = parsed.map((event) => (event.event === OVERSIZED_EVENT ? 'oversized' : { event: event.event, id: event.id, data: event.data }));
          // An event cut before its first data line dispatches nothing: the others line up one to one.
          expect(got.filter((e) => e !== 'oversized')).toEqual(expected.filter((e) => e !== 'oversized'));
          expect(got.filter((e) => e === 'oversized').length).toBeLessThanOrEqual(expected.filter((e) => e === 'oversized').length);
          for (const event of parsed) if (event.event === OVERSIZED_EVENT) expect(encoder.encode(event.data).length).toBeLessThanOrEqual(max);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never dispatches a truncated event as a whole one when the limit falls at the start of a line', async () => {
    const text = 'event: task\ndata: {"taskId":"t-edge",\ndata: "x":1}\n\n';
    const atLineStart = 'event: task'.length + 'data: {"taskId":"t-edge",'.length;
    const { events } = await guarded([encoder.encode(text)], atLineStart);
    expect(events.map((event) => event.event)).toEqual([OVERSIZED_EVENT]);
    expect(events[0].data).toBe('{"taskId":"t-edge",');
  });

  it('lets through no more than the limit of a 10 MB frame, whatever the chunking', async () => {
    const frame = encoder.encode(`event: task\ndata: {"taskId":"t-big","pad":"${'x'.repeat(10 * 1024 * 1024)}"}\n\nevent: task\ndata: {"after":true}\n\n`);
    const pieces = chunked(frame, Array.from({ length: 200 }, (_, i) => i / 200));
    const { events, passed } = await guarded(pieces, limits.maxFrameBytes);
    expect(passed).toBeLessThan(limits.maxFrameBytes + 1024);
    expect(events.map((event) => event.event)).toEqual([OVERSIZED_EVENT, 'task']);
    expect(events[0].data.startsWith('{"taskId":"t-big"')).toBe(true);
    expect(events[1].data).toBe('{"after":true}');
  });
});

describe('queue limit', () => {
  it(`refuses tasks beyond ${limits.maxQueuedPerProvider} waiting on one provider, saying so, and answers the rest`, async () => {
    // The force grace is this test's own: it checks that every task is answered, not how fast. Answering 1,006 takes
    // seconds of CPU (each ended task costs its provider O(tasks) in xstate's stopChild), more than the 5 s default
    // on a loaded 2-core machine.
    const s = await stage.start({
      provider: { maxConcurrency: 1 },
      model: { hang: true },
      timing: { drainMs: 50, resultDeadlineMs: 60_000, forceGraceMs: 60_000 },
    });
    const total = limits.maxQueuedPerProvider + 1 + 5;
    for (let i = 0; i < total; i++) s.hub.send(infer(`t-${i}`, `n${i}`));
    for (let i = total - 5; i < total; i++) {
      await eventually(() => expect(finalError(s.hub.results.get(`t-${i}`))).toBe(`provider 'gpu' has ${limits.maxQueuedPerProvider} tasks waiting; try again later`), 30_000);
    }
    const provider = s.registrar.daemon.actor!.getSnapshot().children['provider:gpu']!.getSnapshot().context as { queue: { id: string }[]; running: string[] };
    expect(provider.queue).toHaveLength(limits.maxQueuedPerProvider);
    expect(provider.running).toEqual(['t-0']);
    expect(s.hub.results.size).toBe(5);
    // The daemon stops with every one of them answered (the drain deadline fails what is left).
    await s.registrar.stop();
    expect(s.hub.results.size).toBe(total);
    stage.check();
  }, 60_000);
});
