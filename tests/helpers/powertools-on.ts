/**
 * Imported first by a test that captures Powertools' own output: Powertools as it runs in Lambda
 * (log lines at INFO, metrics published as EMF, tracing on). Its objects are made when a handler
 * module is imported, so this must run before any handler import.
 */
process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
process.env.POWERTOOLS_METRICS_DISABLED = 'false';
process.env.POWERTOOLS_TRACE_ENABLED = 'true';
process.env.AWS_EXECUTION_ENV = 'AWS_Lambda_nodejs22.x';
// The X-Ray SDK's Lambda mode (the facade segment from _X_AMZN_TRACE_ID), chosen when it loads.
process.env.LAMBDA_TASK_ROOT = '/var/task';
