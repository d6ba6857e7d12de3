/**
 * SPEC §13 traces: OpenTelemetry, on only when an OTLP endpoint is configured.
 * Off, every span below comes from the API's no-op tracer and the SDK is never
 * loaded; on, the SDK is imported once, registered globally (W3C trace context
 * propagation, async-hooks context) and exports in batches over OTLP/HTTP JSON.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import type { TraceSettings } from '../config.js';

/** Every Waxseal span comes from here: a no-op until startTracing registers the SDK. */
export const tracer = trace.getTracer('waxseal');

let on = false;

/** Whether spans are recorded: the hooks skip all their work when not. */
export function tracingOn(): boolean {
  return on;
}

export interface Tracing {
  /** Ends tracing: exports every span still buffered, then stops. */
  shutdown(): Promise<void>;
}

const OFF: Tracing = { shutdown: async () => undefined };

/** One SDK per process: the global registration cannot be shared by two. */
let started: Promise<Tracing> | null = null;

export function startTracing(settings: TraceSettings | undefined): Promise<Tracing> {
  if (!settings) return Promise.resolve(OFF);
  started ??= load(settings);
  return started;
}

async function load(settings: TraceSettings): Promise<Tracing> {
  const [{ BatchSpanProcessor, NodeTracerProvider }, { OTLPTraceExporter }, resources] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  // OTEL_RESOURCE_ATTRIBUTES are honoured; OTEL_SERVICE_NAME (default waxseal) names the service.
  const resource = resources
    .defaultResource()
    .merge(resources.detectResources({ detectors: [resources.envDetector] }))
    .merge(resources.resourceFromAttributes({ 'service.name': settings.serviceName }));
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.url }))],
  });
  provider.register();
  on = true;
  return {
    shutdown: async () => {
      on = false;
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
      started = null;
    },
  };
}
