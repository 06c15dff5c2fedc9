import { createCoordinator } from '@evco/core';
import swagger from '@fastify/swagger';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { bearerToken } from '../src/auth.js';
import {
  evcoOpenApiTransform,
  evcoOpenApiTransformObject,
  evcoSecuritySchemes,
  evcoTag,
} from '../src/openapi.js';
import { evcoPlugin } from '../src/plugin.js';
import { coordinatorOptions, TOKEN } from './helpers.js';

describe('OpenAPI document', () => {
  it('describes every route with an operationId, its errors, and security on the protected ones', async () => {
    const app = Fastify({ logger: false });
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: { title: 'shop', version: '1.0.0' },
        servers: [{ url: 'http://127.0.0.1:3000' }],
        tags: [evcoTag],
        components: { securitySchemes: { ...evcoSecuritySchemes } },
      },
      transform: evcoOpenApiTransform,
      transformObject: evcoOpenApiTransformObject,
    });
    await app.register(evcoPlugin, {
      coordinator: await createCoordinator(coordinatorOptions()),
      auth: bearerToken(TOKEN),
    });
    await app.ready();
    const doc = app.swagger() as unknown as {
      components: { schemas: Record<string, unknown> };
      paths: Record<
        string,
        Record<string, { operationId?: string; security?: unknown; responses: Record<string, unknown> }>
      >;
    };
    await app.close();
    const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, ...op })),
    );
    expect(operations.map((o) => o.key).sort()).toEqual([
      'GET /evco/dead-letters',
      'GET /evco/events',
      'GET /evco/events/{id}',
      'GET /evco/handlers',
      'GET /evco/health/live',
      'GET /evco/health/ready',
      'GET /evco/replays/{id}',
      'GET /evco/status',
      'GET /evco/unprocessed',
      'POST /evco/dead-letters/retry',
      'POST /evco/events',
      'POST /evco/handlers/{name}/retire',
      'POST /evco/replays',
    ]);
    const ids = operations.map((o) => o.operationId);
    expect(new Set(ids).size).toBe(operations.length);
    for (const op of operations) {
      expect(op.operationId, op.key).toMatch(/^evco[A-Z]/);
      if (op.key.startsWith('POST')) {
        expect(op.security, op.key).toEqual([{ evcoAuth: [] }]);
        expect(Object.keys(op.responses), op.key).toEqual(expect.arrayContaining(['400', '401', '415']));
      } else if (op.key === 'GET /evco/status') {
        // Public, and more with an authorized request: anonymous (`{}`) or the scheme.
        expect(op.security, op.key).toEqual([{}, { evcoAuth: [] }]);
      } else {
        // Open reads say so (an empty list), so a linter's "security defined" holds for every operation.
        expect(op.security, op.key).toEqual([]);
      }
      if (op.key !== 'GET /evco/health/live') {
        expect(
          Object.keys(op.responses).some((s) => s.startsWith('4') || s.startsWith('5')),
          op.key,
        ).toBe(true);
      }
    }
    // The causation tree is recursive; the document must still hold it.
    expect(JSON.stringify(doc.paths['/evco/events/{id}']!.get!.responses['200'])).toContain(
      '#/components/schemas/EvcoCausationNode',
    );
    expect(JSON.stringify(doc.components.schemas.EvcoCausationNode)).toContain('children');
  });
});
