// The registrar's session with its hub: registering → connected { streaming | backoff } → …; draining → leaving → stopped
// (a drain while connected stays connected until the leave).
// It never gives up: every failure leads back here after a backoff (SPEC.md, "Behaviour in time"). A change of what
// is published (models pulled or removed) registers again with the same session id.
import { assertEvent, assign, sendParent, sendTo, setup, type AnyActorRef, type EventObject } from 'xstate';
import type { ProviderStatus, TaskFrame } from '../src/protocol/index.ts';
import { backoffDelay } from './backoff.ts';
import { callbackPlaceholder, promisePlaceholder } from './placeholder.ts';

export interface SessionTiming {
  heartbeatMs: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  streamIdleMs: number;
}

export interface SessionInput {
  sessionId?: string;
  timing: SessionTiming;
  /** Source of jitter; tests pin it. */
  random?: () => number;
  /**
   * Where the task stream sends the frames it reads (the supervisor): straight there, one hop, not through the
   * session, which has nothing to decide about a frame.
   */
  frames: AnyActorRef;
}

export interface RegisterInput {
  sessionId?: string;
  /** Wire names to publish; absent: every provider of the config. */
  names?: string[];
}
export interface LeaveInput {
  sessionId: string;
}
export interface RegisterOutput {
  sessionId: string;
}
/** How the register actor fails: `status` is the hub's answer, absent when the hub could not be reached. */
export interface RegisterFailure {
  message: string;
  status?: number;
}
/** What the heartbeat actor is told: beat now, or report a provider status with the next beat. */
export type HeartbeatCommand = { type: 'heartbeat.now' } | { type: 'heartbeat.status'; name: string; status: ProviderStatus };

export interface HeartbeatInput {
  sessionId: string;
  intervalMs: number;
}
export interface TaskStreamInput {
  sessionId: string;
  /** Who is told of each frame (`FrameEvent`): the supervisor. */
  frames: AnyActorRef;
}

export type HeartbeatEvent =
  | { type: 'heartbeat.ok' }
  | { type: 'heartbeat.failed'; error: string }
  | { type: 'heartbeat.sessionLost' };

export type StreamEvent =
  | { type: 'stream.opened' }
  /** Bytes arrived (a frame or a keep-alive comment): the stream is alive. */
  | { type: 'stream.activity' }
  | { type: 'stream.sessionLost' }
  | { type: 'stream.failed'; error: string };

/** What the task stream tells `TaskStreamInput.frames` of each frame it reads. */
export type FrameEvent =
  /**
   * Stamped by the actor: `receivedAt`, when the frame came off the stream (machines read no clock); `sessionId`, the
   * session it was sent to, which its result names (SPEC.md §4).
   */
  | { type: 'stream.task'; frame: TaskFrame; receivedAt: number; sessionId: string }
  /** A frame that failed to parse; `taskId` when one could still be read from it. */
  | { type: 'stream.badFrame'; error: string; taskId?: string; receivedAt: number; sessionId: string };

export type SessionEvent =
  | HeartbeatEvent
  | StreamEvent
  /** Someone needs the hub to hear from us now (a wake poll). */
  | { type: 'session.heartbeatNow' }
  /** A provider's wire status changed: the next heartbeat reports it (SPEC.md §2, extension). */
  | { type: 'session.providerStatus'; name: string; status: ProviderStatus }
  /** What is published changed: register again with these wire names. */
  | { type: 'session.publish'; names: string[] }
  | { type: 'session.drain' }
  /** The drain is over: take leave of the hub (SPEC.md §6), then stop. */
  | { type: 'session.leave' }
  | { type: 'session.stop' };

/** What the session tells the supervisor. */
export type SessionNotice =
  | { type: 'session.registered'; sessionId: string }
  /** The hub said our session id belongs to another user: it is dropped, here and in the state file. */
  | { type: 'session.forgotten' }
  | { type: 'session.retrying'; delayMs: number; attempt: number; error: string };

interface SessionContext {
  sessionId?: string;
  names?: string[];
  timing: SessionTiming;
  random: () => number;
  /** Failures since the last stream that opened; a register that succeeds does not reset it (SPEC.md: after a 200 stream). */
  attempt: number;
  retryDelayMs: number;
  lastError?: string;
  /** The hub refused us (401/403/409): retry at the backoff cap, and say so loudly. */
  refused: boolean;
  frames: AnyActorRef;
}

/** The heartbeat, invoked alike while connected and while draining with a session. */
const heartbeat = {
  id: 'heartbeat',
  src: 'heartbeat',
  input: ({ context }: { context: SessionContext }) => ({ sessionId: context.sessionId!, intervalMs: context.timing.heartbeatMs }),
} as const;

function describe(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'message' in error) return String((error as RegisterFailure).message);
  return String(error);
}

export const sessionMachine = setup({
  types: {
    input: {} as SessionInput,
    context: {} as SessionContext,
    events: {} as SessionEvent,
  },
  actors: {
    register: promisePlaceholder<RegisterOutput, RegisterInput>('register'),
    heartbeat: callbackPlaceholder<HeartbeatCommand, HeartbeatInput>('heartbeat'),
    taskStream: callbackPlaceholder<EventObject, TaskStreamInput>('taskStream'),
    leave: promisePlaceholder<void, LeaveInput>('leave'),
  },
  delays: {
    retry: ({ context }) => context.retryDelayMs,
    streamIdle: ({ context }) => context.timing.streamIdleMs,
  },
  guards: {
    hasSession: ({ context }) => context.sessionId !== undefined,
    /** A 403 for the id we presented (SPEC.md §1); a 403 with no id to drop is a refusal like any other. */
    sessionIdRefused: ({ context }, params: { error: unknown }) => context.sessionId !== undefined && (params.error as RegisterFailure | undefined)?.status === 403,
  },
  actions: {
    /** Count the failure and pick the delay before the next try; a refusal waits the full cap. */
    scheduleRetry: assign(({ context }, params: { error: string; refused?: boolean }) => {
      const refused = params.refused ?? false;
      const policy = { baseMs: context.timing.backoffBaseMs, capMs: context.timing.backoffCapMs };
      return {
        lastError: params.error,
        refused,
        retryDelayMs: refused ? context.timing.backoffCapMs : backoffDelay(context.attempt, policy, context.random()),
        attempt: context.attempt + 1,
      };
    }),
    announceRetry: sendParent(({ context }) => ({
      type: 'session.retrying',
      delayMs: context.retryDelayMs,
      attempt: context.attempt,
      error: context.lastError ?? '',
    })),
    keepNames: assign({
      names: ({ event }) => {
        assertEvent(event, 'session.publish');
        return event.names;
      },
    }),
  },
}).createMachine({
  id: 'session',
  context: ({ input }) => ({
    sessionId: input.sessionId,
    timing: input.timing,
    random: input.random ?? Math.random,
    attempt: 0,
    retryDelayMs: 0,
    refused: false,
    frames: input.frames,
  }),
  initial: 'registering',
  on: {
    // Not connected: the next register publishes them.
    'session.publish': { actions: 'keepNames' },
    // Not connected (connected stays so): with a session, heartbeats go on while running tasks finish; without one
    // there is nothing to keep alive.
    'session.drain': [{ guard: 'hasSession', target: '.draining.heartbeating' }, { target: '.draining.idle' }],
    // Left while not connected (the hub forgot us mid-drain): there is no one to take leave of.
    'session.leave': '.stopped',
    'session.stop': '.stopped',
  },
  states: {
    registering: {
      // A register under way publishes the old names: start it again with the new ones.
      on: { 'session.publish': { target: 'registering', reenter: true, actions: 'keepNames' } },
      invoke: {
        id: 'register',
        src: 'register',
        input: ({ context }) => ({ sessionId: context.sessionId, names: context.names }),
        onDone: {
          target: 'connected',
          actions: [
            assign({ sessionId: ({ event }) => event.output.sessionId, lastError: undefined, refused: false }),
            sendParent(({ event }) => ({ type: 'session.registered', sessionId: event.output.sessionId })),
          ],
        },
        onError: [
          {
            // Registering afresh at once: waiting would only keep our rows off the hub longer.
            guard: { type: 'sessionIdRefused', params: ({ event }) => ({ error: event.error }) },
            target: 'registering',
            reenter: true,
            actions: [
              assign({ sessionId: undefined, lastError: ({ event }) => describe(event.error) }),
              sendParent({ type: 'session.forgotten' }),
            ],
          },
          {
            target: 'retrying',
            actions: {
              type: 'scheduleRetry',
              params: ({ event }) => {
                const status = (event.error as RegisterFailure | undefined)?.status;
                return { error: describe(event.error), refused: status === 401 || status === 403 || status === 409 };
              },
            },
          },
        ],
      },
    },
    retrying: {
      entry: 'announceRetry',
      after: { retry: 'registering' },
    },
    connected: {
      invoke: heartbeat,
      on: {
        'heartbeat.sessionLost': { target: 'registering', actions: assign({ lastError: 'the hub no longer knows this session' }) },
        'heartbeat.failed': { actions: assign({ lastError: ({ event }) => `heartbeat failed: ${event.error}` }) },
        'session.heartbeatNow': { actions: sendTo('heartbeat', { type: 'heartbeat.now' }) },
        // The stream stays open while running tasks finish: it is the session's pulse for the hub (SPEC.md §6), which
        // would otherwise fail them once its grace is over; the supervisor answers new tasks that it is stopping.
        'session.drain': {},
        'session.leave': 'leaving',
        'session.publish': { target: 'registering', actions: 'keepNames' },
        'session.providerStatus': {
          actions: sendTo('heartbeat', ({ event }) => ({ type: 'heartbeat.status', name: event.name, status: event.status })),
        },
      },
      initial: 'streaming',
      states: {
        streaming: {
          invoke: {
            id: 'taskStream',
            src: 'taskStream',
            input: ({ context }) => ({ sessionId: context.sessionId!, frames: context.frames }),
          },
          on: {
            'stream.sessionLost': { target: '#session.registering', actions: assign({ lastError: 'the hub no longer knows this session' }) },
            'stream.failed': {
              target: 'backoff',
              actions: { type: 'scheduleRetry', params: ({ event }) => ({ error: event.error }) },
            },
          },
          initial: 'connecting',
          states: {
            connecting: {
              on: { 'stream.opened': { target: 'open', actions: assign({ attempt: 0, lastError: undefined }) } },
              // A hub that takes the request and never answers it would otherwise hold the session here for ever.
              after: {
                streamIdle: {
                  target: '#session.connected.backoff',
                  actions: {
                    type: 'scheduleRetry',
                    params: ({ context }) => ({ error: `the hub did not answer the task stream request within ${context.timing.streamIdleMs} ms` }),
                  },
                },
              },
            },
            open: {
              // Every byte re-enters `open`, restarting the idle watchdog; silence past it means a zombie stream.
              on: { 'stream.activity': { target: 'open', reenter: true } },
              after: {
                streamIdle: {
                  target: '#session.connected.backoff',
                  actions: {
                    type: 'scheduleRetry',
                    params: ({ context }) => ({ error: `the task stream was silent for ${context.timing.streamIdleMs} ms` }),
                  },
                },
              },
            },
          },
        },
        backoff: {
          entry: 'announceRetry',
          after: { retry: 'streaming' },
        },
      },
    },
    draining: {
      // No more tasks are taken; heartbeats go on so the hub keeps the session while running tasks finish.
      on: { 'session.leave': [{ guard: 'hasSession', target: 'leaving' }, 'stopped'] },
      initial: 'idle',
      states: {
        heartbeating: { invoke: heartbeat },
        idle: {},
      },
    },
    leaving: {
      // The leave actor gives up on its own after a short deadline: a hub that does not know the route (mcpd) or does
      // not answer must not hold up the exit.
      invoke: { id: 'leave', src: 'leave', input: ({ context }) => ({ sessionId: context.sessionId! }), onDone: 'stopped' },
    },
    stopped: { type: 'final' },
  },
});
