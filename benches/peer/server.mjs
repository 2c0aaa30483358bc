// Benchmark peer: Ory Polis (npm @boxyhq/saml-jackson) directory sync, served as
// plain SCIM v2 over node:http with the library's in-memory store.
// Prints one JSON line {addr,path,token,version} on stdout once listening.
import http from 'node:http';
import { createRequire } from 'node:module';
import polis from '@boxyhq/saml-jackson'; // CommonJS package: default import is module.exports

const require = createRequire(import.meta.url);
const { version } = require('@boxyhq/saml-jackson/package.json');

const noop = () => {};

const { directorySyncController: dsync, close } = await polis.controllers({
  // Required by the option parser; SAML/OAuth routes are never served here.
  externalUrl: 'http://127.0.0.1',
  samlPath: '/api/oauth/saml',
  scimPath: '/scim/v2',
  db: { engine: 'mem' }, // no persistence
  noAnalytics: true, // no mixpanel calls or startup banner
  // Keep stdout for the single JSON line; errors still reach stderr.
  logger: { info: noop, warn: noop, error: (msg, err) => console.error(msg, err ?? '') },
  // Embedded-mode event callback: replaces the internal webhook sender, which would
  // look up the directory and log "Webhook not configured" on every write. A no-op
  // means no webhooks and no event log, matching our runner's --in-memory mode.
  dsync: { callback: async () => {} },
});

const { data: directory, error } = await dsync.directories.create({
  tenant: 'bench',
  product: 'bench',
  name: 'bench',
  type: 'generic-scim-v2',
});
if (error) throw new Error(`directory create failed: ${error.message}`);

// /scim/v2/<directoryId>/<Users|Groups>[/<id>]
const ROUTE = /^\/scim\/v2\/([^/]+)\/(Users|Groups)(?:\/([^/]+))?\/?$/;

function send(res, status, data) {
  // 204 (DELETE) must not carry a body.
  const body = status === 204 || data === undefined ? '' : JSON.stringify(data);
  res.writeHead(status, { 'content-type': 'application/scim+json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://x');
  const m = ROUTE.exec(url.pathname);
  if (!m) return send(res, 404, { detail: 'not found' });

  const chunks = [];
  for await (const c of req) chunks.push(c);
  let body;
  if (chunks.length) {
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return send(res, 400, { schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '400', detail: 'invalid JSON' });
    }
  }

  const auth = req.headers.authorization ?? '';
  const q = url.searchParams;
  // The library compares apiSecret with the directory's scim.secret itself (401 on mismatch).
  const { status, data } = await dsync.requests.handle({
    method: req.method,
    body,
    directoryId: decodeURIComponent(m[1]),
    resourceType: m[2].toLowerCase(),
    resourceId: m[3] ? decodeURIComponent(m[3]) : undefined,
    apiSecret: auth.startsWith('Bearer ') ? auth.slice(7) : null,
    query: {
      count: q.has('count') ? Number(q.get('count')) : undefined,
      startIndex: q.has('startIndex') ? Number(q.get('startIndex')) : undefined,
      filter: q.get('filter') ?? undefined,
    },
  });
  send(res, status, data);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error(err);
    if (!res.headersSent) send(res, 500, { detail: String(err?.message ?? err) });
  });
});
server.keepAliveTimeout = 60_000; // load generators reuse connections

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const { address, port } = server.address();
  console.log(
    JSON.stringify({
      addr: `${address}:${port}`,
      path: `/scim/v2/${directory.id}/Users`,
      token: directory.scim.secret,
      version,
    }),
  );
});

// Clean exit on SIGTERM/SIGINT; process.exit also clears the mem store's TTL timers.
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => {
    server.close();
    server.closeAllConnections();
    close().finally(() => process.exit(0));
  });
}
