// Exports spans with the OpenTelemetry JS SDK's OTLP/HTTP (protobuf) exporter, unchanged.
// Usage: node export_spans.cjs URL SERVICE_NAME COUNT
// Prints the export result code (0: success) and exits non-zero on failure.
"use strict";
const { diag, DiagConsoleLogger, DiagLogLevel } = require("@opentelemetry/api");
const { OTLPTraceExporter } = require("@opentelemetry/exporter-trace-otlp-proto");
const { resourceFromAttributes } = require("@opentelemetry/resources");
const {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
} = require("@opentelemetry/sdk-trace");

diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN); // partial success, errors

const [url, serviceName, count] = process.argv.slice(2);
const finished = new InMemorySpanExporter();
const provider = new TracerProvider({
  resource: resourceFromAttributes({ "service.name": serviceName }),
  spanProcessors: [new SimpleSpanProcessor({ exporter: finished })],
});
const tracer = provider.getTracer("js-tests");
for (let i = 0; i < Number(count); i++) {
  const span = tracer.startSpan("inference", { kind: 1 /* SERVER */ });
  span.setAttribute("parallax.feature", "fraud-scoring");
  span.setAttribute("parallax.input.fingerprint", `js-${i}`);
  span.end();
}
const spans = finished.getFinishedSpans();
if (spans.length !== Number(count)) {
  console.error(`made ${spans.length} spans, not ${count}`);
  process.exit(2);
}
const exporter = new OTLPTraceExporter({ url, compression: "gzip" });
exporter.export(spans, (result) => {
  console.log(JSON.stringify({ code: result.code, error: String(result.error || "") }));
  exporter.shutdown().then(() => process.exit(result.code === 0 ? 0 : 1));
});
