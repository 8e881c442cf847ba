// The registry's rules by arithmetic: one namespace, owned sessions, the watchdog, leave, limits, retention, and
// what `model` resolves to.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { RegisterRequest } from '../../src/protocol/index.ts';
import { FOREIGN_SESSION, Registry, type RegisterOutcome, type RegistryOptions, type Viewer } from '../../src/hub/registry.ts';
import { SessionIds } from '../../src/hub/session-ids.ts';

const WATCHDOG = 1000;
const alice: Viewer = { user: 'alice', admin: false };
const bob: Viewer = { user: 'bob', admin: false };
const admin: Viewer = { user: 'root', admin: true };
const KEY = randomBytes(32);

function registry(options: Partial<RegistryOptions> = {}): Registry {
  return new Registry({ watchdogMs: WATCHDOG, retentionMs: 10 * WATCHDOG, maxRowsPerSession: 50, maxSessionsPerUser: 4, ids: new SessionIds(KEY), ...options });
}

function row(name: string, extra: Partial<RegisterRequest['providers'][number]> = {}): RegisterRequest['providers'][number] {
  return { name, type: 'openai', model: 'm', visibility: 'public', initialStatus: 'active', ...extra };
}

function idOf(outcome: RegisterOutcome): string {
  if (!outcome.ok) throw new Error(`register refused: ${outcome.status} ${outcome.message}`);
  return outcome.sessionId;
}

const owners = (r: Registry, viewer: Viewer, model: string) => r.resolve(viewer, model)?.rows.map((x) => `${x.name}:${x.owner}`);

describe('one namespace', () => {
  it('refuses a name held by another live session, hands it over once that session is past the watchdog, and forgets a session left with nothing', () => {
    const r = registry();
    const first = idOf(r.register('alice', { providers: [row('llama')] }, 0));
    expect(r.register('bob', { providers: [row('llama')] }, WATCHDOG - 1)).toEqual({ ok: false, code: 'name_taken', status: 409, message: "name 'llama' is held by another live session" });
    expect(r.register('bob', { providers: [row('llama')] }, WATCHDOG)).toMatchObject({ ok: true, takenOver: ['llama'], forgotten: [first] });
    expect(owners(r, bob, 'llama')).toEqual(['llama:bob']);
    expect(r.heartbeat('alice', { providerSessionId: first }, WATCHDOG)).toBe(false);
  });

  it('refuses with the same words whether the holder is private or public, and whatever kind of thing holds the name', () => {
    const r = registry();
    r.register('alice', { providers: [row('open'), row('closed', { visibility: 'private', poolName: 'hidden-pool' })], agents: [{ name: 'spy-agent', llmName: 'closed', visibility: 'private' }] }, 0);
    const refusals = ['open', 'closed', 'hidden-pool', 'spy-agent'].flatMap((name) => [
      r.register('bob', { providers: [row(name)] }, 1),
      r.register('bob', { providers: [row(`bob-${name}`, { poolName: name })] }, 1),
      r.register('bob', { providers: [row(`bob2-${name}`)], agents: [{ name, llmName: `bob2-${name}`, visibility: 'public' }] }, 1),
    ]);
    for (const outcome of refusals) expect(outcome).toMatchObject({ ok: false, status: 409 });
    expect(new Set(refusals.map((o) => (o.ok ? '' : o.message.replace(/'[^']*'/, "'N'"))))).toEqual(new Set(["name 'N' is held by another live session"]));
  });

  it("lets only the pool's owner stack rows in it, from any of their sessions", () => {
    const r = registry();
    r.register('alice', { providers: [row('a1', { poolName: 'pool', visibility: 'private' })] }, 0);
    expect(r.register('alice', { providers: [row('a2', { poolName: 'pool' })] }, 0).ok).toBe(true);
    expect(r.register('bob', { providers: [row('b1', { poolName: 'pool' })] }, 0)).toMatchObject({ ok: false, status: 409 });
    expect(owners(r, alice, 'pool')).toEqual(['a1:alice', 'a2:alice']);
    expect(owners(r, bob, 'pool')).toEqual(['a2:alice']);
  });

  it('refuses a request that uses one name for two things', () => {
    const r = registry();
    expect(r.register('alice', { providers: [row('llama'), row('llama')] }, 0)).toMatchObject({ ok: false, status: 400, message: "name 'llama' appears twice in the request" });
    expect(r.register('alice', { providers: [row('x'), row('y', { poolName: 'x' })] }, 0)).toMatchObject({ ok: false, status: 400, message: expect.stringMatching(/^providers\.1\.poolName: 'x' is also an LLM/) });
    expect(r.register('alice', { providers: [row('x')], agents: [{ name: 'x', llmName: 'x', visibility: 'public' }] }, 0)).toMatchObject({ ok: false, status: 400, message: expect.stringMatching(/^agents\.0\.name: 'x' is also an LLM/) });
  });

  it("gives up a dead user's names whatever they held: a dead LLM, pool or agent never shadows the new holder", () => {
    const r = registry();
    r.register('bob', { providers: [row('x'), row('b', { poolName: 'y' })], agents: [{ name: 'z', llmName: 'b', visibility: 'public' }] }, 0);
    const later = WATCHDOG + 1;
    expect(r.register('alice', { providers: [row('a', { poolName: 'x' }), row('y')], agents: [{ name: 'z', llmName: 'a', visibility: 'public' }] }, later)).toMatchObject({
      ok: true,
      takenOver: ['x', 'y', 'z'],
    });
    expect(r.resolve(alice, 'x')).toMatchObject({ kind: 'pool', rows: [{ owner: 'alice' }] });
    expect(r.resolve(alice, 'y')).toMatchObject({ kind: 'llm', rows: [{ owner: 'alice' }] });
    expect(r.resolve(alice, 'z')).toMatchObject({ kind: 'agent', agent: { owner: 'alice' }, rows: [{ name: 'a' }] });
    expect(r.visibleRows(admin).map((x) => `${x.name}:${x.owner}`)).toEqual(['a:alice', 'y:alice']);
  });

  it('keeps a session that still publishes something after a takeover', () => {
    const r = registry();
    const old = idOf(r.register('alice', { providers: [row('llama'), row('qwen')] }, 0));
    expect(r.register('bob', { providers: [row('llama')] }, WATCHDOG)).toMatchObject({ ok: true, forgotten: [] });
    expect(r.heartbeat('alice', { providerSessionId: old }, WATCHDOG)).toBe(true);
    expect(r.rowNamesOf(old)).toEqual(['qwen']);
  });

  it("does not hand an agent's callers to whoever takes its LLM's name later", () => {
    const r = registry();
    r.register('carol', { providers: [row('c')] }, 0);
    r.register('alice', { providers: [row('a')], agents: [{ name: 'helper', llmName: 'c', visibility: 'public' }] }, 0);
    expect(owners(r, alice, 'helper')).toEqual(['c:carol']);
    r.heartbeat('alice', { providerSessionId: idOf(r.register('alice', { providers: [row('a2')] }, WATCHDOG)) }, WATCHDOG);
    r.register('bob', { providers: [row('c')] }, WATCHDOG + 1);
    expect(owners(r, bob, 'c')).toEqual(['c:bob']);
    expect(r.resolve(alice, 'helper')?.rows ?? []).toEqual([]);
  });

  it("pins agents to the request's providers or to public LLMs only", () => {
    const r = registry();
    r.register('bob', { providers: [row('public-one'), row('private-one', { visibility: 'private' })] }, 0);
    const agent = (llmName: string) => ({ name: `a-${llmName}`, llmName, visibility: 'public' as const });
    expect(r.register('alice', { providers: [row('mine')], agents: [agent('mine'), agent('public-one')] }, 0).ok).toBe(true);
    expect(r.register('carol', { providers: [row('hers')], agents: [agent('private-one')] }, 0)).toMatchObject({ ok: false, status: 400 });
  });
});

describe('sessions', () => {
  it("refuses another user's session id, known or not, with 403, and adopts one issued to the same user after a restart", () => {
    const before = registry();
    const id = idOf(before.register('alice', { providers: [row('llama')] }, 0));
    expect(before.register('bob', { providers: [row('other')], providerSessionId: id }, 1)).toEqual({ ok: false, code: 'session_foreign', status: 403, message: FOREIGN_SESSION });

    const after = registry();
    expect(after.register('bob', { providers: [row('llama')], providerSessionId: id }, 2)).toEqual({ ok: false, code: 'session_foreign', status: 403, message: FOREIGN_SESSION });
    expect(after.register('alice', { providers: [row('llama')], providerSessionId: id }, 3)).toMatchObject({ ok: true, sessionId: id, adopted: true });
    expect(after.register('alice', { providers: [row('x')], providerSessionId: 'made-up' }, 3)).toMatchObject({ ok: false, status: 403 });
    expect(registry({ ids: new SessionIds(randomBytes(32)) }).register('alice', { providers: [row('llama')], providerSessionId: id }, 0)).toMatchObject({ ok: false, status: 403 });
  });

  it('issues ids that are safe header values and never the same twice', () => {
    const r = registry();
    const ids = new Set(Array.from({ length: 20 }, (_, i) => idOf(r.register('alice', { providers: [row(`n${i}`)] }, i * WATCHDOG))));
    expect(ids.size).toBe(20);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
  });

  it('makes a left session inactive at once, lets another take its names, and revives it on a heartbeat', () => {
    const r = registry();
    const id = idOf(r.register('alice', { providers: [row('llama'), row('qwen')] }, 0));
    expect(r.leave('bob', id)).toBe(false);
    expect(r.leave('alice', id)).toBe(true);
    expect(r.statusOf(r.resolve(alice, 'qwen')!.rows[0]!, 1)).toBe('inactive');
    expect(r.collectLost(1)).toEqual([]);
    expect(r.register('bob', { providers: [row('llama')] }, 1)).toMatchObject({ ok: true, takenOver: ['llama'] });
    expect(r.heartbeat('alice', { providerSessionId: id }, 2)).toBe(true);
    expect(r.statusOf(r.resolve(alice, 'qwen')!.rows[0]!, 2)).toBe('active');
  });

  it('records the capabilities a registrar sent', () => {
    const r = registry();
    const id = idOf(r.register('alice', { providers: [row('llama')], capabilities: ['openai.v1'] }, 0));
    expect(r.sessionById(id)?.capabilities).toEqual(['openai.v1']);
    r.register('alice', { providers: [row('llama')], providerSessionId: id }, 1);
    expect(r.sessionById(id)?.capabilities).toEqual([]);
  });

  it('reports a silent session lost once, shows its rows inactive, and revives them on a heartbeat', () => {
    const r = registry();
    const id = idOf(r.register('alice', { providers: [row('llama', { initialStatus: 'hibernating' })] }, 0));
    const llama = r.resolve(alice, 'llama')!.rows[0]!;
    expect(r.collectLost(WATCHDOG - 1)).toEqual([]);
    expect(r.statusOf(llama, WATCHDOG - 1)).toBe('hibernating');
    expect(r.collectLost(WATCHDOG).map((s) => s.id)).toEqual([id]);
    expect(r.collectLost(WATCHDOG + 1)).toEqual([]);
    expect(r.isHealthy(llama, WATCHDOG)).toBe(false);
    expect(r.heartbeat('bob', { providerSessionId: id }, WATCHDOG + 1)).toBe(false);
    expect(r.heartbeat('alice', { providerSessionId: id }, WATCHDOG + 1)).toBe(true);
    expect(r.isHealthy(llama, WATCHDOG + 1)).toBe(true);
  });

  it('applies the statuses a heartbeat reports for its own rows only', () => {
    const r = registry();
    const mine = idOf(r.register('alice', { providers: [row('mine')] }, 0));
    r.register('bob', { providers: [row('his')] }, 0);
    r.heartbeat('alice', { providerSessionId: mine, providers: [{ name: 'mine', status: 'unavailable' }, { name: 'his', status: 'unavailable' }] }, 1);
    expect(r.statusOf(r.resolve(admin, 'mine')!.rows[0]!, 1)).toBe('unavailable');
    expect(r.statusOf(r.resolve(admin, 'his')!.rows[0]!, 1)).toBe('active');
  });
});

describe('bounds and collection', () => {
  it('refuses more rows than maxRowsPerSession, naming the field', () => {
    const r = registry({ maxRowsPerSession: 3 });
    const outcome = r.register('alice', { providers: [row('a'), row('b')], agents: [{ name: 'c', llmName: 'a', visibility: 'public' }, { name: 'd', llmName: 'a', visibility: 'public' }] }, 0);
    expect(outcome).toMatchObject({ ok: false, status: 400, message: expect.stringMatching(/^providers: 4 LLMs and agents .*maxRowsPerSession 3/) });
  });

  it("makes room within maxSessionsPerUser by deleting the user's oldest dead session, and refuses (429) when all are live", () => {
    const r = registry({ maxSessionsPerUser: 2 });
    const oldest = idOf(r.register('alice', { providers: [row('a')] }, 0));
    idOf(r.register('alice', { providers: [row('b')] }, 10));
    const third = r.register('alice', { providers: [row('c')] }, WATCHDOG + 5);
    expect(third).toMatchObject({ ok: true, evicted: [oldest] });
    expect(r.resolve(alice, 'a')).toBeUndefined();
    expect(r.register('alice', { providers: [row('d')] }, WATCHDOG + 20)).toMatchObject({ ok: true, evicted: [expect.any(String)] });
    expect(r.register('alice', { providers: [row('e')] }, WATCHDOG + 21)).toMatchObject({ ok: false, status: 429 });
    expect(r.register('bob', { providers: [row('e')] }, WATCHDOG + 21).ok).toBe(true);
  });

  it('deletes sessions not heard from for retentionMs, with their rows, and nothing younger', () => {
    const r = registry({ retentionMs: 5 * WATCHDOG });
    const old = idOf(r.register('alice', { providers: [row('old', { poolName: 'p' })], agents: [{ name: 'ag', llmName: 'old', visibility: 'public' }] }, 0));
    const young = idOf(r.register('alice', { providers: [row('young', { poolName: 'p' })] }, 2 * WATCHDOG));
    expect(r.collectExpired(5 * WATCHDOG - 1)).toEqual([]);
    expect(r.collectExpired(5 * WATCHDOG)).toEqual([old]);
    expect(r.sessionById(old)).toBeUndefined();
    expect(owners(r, alice, 'p')).toEqual(['young:alice']);
    expect(r.resolve(alice, 'ag')).toBeUndefined();
    expect(r.sessionById(young)).toBeDefined();
    expect(r.sessionCount).toBe(1);
  });
});

describe('a register whose answer never arrived', () => {
  const rows = [row('llama', { poolName: 'team' }), row('tiny', { visibility: 'private' })];
  const agents = [{ name: 'helper', llmName: 'llama', systemPrompt: 'Be brief.', visibility: 'public' as const }];

  it('does not lock the retry out: the same user with the same rows replaces the session nobody has heard from since', () => {
    const r = registry();
    const ghost = idOf(r.register('alice', { providers: rows, agents }, 0));
    const retry = r.register('alice', { providers: rows.map((p) => ({ ...p, initialStatus: 'hibernating' as const })), agents }, 10);
    expect(retry).toMatchObject({ ok: true, adopted: false, forgotten: [ghost] });
    expect(idOf(retry)).not.toBe(ghost);
    expect(r.heartbeat('alice', { providerSessionId: ghost }, 20)).toBe(false);
    expect(owners(r, alice, 'team')).toEqual(['llama:alice']);
    expect(r.sessionCount).toBe(1);
  });

  it('refuses as before once the first session was heard from (a heartbeat, its stream, a register with its id)', () => {
    const heard: Array<(r: Registry, id: string) => void> = [
      (r, id) => r.heartbeat('alice', { providerSessionId: id }, 5),
      (r, id) => r.confirm(id),
      (r, id) => r.register('alice', { providers: rows, providerSessionId: id }, 5),
    ];
    for (const hear of heard) {
      const r = registry();
      const first = idOf(r.register('alice', { providers: rows }, 0));
      hear(r, first);
      expect(r.register('alice', { providers: rows }, 10)).toMatchObject({ ok: false, status: 409 });
    }
  });

  it('refuses another user, other rows, other agents, and a register that names a session', () => {
    const r = registry();
    const ghost = idOf(r.register('alice', { providers: rows, agents }, 0));
    expect(r.register('bob', { providers: rows, agents }, 1)).toMatchObject({ ok: false, status: 409 });
    expect(r.register('alice', { providers: [rows[0]!], agents }, 1)).toMatchObject({ ok: false, status: 409 });
    expect(r.register('alice', { providers: rows.map((p) => ({ ...p, model: 'other' })), agents }, 1)).toMatchObject({ ok: false, status: 409 });
    expect(r.register('alice', { providers: rows, agents: [{ ...agents[0]!, systemPrompt: 'Be long.' }] }, 1)).toMatchObject({ ok: false, status: 409 });
    expect(r.register('alice', { providers: rows }, 1)).toMatchObject({ ok: false, status: 409 });
    const other = idOf(r.register('alice', { providers: [row('elsewhere')] }, 1));
    expect(r.register('alice', { providers: rows, agents, providerSessionId: other }, 1)).toMatchObject({ ok: false, status: 409 });
    expect(r.heartbeat('alice', { providerSessionId: ghost }, 2)).toBe(true);
  });
});
