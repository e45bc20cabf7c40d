import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { WorkerMetric } from '../../common/metric-names';

const DEPLOY = path.join(__dirname, '..', '..', 'deploy');

/** The inference server's own series (serving/metrics.ts). */
const SERVING_SERIES = [
  'retrain_predict_requests_total',
  'retrain_predict_duration_seconds',
  'retrain_reloads_total',
  'retrain_model_version_info',
  'retrain_ingest_rows_total',
];

interface Panel {
  title: string;
  type: string;
  datasource?: { uid: string };
  targets?: { expr: string }[];
}

describe('deploy/ for Prometheus and Grafana', () => {
  it('scrapes the compose services: cpu-worker:9464, gpu-worker:9465 and serving:8000', () => {
    const config = fs.readFileSync(path.join(DEPLOY, 'prometheus.yml'), 'utf8');
    for (const target of ['cpu-worker:9464', 'gpu-worker:9465', 'serving:8000'])
      expect(config).toContain(`'${target}'`);
  });

  it("the dashboard queries only retrain's documented series, on the provisioned datasource", () => {
    const dashboard = JSON.parse(
      fs.readFileSync(path.join(DEPLOY, 'grafana', 'retrain', 'pipeline.json'), 'utf8'),
    ) as { uid: string; panels: Panel[] };
    const datasource = fs.readFileSync(
      path.join(DEPLOY, 'grafana', 'provisioning', 'datasources', 'prometheus.yml'),
      'utf8',
    );
    expect(datasource).toContain('uid: prometheus');
    const known = new Set<string>([...Object.values(WorkerMetric), ...SERVING_SERIES]);
    const queried = new Set<string>();
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      expect(panel.datasource?.uid, panel.title).toBe('prometheus');
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const { expr } of panel.targets ?? []) {
        const names = [...expr.matchAll(/\b(retrain_[a-z_]+?)(?:_bucket)?\{/g)].map((m) => m[1] as string);
        expect(names.length, expr).toBeGreaterThan(0);
        for (const name of names) {
          expect(known, `${panel.title}: ${name}`).toContain(name);
          queried.add(name);
        }
      }
    }
    // Every series has a panel.
    expect([...known].filter((name) => !queried.has(name))).toEqual([]);
  });
});
