// Tell the hub we are alive every heartbeatMs (SPEC.md §2); on demand too, while a wake polls.
import { fromCallback } from 'xstate';
import type { HeartbeatCommand, HeartbeatEvent, HeartbeatInput } from '../machines/session.ts';
import { CAPABILITY_OPENAI, type ProviderStatus } from '../src/protocol/index.ts';
import type { ActorDeps } from './deps.ts';

export function heartbeatActor(deps: Pick<ActorDeps, 'hub' | 'logger'>) {
  return fromCallback<HeartbeatCommand, HeartbeatInput>(({ input, sendBack, receive }) => {
    const controller = new AbortController();
    /** Provider statuses changed since the last heartbeat the hub took. */
    let changes = new Map<string, ProviderStatus>();
    let beating = false;
    /** Statuses a heartbeat did not get across are reported again, unless a newer one came meanwhile. */
    const keepUnreported = (reporting: Map<string, ProviderStatus>) => {
      for (const [name, status] of reporting) if (!changes.has(name)) changes.set(name, status);
    };
    const beat = async () => {
      if (beating) return;
      beating = true;
      const reporting = changes;
      changes = new Map();
      try {
        // `paused` is ours: a hub that did not answer openai.v1 (mcpd) may refuse a status it does not know.
        const ours = deps.hub.capabilities.has(CAPABILITY_OPENAI);
        const providers = [...reporting].map(([name, status]) => ({ name, status: status === 'paused' && !ours ? ('unavailable' as const) : status }));
        const status = await deps.hub.heartbeat(input.sessionId, providers, controller.signal);
        if (status !== 200) keepUnreported(reporting);
        if (controller.signal.aborted) return;
        const event: HeartbeatEvent =
          status === 200 ? { type: 'heartbeat.ok' }
          : status === 404 ? { type: 'heartbeat.sessionLost' }
          : { type: 'heartbeat.failed', error: `the hub answered ${status}` };
        if (event.type !== 'heartbeat.ok') deps.logger.warn({ status }, 'heartbeat not taken');
        sendBack(event);
      } catch (error) {
        keepUnreported(reporting);
        if (controller.signal.aborted) return;
        deps.logger.warn({ err: (error as Error).message }, 'heartbeat failed');
        sendBack({ type: 'heartbeat.failed', error: (error as Error).message });
      } finally {
        beating = false;
      }
    };
    const timer = setInterval(beat, input.intervalMs);
    receive((command) => {
      if (command.type === 'heartbeat.status') changes.set(command.name, command.status);
      void beat();
    });
    return () => {
      clearInterval(timer);
      controller.abort();
    };
  });
}
