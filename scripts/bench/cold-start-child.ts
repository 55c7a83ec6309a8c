/**
 * A cold start, in a fresh process: load one function's bundle, then serve one request; both timed
 * from inside. `node cold-start-child.js <bundle> <event json>`; prints {"loadMs","firstMs","status"}.
 */
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';

type Lambda = (event: APIGatewayProxyEventV2, context: Context) => Promise<{ statusCode: number }>;

const [bundle, eventJson] = process.argv.slice(2) as [string, string];
const t0 = performance.now();
const { handler } = require(bundle) as { handler: Lambda };
const t1 = performance.now();
handler(JSON.parse(eventJson) as APIGatewayProxyEventV2, { awsRequestId: 'cold' } as Context).then(
  (response) => {
    process.stdout.write(
      `\n${JSON.stringify({ loadMs: t1 - t0, firstMs: performance.now() - t1, status: response.statusCode })}\n`,
    );
    process.exit(0);
  },
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  },
);
