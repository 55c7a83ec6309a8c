/**
 * Powertools in the test tiers that call handlers in-process: no X-Ray (no Lambda segment here),
 * and no EMF lines or Powertools log lines on jest's output (tests use a recording logger and
 * metrics port; tests/unit/observability.test.ts captures Powertools' own output on purpose).
 */
process.env.POWERTOOLS_TRACE_ENABLED ??= 'false';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
