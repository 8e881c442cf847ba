// Property (issue 9): over random sequences of registers from two users (names, pools, agents, visibilities),
// leaves, session squats and hub restarts on one state dir, a call by user U never reaches a registrar of another
// user unless U called a public name that user holds (directly, as a pool member, or through an agent U may call).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { paths, SESSION_HEADER, type Visibility } from '../../src/protocol/index.ts';
import type { Hub } from '../../src/hub/index.ts';
import { ALICE, BOB, completion, hubHarness, type Client, type SseReader } from './helpers.ts';

const harness = hubHarness({ taskTimeoutMs: 3_000, watchdogMs: 60_000 });
const USERS = { alice: ALICE, bob: BOB } as const;
type User = keyof typeof USERS;
const NAMES = ['n1', 'n2', 'n3', 'n4'] as const;
const REGISTRARS: Array<{ id: string; user: User }> = [
  { id: 'alice-1', user: 'alice' },
  { id: 'alice-2', user: 'alice' },
  { id: 'bob-1', user: 'bob' },
  { id: 'bob-2', user: 'bob' },
];

interface RowClaim {
  name: string;
  poolName?: string;
  visibility: Visibility;
}
interface AgentClaim {
  name: string;
  llmName: string;
  visibility: Visibility;
  /** Whose LLM `llmName` was when the agent was published (set by the model when the register is accepted). */
  llmOwner?: User;
}
/** What a registrar's last accepted register published, as far as nobody took it since. */
interface Claims {
  rows: RowClaim[];
  agents: AgentClaim[];
}

type Action =
  | { kind: 'register'; registrar: number; rows: RowClaim[]; agents: AgentClaim[] }
  | { kind: 'leave'; registrar: number }
  | { kind: 'squat'; registrar: number; victim: number }
  | { kind: 'restart' }
  | { kind: 'call'; user: User; model: string };

const visibility = fc.constantFrom<Visibility>('public', 'private');
const name = fc.constantFrom(...NAMES);
const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record({
        registrar: fc.nat(REGISTRARS.length - 1),
        rows: fc.uniqueArray(fc.record({ name, poolName: fc.option(name, { nil: undefined, freq: 2 }), visibility }, { requiredKeys: ['name', 'visibility'] }), { minLength: 1, maxLength: 2, selector: (r) => r.name }),
      })
      .chain(({ registrar, rows }) =>
        fc.record({
          kind: fc.constant('register' as const),
          registrar: fc.constant(registrar),
          // Mostly pinned to a row of the same request; sometimes to any name (another user's public LLM, or nothing).
          rows: fc.constant(rows.filter((r) => !rows.some((other) => other.name === r.poolName))),
          agents: fc.array(fc.record({ name, llmName: fc.oneof(fc.constantFrom(...rows.map((r) => r.name)), name), visibility }), { maxLength: 1 }),
        }),
      )
      .filter((step) => step.rows.length > 0),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('leave' as const), registrar: fc.nat(REGISTRARS.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('squat' as const), registrar: fc.nat(REGISTRARS.length - 1), victim: fc.nat(REGISTRARS.length - 1) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('call' as const), user: fc.constantFrom<User>('alice', 'bob'), model: name }) },
);

/** Every name a register claims, and as what. */
function claimedNames(rows: RowClaim[], agents: AgentClaim[]): Map<string, 'llm' | 'pool' | 'agent'> {
  const names = new Map<string, 'llm' | 'pool' | 'agent'>();
  for (const row of rows) {
    names.set(row.name, 'llm');
    if (row.poolName !== undefined && !names.has(row.poolName)) names.set(row.poolName, 'pool');
  }
  for (const agent of agents) names.set(agent.name, 'agent');
  return names;
}

/** May a call by `caller` for `model`, served by row `llmName` of `server`, reach that registrar? */
function allowed(caller: User, model: string, llmName: string, server: number, claims: Claims[]): boolean {
  const row = claims[server]!.rows.find((r) => r.name === llmName);
  if (!row) return false;
  const owner = REGISTRARS[server]!.user;
  if (owner === caller) return true;
  if (row.visibility !== 'public') return false;
  if (row.name === model) return true;
  // A pool is its owner's: every row in it must be theirs.
  if (row.poolName === model) return claims.every((held, holder) => REGISTRARS[holder]!.user === owner || held.rows.every((r) => r.poolName !== model));
  return claims.some((held, holder) =>
    held.agents.some((agent) => agent.name === model && agent.llmName === llmName && agent.llmOwner === owner && (agent.visibility === 'public' || REGISTRARS[holder]!.user === caller)),
  );
}

/** The name of `claims` that a register of `names` by `owner` may not take while `claims`' session is live. */
function conflict(names: Map<string, 'llm' | 'pool' | 'agent'>, owner: User, held: Claims, heldBy: User): string | undefined {
  const heldNames = claimedNames(held.rows, held.agents);
  for (const [name, kind] of names) {
    const heldAs = heldNames.get(name);
    if (heldAs === undefined) continue;
    if (kind === 'pool' && heldAs === 'pool' && owner === heldBy) continue;
    return name;
  }
  return undefined;
}

describe('one namespace, owned (property)', () => {
  it('never lets a call reach another user\'s registrar unless it named a public name that user holds', async () => {
    let crossUserCalls = 0;
    let answeredCalls = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 10, maxLength: 40 }), async (actions) => {
        let hub: Hub = await harness.start();
        const sessions: Array<string | undefined> = REGISTRARS.map(() => undefined);
        const streams: Array<SseReader | undefined> = REGISTRARS.map(() => undefined);
        const claims: Claims[] = REGISTRARS.map(() => ({ rows: [], agents: [] }));
        /** Registered since the last restart and not left since: its names are its own. */
        const live = REGISTRARS.map(() => false);
        const clientOf = (index: number): Client => harness.client(hub, USERS[REGISTRARS[index]!.user]);

        /** Answers every task that reaches registrar `index` with who it is and which row was asked for. */
        const pump = async (index: number, stream: SseReader, api: Client, sessionId: string): Promise<void> => {
          for (;;) {
            const event = await stream.nextEvent(60_000).catch(() => undefined);
            if (event === undefined) return;
            if (event.event !== 'task' || event.data === undefined) continue;
            const frame = JSON.parse(event.data) as { taskId: string; kind: string; llmName?: string };
            if (frame.kind === 'cancel') continue;
            await api.post(paths.result(frame.taskId), { status: 200, body: completion(`${index}|${frame.llmName}`) }, { [SESSION_HEADER]: sessionId }).catch(() => {});
          }
        };

        try {
          for (const step of actions) {
            if (step.kind === 'restart') {
              await hub.close();
              hub = await harness.start();
              streams.fill(undefined);
              live.fill(false);
              for (const held of claims) {
                held.rows = [];
                held.agents = [];
              }
            } else if (step.kind === 'register') {
              const api = clientOf(step.registrar);
              const body = {
                providers: step.rows.map((r) => ({ name: r.name, type: 'openai', model: 'm', visibility: r.visibility, initialStatus: 'active', ...(r.poolName ? { poolName: r.poolName } : {}) })),
                agents: step.agents,
                ...(sessions[step.registrar] ? { providerSessionId: sessions[step.registrar] } : {}),
              };
              const res = await api.post(paths.register, body);
              expect([201, 400, 409]).toContain(res.status);
              if (res.status !== 201) continue;
              const id = ((await res.json()) as { providerSessionId: string }).providerSessionId;
              if (sessions[step.registrar] !== undefined) expect(id).toBe(sessions[step.registrar]);
              sessions[step.registrar] = id;
              const names = claimedNames(step.rows, step.agents);
              const owner = REGISTRARS[step.registrar]!.user;
              const agents = step.agents.map((agent) => {
                if (step.rows.some((r) => r.name === agent.llmName)) return { ...agent, llmOwner: owner };
                const holder = claims.findIndex((held, other) => other !== step.registrar && held.rows.some((r) => r.name === agent.llmName));
                return { ...agent, llmOwner: holder >= 0 ? REGISTRARS[holder]!.user : undefined };
              });
              claims.forEach((held, other) => {
                if (other === step.registrar) return;
                const taken = conflict(names, owner, held, REGISTRARS[other]!.user);
                if (live[other]) expect(taken, `${REGISTRARS[step.registrar]!.id} took '${taken}' from the live ${REGISTRARS[other]!.id}`).toBeUndefined();
                // A dead session gives up what another takes (SPEC.md: as from a session past the watchdog).
                const stacks = (pool: string | undefined) => pool !== undefined && names.get(pool) === 'pool' && REGISTRARS[other]!.user === owner;
                held.rows = held.rows.filter((r) => !names.has(r.name) && (r.poolName === undefined || !names.has(r.poolName) || stacks(r.poolName)));
                held.agents = held.agents.filter((a) => !names.has(a.name));
              });
              claims[step.registrar] = { rows: step.rows, agents };
              live[step.registrar] = true;
              if (streams[step.registrar] === undefined || streams[step.registrar]!.ended) {
                const stream = await api.sse(paths.stream, { headers: { [SESSION_HEADER]: id } });
                streams[step.registrar] = stream;
                void pump(step.registrar, stream, api, id);
              }
            } else if (step.kind === 'leave') {
              if (sessions[step.registrar] === undefined) continue;
              const res = await clientOf(step.registrar).post(paths.leave, { providerSessionId: sessions[step.registrar] });
              expect([200, 404]).toContain(res.status);
              if (res.status === 200) live[step.registrar] = false;
            } else if (step.kind === 'squat') {
              const victim = sessions[step.victim];
              if (victim === undefined || REGISTRARS[step.victim]!.user === REGISTRARS[step.registrar]!.user) continue;
              const res = await clientOf(step.registrar).post(paths.register, { providers: [{ name: 'squat', type: 'openai', model: 'm', initialStatus: 'active' }], providerSessionId: victim });
              expect(res.status).toBe(403);
            } else {
              const res = await harness.client(hub, USERS[step.user]).post('/v1/chat/completions', { model: step.model, messages: [{ role: 'user', content: 'hi' }] });
              expect([200, 404, 503]).toContain(res.status);
              if (res.status !== 200) continue;
              const content = ((await res.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content;
              const [server, llmName] = content.split('|') as [string, string];
              answeredCalls += 1;
              if (REGISTRARS[Number(server)]!.user !== step.user) crossUserCalls += 1;
              expect(allowed(step.user, step.model, llmName, Number(server), claims), `${step.user} called ${step.model}, answered by ${REGISTRARS[Number(server)]!.id} row ${llmName}`).toBe(true);
            }
          }
        } finally {
          await hub.close();
        }
      }),
      { numRuns: 40 },
    );
    // The property held over calls that crossed users, not only over calls nobody answered.
    console.log(`namespace property: ${answeredCalls} calls answered, ${crossUserCalls} of them by another user's registrar`);
    expect(answeredCalls).toBeGreaterThan(40);
    expect(crossUserCalls).toBeGreaterThan(5);
  }, 120_000);
});
