// The one long SSE stream of task frames (SPEC.md §3), through eventsource-client.
// The library never shows the HTTP status and reconnects on its own every 2 s: our fetch wrapper looks at the
// status first, and every disconnect closes the client, so the session machine alone decides when to reconnect.
// The stream's life (opened, alive, cut) goes to the session; each frame straight to `input.frames`, the supervisor.
import { createEventSource, type EventSourceClient, type FetchLike } from 'eventsource-client';
import { fromCallback, type EventObject } from 'xstate';
import type { FrameEvent, StreamEvent, TaskStreamInput } from '../machines/session.ts';
import { isRedirect, redirectRefusal } from '../src/hub-client.ts';
import { networkErrorPhrase } from '../src/network-error.ts';
import { TaskFrame, TaskId, limits, parseJson, parseWith } from '../src/protocol/index.ts';
import type { ActorDeps } from './deps.ts';
import { OVERSIZED_EVENT, frameGuard } from './frame-guard.ts';

/** A response that tells eventsource-client to stop without reconnecting (it closes on 204). */
const STOP = { status: 204, body: null, url: '', redirected: false } as const;

/**
 * Stamped here, at the edge: `receivedAt`, when the frame arrived (no machine reads the clock); `sessionId`, the
 * session of this stream, which the task's result names.
 */
export function parseTaskFrame(data: string, receivedAt: number, sessionId: string): FrameEvent {
  const json = parseJson(data);
  if (!json.ok) return { type: 'stream.badFrame', error: json.error, taskId: taskIdIn(data), receivedAt, sessionId };
  const frame = parseWith(TaskFrame, json.value);
  if (frame.ok) return { type: 'stream.task', frame: frame.value, receivedAt, sessionId };
  const taskId = (json.value as { taskId?: unknown } | null)?.taskId;
  return { type: 'stream.badFrame', error: frame.error, taskId: parseWith(TaskId, taskId).ok ? (taskId as string) : undefined, receivedAt, sessionId };
}

/** The task id of a frame that is not JSON, when its start still shows one. */
function taskIdIn(data: string): string | undefined {
  const match = /"taskId"\s*:\s*"([^"\\]{1,200})"/.exec(data.slice(0, 4096));
  return match && parseWith(TaskId, match[1]).ok ? match[1] : undefined;
}

export function taskStreamActor(deps: Pick<ActorDeps, 'hub' | 'timing' | 'logger'>) {
  return fromCallback<EventObject, TaskStreamInput>(({ input, sendBack }) => {
    let client: EventSourceClient | undefined;
    let ended = false;
    const end = (event?: StreamEvent) => {
      if (ended) return;
      ended = true;
      client?.close();
      if (event) sendBack(event);
    };

    const idleThrottleMs = Math.max(1, Math.floor(deps.timing.streamIdleMs / 10));
    let lastActivity = 0;
    const noteActivity = () => {
      const now = Date.now();
      if (now - lastActivity < idleThrottleMs) return;
      lastActivity = now;
      sendBack({ type: 'stream.activity' });
    };

    const fetchWithStatus: FetchLike = async (url, init) => {
      let response: Response;
      try {
        response = await fetch(url, { ...(init as RequestInit), redirect: 'manual' });
      } catch (error) {
        if (!ended) end({ type: 'stream.failed', error: `task stream: hub unreachable: ${networkErrorPhrase(error)}` });
        return STOP;
      }
      if (response.status === 404) {
        await response.body?.cancel();
        end({ type: 'stream.sessionLost' });
        return STOP;
      }
      if (isRedirect(response.status)) {
        await response.body?.cancel();
        const error = redirectRefusal('task stream', response.status, response.headers.get('location'));
        deps.logger.warn({ status: response.status }, error);
        end({ type: 'stream.failed', error });
        return STOP;
      }
      if (response.status !== 200 || !response.body) {
        await response.body?.cancel();
        deps.logger.warn({ status: response.status }, 'task stream refused');
        end({ type: 'stream.failed', error: `task stream: the hub answered ${response.status}` });
        return STOP;
      }
      // A 200 that is not an event stream (a proxy's login page) is a failure, backed off like any other, not a
      // stream that opened and was cut at once, which would reset the backoff and reconnect in a tight loop.
      const type = response.headers.get('content-type');
      if (type !== null && !/^text\/event-stream\b/i.test(type)) {
        await response.body.cancel();
        deps.logger.warn({ status: response.status, contentType: type }, 'task stream refused');
        end({ type: 'stream.failed', error: `task stream: the hub answered 200 with ${type}, not an event stream` });
        return STOP;
      }
      sendBack({ type: 'stream.opened' });
      noteActivity();
      const guarded = response.body.pipeThrough(frameGuard({ maxFrameBytes: limits.maxFrameBytes, onBytes: noteActivity }));
      return { status: 200, body: guarded as NonNullable<Response['body']>, url: response.url, redirected: response.redirected };
    };

    client = createEventSource({
      url: deps.hub.streamUrl(),
      headers: deps.hub.streamHeaders(input.sessionId),
      fetch: fetchWithStatus,
      onMessage: (message) => {
        if (message.event === OVERSIZED_EVENT) {
          const event: FrameEvent = {
            type: 'stream.badFrame',
            error: `frame larger than ${limits.maxFrameBytes} bytes`,
            taskId: taskIdIn(message.data),
            receivedAt: Date.now(),
            sessionId: input.sessionId,
          };
          deps.logger.error({ taskId: event.taskId, maxFrameBytes: limits.maxFrameBytes }, 'task frame too large: dropped');
          input.frames.send(event);
          return;
        }
        if (message.event !== 'task') {
          deps.logger.warn({ event: message.event }, 'ignored a stream event that is not a task');
          return;
        }
        const event = parseTaskFrame(message.data, Date.now(), input.sessionId);
        if (event.type === 'stream.badFrame') deps.logger.warn({ error: event.error, taskId: event.taskId }, 'malformed task frame');
        input.frames.send(event);
      },
      // Called on every way a stream breaks (the hub ended it, the socket died): close, and let the machine decide.
      onScheduleReconnect: () => end({ type: 'stream.failed', error: 'the task stream was cut' }),
    });
    return () => end();
  });
}
