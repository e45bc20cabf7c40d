"""gpu-check, the verdict: one table from the benches' JSON rows, and the exit status.

Standard library only (runs with any python3). Reads <dir>/python.json, <dir>/tfjs-cpu.json,
<dir>/tfjs-gpu.json and libtensorflow's log <dir>/tfjs-gpu.log; prints the table, writes it as
Markdown to <dir>/table.md and every row to <dir>/results.json. Exit status 0 only when PyTorch,
XGBoost and TensorFlow.js each trained on the GPU by their own account; 1 otherwise, naming each
framework that fell back to the CPU, cannot see the GPU, or is not installed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

FRAMEWORKS = ("torch", "xgboost", "tfjs")
GPU_ASKED = {"torch": "cuda", "xgboost": "cuda", "tfjs": "tensorflow-gpu"}
CPU_ASKED = {"torch": "cpu", "xgboost": "cpu", "tfjs": "tensorflow"}
ASKED_LABEL = {
    ("torch", "cuda"): "gpu: device cuda",
    ("torch", "cpu"): "cpu: device cpu",
    ("xgboost", "cuda"): "gpu: device=cuda",
    ("xgboost", "cpu"): "cpu: device=cpu",
    ("tfjs", "tensorflow-gpu"): "gpu: tensorflow-gpu",
    ("tfjs", "tensorflow"): "cpu: tensorflow",
}


def load(path: Path, framework: str, asked: list[str], missing: str) -> list[dict[str, Any]]:
    try:
        rows = json.loads(path.read_text())
        return [r for r in rows if r.get("framework") == framework]
    except (OSError, ValueError):
        return [{"framework": framework, "asked": a, "on_gpu": None, "rate": None, "error": missing} for a in asked]


def tf_log_evidence(log: Path) -> tuple[str | None, str | None]:
    """libtensorflow's own words: the GPU device it created, or why it created none."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return None, None
    created = re.findall(r"Created device (\S+) with (\d+) MB memory:\s*->\s*(.*?)(?:\n|$)", text)
    device = "; ".join(f"{name} ({detail.strip()})" for name, _mb, detail in created) or None
    why = [
        m.group(0).strip()
        for m in re.finditer(
            r"(Could not load dynamic library '[^']+'|failed call to cuInit: [^\n]*"
            r"|Cannot dlopen some GPU libraries[^\n]*|kernel driver does not appear to be running[^\n]*"
            r"|Ignoring visible gpu device[^\n]*|CUDA_ERROR_[A-Z_]+)",
            text,
        )
    ]
    return device, "; ".join(dict.fromkeys(why))[:400] or None


def fmt_rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:,.0f}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--machine", default="", help="one line about the machine, printed above the table")
    a = p.parse_args()
    d: Path = a.dir
    rows = load(d / "python.json", "torch", ["cuda", "cpu"], "the Python bench wrote nothing (see python.log)")
    rows += load(d / "python.json", "xgboost", ["cuda", "cpu"], "the Python bench wrote nothing (see python.log)")
    rows += load(d / "tfjs-gpu.json", "tfjs", ["tensorflow-gpu"], "the tfjs bench wrote nothing (see tfjs-gpu.log)")
    rows += load(d / "tfjs-cpu.json", "tfjs", ["tensorflow"], "the tfjs bench wrote nothing (see tfjs-cpu.log)")

    device, why = tf_log_evidence(d / "tfjs-gpu.log")
    for r in rows:
        if r["framework"] == "tfjs" and r["asked"] == "tensorflow-gpu":
            if device and r.get("on_gpu"):
                r["used"] = f"{r.get('used')}; libtensorflow: {device}"
            if why and not r.get("on_gpu"):
                r["note"] = why

    failures: list[str] = []
    table: list[list[str]] = []
    for fw in FRAMEWORKS:
        gpu = next((r for r in rows if r["framework"] == fw and r["asked"] == GPU_ASKED[fw]), None)
        cpu = next((r for r in rows if r["framework"] == fw and r["asked"] == CPU_ASKED[fw]), None)
        for r in [leg for leg in (gpu, cpu) if leg is not None]:
            is_gpu_row = r is gpu
            # GPU only on the framework's own word; anything else is not a GPU run.
            on_gpu = r.get("on_gpu") is True
            if is_gpu_row:
                if on_gpu:
                    verdict = "GPU"
                elif r.get("rate") is not None:
                    verdict = "FELL BACK TO CPU"
                elif r.get("on_gpu") is False:
                    verdict = "NO GPU"
                else:
                    verdict = "NOT RUN"
            else:
                verdict = "cpu" if r.get("rate") is not None else "NOT RUN"
            ratio = "-"
            if is_gpu_row and on_gpu and cpu and cpu.get("rate") and r.get("rate"):
                ratio = f"{r['rate'] / cpu['rate']:.2f}x"
            used = r.get("used") or (f"- ({r['error']})" if r.get("error") else "-")
            table.append(
                [
                    fw,
                    ASKED_LABEL.get((fw, r["asked"]), r["asked"]),
                    used,
                    fmt_rate(r.get("rate")),
                    r.get("unit") or "",
                    ratio,
                    verdict,
                ]
            )
        if gpu is None or gpu.get("on_gpu") is not True:
            reason = (gpu or {}).get("error") or "no GPU run"
            if gpu and gpu.get("note"):
                reason += f" ({gpu['note']})"
            failures.append(f"{fw}: {reason}")

    headers = [
        "framework",
        "device asked",
        "device used (as the framework reports it)",
        "rate",
        "unit",
        "GPU/CPU",
        "verdict",
    ]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
    widths[2] = min(widths[2], 90)

    def line(cells: list[str]) -> str:
        out = []
        for i, c in enumerate(cells):
            c = c if len(c) <= widths[i] else c[: widths[i] - 3] + "..."
            out.append(c.rjust(widths[i]) if i in (3, 5) else c.ljust(widths[i]))
        return "  ".join(out).rstrip()

    print()
    if a.machine:
        print(a.machine)
    versions = {f"{r['framework']} {r['version']}" for r in rows if r.get("version")}
    if versions:
        print("versions: " + "; ".join(sorted(versions)))
    print(line(headers))
    print(line(["-" * w for w in widths]))
    for row in table:
        print(line(row))
    work = [f"{r['framework']} {r['asked']}: {r['work']}" for r in rows if r.get("work")]
    notes = [f"{r['framework']} {r['asked']}: {r['note']}" for r in rows if r.get("note")]
    for title, items in (("work", work), ("notes", notes)):
        if items:
            print(f"{title}:")
            for item in items:
                print(f"  {item}")

    md = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    md += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in table]
    (d / "table.md").write_text((a.machine + "\n\n" if a.machine else "") + "\n".join(md) + "\n")
    (d / "results.json").write_text(json.dumps(rows, indent=1))

    if failures:
        print("\ngpu-check: FAILED, not on the GPU: " + ", ".join(f.split(":")[0] for f in failures))
        for f in failures:
            print(f"  {f}")
        return 1
    print("\ngpu-check: OK, torch, xgboost and tfjs all trained on the GPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
