import http from 'node:http';
import { once } from 'node:events';
import type { Registry } from 'prom-client';

/** Serves `registry` at `http://<host>:<port>/metrics` (Prometheus); resolves once it listens. */
export async function serveMetrics(registry: Registry, port: number, host: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    void registry.metrics().then((text) => {
      res.writeHead(200, { 'content-type': registry.contentType }).end(text);
    });
  });
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}
