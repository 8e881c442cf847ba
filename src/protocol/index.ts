// The one place that knows the wire: both the registrar and the hub parse through these schemas.
export * from './wire.ts';
export * from './openai.ts';
export * from './parse.ts';
