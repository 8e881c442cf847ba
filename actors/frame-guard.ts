// A byte filter in front of the SSE parser: reports every chunk (the idle watchdog feeds on it) and cuts any
// event longer than the frame limit before the parser buffers more of it, so a hostile hub cannot grow our memory.
// A cut event reaches the parser as an event named `oversized` carrying the start of its data.
const LF = 0x0a;
const CR = 0x0d;

export const OVERSIZED_EVENT = 'oversized';
const CUT = new TextEncoder().encode(`\nevent: ${OVERSIZED_EVENT}\n\n`);
/** The same, for a cut at the start of a line: a leading line end there would be a blank line, which dispatches the
 * truncated event as if it were whole. */
const CUT_AT_LINE_START = CUT.subarray(1);

export interface FrameGuardOptions {
  maxFrameBytes: number;
  onBytes: () => void;
}

export function frameGuard(options: FrameGuardOptions): TransformStream<Uint8Array, Uint8Array> {
  // Bytes since the last event boundary (a blank line); `prev` is the last byte seen, for \n\n and \r\n\r\n.
  let eventBytes = 0;
  let lineBytes = 0;
  let prev = 0;
  let dropping = false;

  return new TransformStream({
    transform(chunk, controller) {
      options.onBytes();
      let keepFrom = 0;
      for (let i = 0; i < chunk.length; i++) {
        const byte = chunk[i];
        if (byte === LF && prev === CR) {
          // the second half of a CRLF: the line already ended at the CR
        } else if (byte === LF || byte === CR) {
          if (lineBytes === 0) {
            if (dropping) {
              dropping = false;
              keepFrom = i + 1;
            }
            eventBytes = 0;
          }
          lineBytes = 0;
        } else {
          lineBytes++;
          eventBytes++;
          if (!dropping && eventBytes > options.maxFrameBytes) {
            dropping = true;
            if (i > keepFrom) controller.enqueue(chunk.subarray(keepFrom, i));
            controller.enqueue(lineBytes === 1 ? CUT_AT_LINE_START : CUT);
          }
        }
        prev = byte;
      }
      if (!dropping && keepFrom < chunk.length) controller.enqueue(keepFrom === 0 ? chunk : chunk.subarray(keepFrom));
    },
  });
}
