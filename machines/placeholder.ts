// Named stand-ins for the actors a machine invokes: the supervisor fills them with machine.provide({ actors }).
import { fromCallback, fromPromise, type EventObject } from 'xstate';

export function promisePlaceholder<TOutput, TInput>(name: string) {
  return fromPromise<TOutput, TInput>(async () => {
    throw new Error(`actor '${name}' was not provided`);
  });
}

export function callbackPlaceholder<TEvent extends EventObject, TInput>(name: string) {
  return fromCallback<TEvent, TInput>(() => {
    throw new Error(`actor '${name}' was not provided`);
  });
}
