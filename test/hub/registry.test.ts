// The registry's rules by arithmetic: names, sessions, the watchdog, visibility, what `model` resolves to.
import { describe, expect, it } from 'vitest';
import type { RegisterRequest } from '../../src/protocol/index.ts';
import { Registry, type Viewer } from '../../src/hub/registry.ts';

const WATCHDOG = 1000;
const alice: Viewer = { user: 'alice', admin: false };
const bob: Viewer = { user: 'bob', admin: false };
const admin: Viewer = { user: 'root', admin: true };

function row(name: string, extra: Partial<RegisterRequest['providers'][number]> = {}): RegisterRequest['providers'][number] {
  return { name, type: 'openai', model: 'm', visibility: 'public', initialStatus: 'active', ...extra };
}

function ids(): () => string {
  let next = 0;
  return () => `session-${++next}`;
}

describe('Registry', () => {
  it('refuses a name held by another live session, hands it over once that session is past the watchdog, and forgets a session left with nothing', () => {
    const registry = new Registry(WATCHDOG);
    const newId = ids();
    expect(registry.register('alice', { providers: [row('llama')] }, 0, newId)).toMatchObject({ ok: true, sessionId: 'session-1' });
    expect(registry.register('bob', { providers: [row('llama')] }, WATCHDOG - 1, newId)).toEqual({
      ok: false,
      status: 409,
      message: "name 'llama' is held by another live session",
    });
    expect(registry.register('bob', { providers: [row('llama')] }, WATCHDOG, newId)).toMatchObject({ ok: true, takenOver: ['llama'], forgotten: ['session-1'] });
    expect(registry.resolve(bob, 'llama')?.rows[0]?.owner).toBe('bob');
    expect(registry.rowNamesOf('session-1')).toEqual([]);
    expect(registry.heartbeat('alice', { providerSessionId: 'session-1' }, WATCHDOG)).toBe(false);
  });

  it('keeps a session that still publishes something after a takeover', () => {
    const registry = new Registry(WATCHDOG);
    registry.register('alice', { providers: [row('llama'), row('qwen')] }, 0, () => 'old');
    expect(registry.register('bob', { providers: [row('llama')] }, WATCHDOG, () => 'new')).toMatchObject({ ok: true, forgotten: [] });
    expect(registry.heartbeat('alice', { providerSessionId: 'old' }, WATCHDOG)).toBe(true);
    expect(registry.rowNamesOf('old')).toEqual(['qwen']);
  });

  it('keeps an unknown session id (sticky across hub restarts) and refuses a known one of another user', () => {
    const registry = new Registry(WATCHDOG);
    expect(registry.register('alice', { providers: [row('llama')], providerSessionId: 'sticky' }, 0, ids())).toMatchObject({ ok: true, sessionId: 'sticky', adopted: false });
    expect(registry.register('alice', { providers: [row('llama')], providerSessionId: 'sticky' }, 1, ids())).toMatchObject({ ok: true, sessionId: 'sticky', adopted: true });
    expect(registry.register('bob', { providers: [row('other')], providerSessionId: 'sticky' }, 2, ids())).toMatchObject({ ok: false, status: 409 });
  });

  it('never hands out a session id that is in use', () => {
    const registry = new Registry(WATCHDOG);
    const always = () => 'same';
    let calls = 0;
    const sameThenOther = () => (++calls === 1 ? 'same' : 'other');
    expect(registry.register('alice', { providers: [row('a')] }, 0, always)).toMatchObject({ ok: true, sessionId: 'same' });
    expect(registry.register('bob', { providers: [row('b')] }, 0, sameThenOther)).toMatchObject({ ok: true, sessionId: 'other' });
  });

  it('refuses a name given twice in one request', () => {
    const registry = new Registry(WATCHDOG);
    expect(registry.register('alice', { providers: [row('llama'), row('llama')] }, 0, ids())).toMatchObject({ ok: false, status: 400 });
  });

  it("pins agents to the request's providers or to public LLMs only", () => {
    const registry = new Registry(WATCHDOG);
    const newId = ids();
    registry.register('bob', { providers: [row('public-one'), row('private-one', { visibility: 'private' })] }, 0, newId);
    const agent = (llmName: string) => ({ name: `a-${llmName}`, llmName, visibility: 'public' as const });
    expect(registry.register('alice', { providers: [row('mine')], agents: [agent('mine'), agent('public-one')] }, 0, newId).ok).toBe(true);
    expect(registry.register('carol', { providers: [row('hers')], agents: [agent('private-one')] }, 0, newId)).toMatchObject({ ok: false, status: 400 });
  });

  it('shows public rows to everybody, private rows to their owner and to admins only', () => {
    const registry = new Registry(WATCHDOG);
    registry.register('alice', { providers: [row('open'), row('closed', { visibility: 'private' })] }, 0, ids());
    const names = (viewer: Viewer) => registry.visibleRows(viewer).map((r) => r.name);
    expect(names(alice)).toEqual(['open', 'closed']);
    expect(names(bob)).toEqual(['open']);
    expect(names(admin)).toEqual(['open', 'closed']);
    expect(registry.resolve(bob, 'closed')).toBeUndefined();
  });

  it('resolves a pool to its visible members and an agent to its LLM', () => {
    const registry = new Registry(WATCHDOG);
    registry.register(
      'alice',
      {
        providers: [row('a', { poolName: 'pool' }), row('b', { poolName: 'pool', visibility: 'private' })],
        agents: [{ name: 'helper', llmName: 'a', visibility: 'public' }],
      },
      0,
      ids(),
    );
    expect(registry.resolve(bob, 'pool')?.rows.map((r) => r.name)).toEqual(['a']);
    expect(registry.resolve(alice, 'pool')?.rows.map((r) => r.name)).toEqual(['a', 'b']);
    expect(registry.resolve(bob, 'helper')).toMatchObject({ kind: 'agent', rows: [{ name: 'a' }] });
  });

  it('reports a silent session lost once, shows its rows inactive, and revives them on a heartbeat', () => {
    const registry = new Registry(WATCHDOG);
    registry.register('alice', { providers: [row('llama', { initialStatus: 'hibernating' })] }, 0, ids());
    const llama = registry.resolve(alice, 'llama')!.rows[0]!;
    expect(registry.collectLost(WATCHDOG - 1)).toEqual([]);
    expect(registry.statusOf(llama, WATCHDOG - 1)).toBe('hibernating');
    expect(registry.collectLost(WATCHDOG).map((s) => s.id)).toEqual(['session-1']);
    expect(registry.collectLost(WATCHDOG + 1)).toEqual([]);
    expect(registry.statusOf(llama, WATCHDOG)).toBe('inactive');
    expect(registry.isHealthy(llama, WATCHDOG)).toBe(false);

    expect(registry.heartbeat('bob', { providerSessionId: 'session-1' }, WATCHDOG + 1)).toBe(false);
    expect(registry.heartbeat('alice', { providerSessionId: 'session-1' }, WATCHDOG + 1)).toBe(true);
    expect(registry.statusOf(llama, WATCHDOG + 1)).toBe('hibernating');
    expect(registry.isHealthy(llama, WATCHDOG + 1)).toBe(true);
  });

  it('applies the statuses a heartbeat reports for its own rows only', () => {
    const registry = new Registry(WATCHDOG);
    registry.register('alice', { providers: [row('mine')] }, 0, ids());
    registry.register('bob', { providers: [row('his')] }, 0, () => 'bobs');
    registry.heartbeat('alice', { providerSessionId: 'session-1', providers: [{ name: 'mine', status: 'unavailable' }, { name: 'his', status: 'unavailable' }] }, 1);
    expect(registry.statusOf(registry.resolve(admin, 'mine')!.rows[0]!, 1)).toBe('unavailable');
    expect(registry.statusOf(registry.resolve(admin, 'his')!.rows[0]!, 1)).toBe('active');
  });
});
