// Runs the graphql-http server audits (the GraphQL-over-HTTP spec's
// conformance checks) against a live gqlauth and prints one JSON array of
// results: {id, name, status, reason?, httpStatus?}. internal/e2e runs it.
//
//   node audit.mjs http://127.0.0.1:8080/graphql
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs GRAPHQL_URL');
  process.exit(2);
}

const results = [];
for (const audit of serverAudits({ url, fetchFn: fetch })) {
  const r = await audit.fn();
  const out = { id: r.id, name: r.name, status: r.status };
  if (r.status !== 'ok') {
    out.reason = r.reason;
    out.httpStatus = r.response?.status;
  }
  results.push(out);
}
console.log(JSON.stringify(results, null, 2));
