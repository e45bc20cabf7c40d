"""Prometheus figures of the trainer, named like the Node gpu worker's (common/metric-names.ts)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, start_http_server

SAMPLES_PER_SECOND = Gauge(
    "retrain_training_samples_per_second", "Training throughput, samples per second.", ["model", "kind"]
)
EPOCH = Gauge("retrain_training_epoch", "The last epoch (or boosting round) training finished.", ["model", "kind"])
TRAININGS = Counter("retrain_py_trainings_total", "Trainings the Python worker ended, by outcome.", ["kind", "outcome"])


def serve_metrics(host: str, port: int) -> None:
    """Serves /metrics on host:port in a daemon thread; port 0 serves nothing."""
    if port != 0:
        start_http_server(port, addr=host)
