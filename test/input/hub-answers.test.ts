// Hostile answers to register: a 201 that is not JSON, an HTML page (a proxy's login page, typically), JSON without
// a session id or with one of the wrong type or size. The registrar never takes such an answer for a session: it says
// what was wrong, retries with its backoff, and connects once the hub answers properly.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../support/cluster.ts';
import { guardProcess } from '../support/process-guard.ts';
import { startRegistrar, type Registrar } from '../support/registrar.ts';
import { startScriptHub, type Answer, type ScriptHub } from '../support/script-hub.ts';

guardProcess();

let hub: ScriptHub | undefined;
let registrar: Registrar | undefined;

afterEach(async () => {
  await teardown();
});

async function teardown() {
  const troubles = registrar?.troubles() ?? [];
  await registrar?.stop();
  await hub?.close();
  hub = registrar = undefined;
  expect(troubles).toEqual([]);
}

/** A registrar whose hub answers its registers with `answers` in turn, then properly. */
async function registering(answers: Answer[]) {
  const queue = [...answers];
  hub = await startScriptHub({ register: () => queue.shift() ?? 201, keepAliveMs: 50 });
  registrar = await startRegistrar({
    hubUrl: hub.url,
    providers: [{ name: 'demo', type: 'demo', model: 'demo' }],
    timing: { backoffBaseMs: 2, backoffCapMs: 10 },
  });
  await hub.waitForStream();
  return { hub, registrar };
}

/** Why each failed register was retried, as the session logged it. */
const retryReasons = (r: Registrar) =>
  r.logs.filter((line) => line.actor === 'session' && typeof line.msg === 'string' && line.msg.endsWith('→ retrying')).map((line) => String(line.reason));

const raw = (body: string, contentType = 'application/json', status = 201): Answer => ({ status, body, contentType });

describe('register answered with something that is not a session', () => {
  it.each([
    ['a 201 that is not JSON', raw('created!', 'text/plain'), /not JSON.*"created!"/],
    ['a 201 with an HTML page', raw('<!doctype html><html><body>Please log in</body></html>', 'text/html'), /not JSON.*text\/html.*Please log in/],
    ['a 200 with an empty body', raw('', 'application/json', 200), /not JSON|empty/],
    ['a 201 without a session id', raw('{"ok":true}'), /providerSessionId/],
    ['a 201 whose session id is a number', raw('{"providerSessionId":42}'), /providerSessionId: Invalid type/],
    ['a 201 whose session id is empty', raw('{"providerSessionId":""}'), /providerSessionId/],
    ['a 201 whose session id is 10 000 characters long', raw(JSON.stringify({ providerSessionId: 's'.repeat(10_000) })), /providerSessionId/],
    ['a 201 whose body is JSON null', raw('null'), /Expected Object/],
  ])('retries after %s, saying what was wrong, and connects once the hub answers properly', async (_what, answer, reason) => {
    const { hub, registrar } = await registering([answer, answer]);
    expect(hub.registers).toHaveLength(3);
    const reasons = retryReasons(registrar);
    expect(reasons).toHaveLength(2);
    for (const text of reasons) {
      expect(text).toMatch(/^the hub's register answer/);
      expect(text).toMatch(reason);
      expect(text.length).toBeLessThan(600);
    }
    expect(registrar.daemon.actor!.getSnapshot().context.sessionId).toBe('script-session');
  });

  it('never takes an answer that is not a usable session (fast-check)', async () => {
    const body = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.json({ maxDepth: 2 }),
      fc.record({ providerSessionId: fc.oneof(fc.string({ maxLength: 300 }), fc.integer(), fc.constant(null), fc.array(fc.string())) }).map((value) => JSON.stringify(value)),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(body, { minLength: 1, maxLength: 3 }), fc.constantFrom('application/json', 'text/html', 'text/plain'), async (bodies, contentType) => {
        const usable = (text: string) => {
          try {
            const id = (JSON.parse(text) as { providerSessionId?: unknown } | null)?.providerSessionId;
            // A session id travels in a header: visible ASCII only, 200 characters at most.
            return typeof id === 'string' && /^[\x21-\x7e]{1,200}$/.test(id);
          } catch {
            return false;
          }
        };
        const firstUsable = bodies.findIndex(usable);
        const { hub, registrar } = await registering(bodies.map((text) => raw(text, contentType)));
        const expected = firstUsable === -1 ? 'script-session' : (JSON.parse(bodies[firstUsable]) as { providerSessionId: string }).providerSessionId;
        await eventually(() => expect(registrar.daemon.actor!.getSnapshot().context.sessionId).toBe(expected));
        expect(hub.registers).toHaveLength(firstUsable === -1 ? bodies.length + 1 : firstUsable + 1);
        expect(retryReasons(registrar)).toHaveLength(firstUsable === -1 ? bodies.length : firstUsable);
        await teardown();
      }),
      { numRuns: 25 },
    );
  });
});

describe('task stream answered with something that is not an event stream', () => {
  it('treats a 200 HTML page as a failed stream, says so, and backs off instead of reconnecting at once', async () => {
    let pages = 3;
    hub = await startScriptHub({
      stream: () => (pages-- > 0 ? raw('<html><body>Session expired, please log in</body></html>', 'text/html', 200) : 200),
      keepAliveMs: 50,
    });
    registrar = await startRegistrar({ hubUrl: hub.url, providers: [{ name: 'demo', type: 'demo', model: 'demo' }], timing: { backoffBaseMs: 2, backoffCapMs: 10 } });
    await hub.waitForStream();
    const reasons = registrar.logs.filter((line) => line.actor === 'session' && String(line.msg).endsWith('→ connected.backoff')).map((line) => String(line.reason));
    expect(reasons).toHaveLength(3);
    for (const reason of reasons) expect(reason).toMatch(/the hub answered 200 with text\/html, not an event stream/);
    // Failures count up (the backoff grows) until a real stream opens.
    expect(registrar.retries.map((retry) => retry.attempt)).toEqual([1, 2, 3]);
    expect(hub.streamsOpened).toBe(1);
  });
});
