// Register every published provider (and the agents pinned to them) with the hub: SPEC.md §1.
import { fromPromise } from 'xstate';
import type { RegisterFailure, RegisterInput, RegisterOutput } from '../machines/session.ts';
import { CAPABILITY_OPENAI, CAPABILITY_RESULT_STREAM, RegisterResponse, parseWith, type ProviderRow, type RegisterRequest } from '../src/protocol/index.ts';
import { sessionIdProblem } from '../src/hub-client.ts';
import { cleanModelName } from '../src/model-names.ts';
import { shortSessionId } from '../src/redact.ts';
import type { ActorDeps, PublishedProvider } from './deps.ts';

/** `hibernating` when a wake recipe could bring it up and it does not answer right now (SPEC.md §1). */
async function initialStatus(published: PublishedProvider, signal: AbortSignal): Promise<ProviderRow['initialStatus']> {
  if (!published.config.wake) return 'active';
  return (await published.provider.isAvailable(signal)) ? 'active' : 'hibernating';
}

/** `names`: the wire names to publish (a catalog's models change); absent, every provider the daemon has. */
export async function registerBody(deps: Pick<ActorDeps, 'providers' | 'catalogs' | 'agents'>, sessionId: string | undefined, signal: AbortSignal, names?: string[]): Promise<RegisterRequest> {
  const published = names ? names.flatMap((name) => deps.providers.get(name) ?? []) : [...deps.providers.values()];
  if (published.length === 0) {
    throw new RegisterError(`nothing to publish yet: ${[...deps.catalogs.keys()].map((name) => `'${name}'`).join(', ') || 'no provider'} lists no model; retrying`);
  }
  const providers = await Promise.all(
    published.map(async (published): Promise<ProviderRow> => {
      const { config } = published;
      return {
        name: published.wireName,
        type: config.type,
        // A file path (llama-server's GGUF) tells callers where the file lies, not what the model is.
        model: cleanModelName(config.model) || config.model,
        tier: config.tier,
        description: config.description,
        poolName: config.poolName,
        visibility: config.visibility,
        initialStatus: await initialStatus(published, signal),
      };
    }),
  );
  return {
    providers,
    // Every provider runs `openai` frames (SPEC.md §5) and may upload a stream's results in one request (§4); a
    // base hub answers without capabilities, sends infer frames and takes a POST per chunk.
    capabilities: [CAPABILITY_OPENAI, CAPABILITY_RESULT_STREAM],
    ...(sessionId ? { providerSessionId: sessionId } : {}),
    ...(deps.agents.length > 0 ? { agents: deps.agents } : {}),
  };
}

class RegisterError extends Error implements RegisterFailure {
  override readonly name = 'RegisterError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

function refusal(status: number, body: unknown): RegisterError {
  const detail = (body as { error?: { message?: string } | string } | undefined)?.error;
  const said = typeof detail === 'string' ? detail : detail?.message;
  const hint =
    status === 401 ? 'the hub refused the token: check hub.token (or LLM_REGISTRAR_HUB_TOKEN)'
    : status === 403 ? 'the hub says this session id belongs to another user'
    : status === 409 ? 'a provider name is held by another live session on the hub: change publishName, or stop the other registrar'
    : status === 400 ? 'the hub refused the register body'
    : `the hub answered ${status}`;
  return new RegisterError(said ? `${hint} (${said})` : hint, status);
}

export function registerActor(deps: Pick<ActorDeps, 'hub' | 'providers' | 'catalogs' | 'agents' | 'logger'>) {
  return fromPromise<RegisterOutput, RegisterInput>(async ({ input, signal }) => {
    const body = await registerBody(deps, input.sessionId, signal, input.names);
    let answer: Awaited<ReturnType<typeof deps.hub.register>>;
    try {
      answer = await deps.hub.register(body, signal);
    } catch (error) {
      throw new RegisterError((error as Error).message);
    }
    if (answer.status === 403 && input.sessionId !== undefined) {
      // Our id is somebody else's (SPEC.md §1): the session machine forgets it and registers afresh at once.
      deps.hub.sessionId = undefined;
      deps.logger.warn(
        { sessionId: shortSessionId(input.sessionId) },
        `the hub says session ${shortSessionId(input.sessionId)}… belongs to another user: forgetting it and registering afresh without it`,
      );
    }
    if (answer.status !== 201 && answer.status !== 200) throw refusal(answer.status, answer.body);
    if (answer.notJson !== undefined) throw new RegisterError(`the hub's register answer is not JSON (${answer.status}, ${answer.notJson}): is ${deps.hub.url} the hub, and not a proxy or a web page?`, answer.status);
    // Before the schema, so an id too long for it is refused in the same words as one with a newline in it.
    const offered = (answer.body as { providerSessionId?: unknown } | null)?.providerSessionId;
    const problem = typeof offered === 'string' ? sessionIdProblem(offered) : undefined;
    if (problem) throw new RegisterError(`the hub's register answer has a providerSessionId that cannot travel in a header (${problem}): refused; is ${deps.hub.url} the hub?`, answer.status);
    const parsed = parseWith(RegisterResponse, answer.body);
    if (!parsed.ok) throw new RegisterError(`the hub's register answer is unusable: ${parsed.error}`, answer.status);
    const sessionId = parsed.value.providerSessionId;
    deps.hub.sessionId = sessionId;
    deps.hub.capabilities = new Set(parsed.value.capabilities ?? []);
    deps.logger.info(
      { sessionId: shortSessionId(sessionId), providers: body.providers.map((p) => p.name), capabilities: parsed.value.capabilities ?? [] },
      'registered with the hub',
    );
    return { sessionId };
  });
}
