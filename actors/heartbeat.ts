// Tell the hub we are alive every heartbeatMs (SPEC.md §2); on demand too, while a wake polls.
import { fromCallback } from 'xstate';
import type { HeartbeatEvent, HeartbeatInput } from '../machines/session.ts';
import type { ActorDeps } from './deps.ts';

export function heartbeatActor(deps: ActorDeps) {
  return fromCallback<{ type: 'heartbeat.now' }, HeartbeatInput>(({ input, sendBack, receive }) => {
    const controller = new AbortController();
    let beating = false;
    const beat = async () => {
      if (beating) return;
      beating = true;
      try {
        const status = await deps.hub.heartbeat(input.sessionId, controller.signal);
        if (controller.signal.aborted) return;
        const event: HeartbeatEvent =
          status === 200 ? { type: 'heartbeat.ok' }
          : status === 404 ? { type: 'heartbeat.sessionLost' }
          : { type: 'heartbeat.failed', error: `the hub answered ${status}` };
        if (event.type !== 'heartbeat.ok') deps.logger.warn({ status }, 'heartbeat not taken');
        sendBack(event);
      } catch (error) {
        if (controller.signal.aborted) return;
        deps.logger.warn({ err: (error as Error).message }, 'heartbeat failed');
        sendBack({ type: 'heartbeat.failed', error: (error as Error).message });
      } finally {
        beating = false;
      }
    };
    const timer = setInterval(beat, input.intervalMs);
    receive(() => void beat());
    return () => {
      clearInterval(timer);
      controller.abort();
    };
  });
}
