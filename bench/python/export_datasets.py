"""Writes the real tabular datasets scikit-learn ships (no download) as CSV for bench/quality.ts.

`export_datasets.py <dir>` writes `<dir>/breast_cancer.csv` (569 tumours, 30 features, `malignant` 1/0)
and `<dir>/diabetes.csv` (442 patients, 10 features, `progression` a year later, unscaled), and prints
`{"<name>": {"file", "rows", "features", "target"}}` as one JSON line.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from sklearn.datasets import load_breast_cancer, load_diabetes


def column(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    described = {}
    cancer = load_breast_cancer(as_frame=True).frame
    cancer.columns = [column(c) for c in cancer.columns]
    # scikit-learn's target is 0 = malignant, 1 = benign: the label here is the finding, malignant = 1.
    cancer["malignant"] = 1 - cancer.pop("target")
    diabetes = load_diabetes(as_frame=True, scaled=False).frame
    diabetes = diabetes.rename(columns={"target": "progression"})
    for name, frame, target in (
        ("breast_cancer", cancer, "malignant"),
        ("diabetes", diabetes, "progression"),
    ):
        file = out / f"{name}.csv"
        frame.to_csv(file, index=False)
        features = [c for c in frame.columns if c != target]
        described[name] = {
            "file": str(file),
            "rows": len(frame),
            "features": features,
            "target": target,
        }
    print(json.dumps(described))


if __name__ == "__main__":
    main()
