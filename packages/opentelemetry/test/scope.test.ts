import { readFileSync } from 'node:fs';
import type { Meter, MeterProvider, Tracer, TracerProvider } from '@opentelemetry/api';
import { createNoopMeter } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { createOpenTelemetryInstrumentation } from '../src/index.js';

describe('instrumentation scope', () => {
  it("names this package's own version, read from its manifest (a release bumps it without touching the code)", () => {
    // It was the constant '0.1.0': right for 0.1.0 only, and wrong (otel.scope.version) from the
    // first release `changeset version` bumps.
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    const scopes: string[] = [];
    const tracerProvider: TracerProvider = {
      getTracer: (name, v) => {
        scopes.push(`tracer ${name}@${v}`);
        return {} as Tracer;
      },
    };
    const meterProvider: MeterProvider = {
      getMeter: (name, v) => {
        scopes.push(`meter ${name}@${v}`);
        return createNoopMeter() as Meter;
      },
    };
    const instrumentation = createOpenTelemetryInstrumentation({ tracerProvider, meterProvider });
    instrumentation.start?.({} as never);
    instrumentation.stop?.();
    expect(scopes).toContain(`tracer @evco/opentelemetry@${version}`);
    expect(new Set(scopes.map((s) => s.split('@').pop()))).toEqual(new Set([version]));
  });
});
