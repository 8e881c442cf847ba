// The JSON Schema printed by `llm-registrar schema`: what editors use to check and complete a config file.
import { describe, expect, it } from 'vitest';
import { configJsonSchema } from '../../src/config/json-schema.ts';

type Node = { type?: string; properties?: Record<string, Node>; items?: Node; required?: string[]; additionalProperties?: unknown; default?: unknown; oneOf?: Node[] };

describe('configJsonSchema', () => {
  const schema = configJsonSchema() as Node & { $schema?: string };

  it('is a draft-07 schema that survives JSON', () => {
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
  });

  it('describes the hub as required, with url and token', () => {
    expect(schema.required).toContain('hub');
    expect(schema.properties?.hub?.required).toEqual(['url', 'token']);
  });

  it('carries the defaults the loader applies', () => {
    const provider = schema.properties?.providers?.items;
    expect(provider?.properties?.maxConcurrency?.default).toBe(4);
    expect(provider?.properties?.visibility?.default).toBe('private');
    expect(provider?.properties?.wake?.oneOf?.[0]?.properties?.method?.default).toBe('POST');
  });

  it('refuses unknown keys, as the loader does, but lets a file name its schema', () => {
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties?.providers?.items?.additionalProperties).toBe(false);
    expect(schema.properties?.providers?.items?.properties?.wake?.oneOf?.every((option) => option.additionalProperties === false)).toBe(true);
    expect(schema.properties?.$schema).toEqual({ type: 'string' });
  });

  it('leaves free-form maps open', () => {
    const headers = schema.properties?.providers?.items?.properties?.wake?.oneOf?.[0]?.properties?.headers;
    expect(headers?.additionalProperties).toEqual({ type: 'string' });
  });
});
