// A provider with `model: "*"`: every modelSyncMs it lists the models of its server and tells the supervisor their
// wire names, which starts and stops their provider machines and registers again (SPEC.md, "model list sync").
// waiting ⇄ listing; the daemon lists once before it starts, so the first list is a sync period away.
import { enqueueActions, setup, type ActorRefFrom } from 'xstate';
import { promisePlaceholder } from './placeholder.ts';

export interface CatalogInput {
  /** The provider's name in the config. */
  source: string;
  modelSyncMs: number;
}

export interface ListModelsInput {
  source: string;
}

/** From a catalog: the wire names of the models its server lists now. */
export interface ModelsListed {
  type: 'models.listed';
  source: string;
  names: string[];
}

export const catalogMachine = setup({
  types: { input: {} as CatalogInput, context: {} as CatalogInput },
  actors: {
    /** Undefined when the server could not be listed: nothing is known to have changed. */
    listModels: promisePlaceholder<string[] | undefined, ListModelsInput>('listModels'),
  },
  delays: { modelSync: ({ context }) => context.modelSyncMs },
  actions: {
    reportListed: enqueueActions(({ context, enqueue }, params: { names: string[] | undefined }) => {
      if (params.names) enqueue.sendParent({ type: 'models.listed', source: context.source, names: params.names } satisfies ModelsListed);
    }),
  },
}).createMachine({
  id: 'catalog',
  context: ({ input }) => input,
  initial: 'waiting',
  states: {
    waiting: { after: { modelSync: 'listing' } },
    listing: {
      invoke: {
        id: 'list',
        src: 'listModels',
        input: ({ context }) => ({ source: context.source }),
        onDone: { target: 'waiting', actions: { type: 'reportListed', params: ({ event }) => ({ names: event.output }) } },
        onError: 'waiting',
      },
    },
  },
});

export type CatalogActorRef = ActorRefFrom<typeof catalogMachine>;
