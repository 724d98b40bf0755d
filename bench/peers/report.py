"""The RESULTS.md section and the two PNGs of a peer benchmark run, from the per-system
results ``measure.py`` wrote."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TARGETS = (0.95, 0.99)


def best_at(result: dict, target: float) -> dict | None:
    """The fastest sweep point with recall@10 ≥ ``target``."""
    ok = [s for s in result["sweep"] if s["recall"] >= target]
    return max(ok, key=lambda s: s["qps"]) if ok else None


def _best_cell(result: dict, target: float) -> str:
    s = best_at(result, target)
    if s is None:
        return f"not reached (max {max(p['recall'] for p in result['sweep']):.3f})"
    return f"{s['qps']:,.0f} QPS, p50 {s['p50_ms']:.2f} / p99 {s['p99_ms']:.2f} ms ({s['knob']}, R {s['recall']:.3f})"


def _filtered_cell(f: dict) -> str:
    short = f" (returns {f['returned_per_query']:.1f}/10)" if f["returned_per_query"] < 9.95 else ""
    return f"R {f['recall']:.3f}{short}, p50 {f['p50_ms']:.2f} / p99 {f['p99_ms']:.2f} ms"


def _memory_cell(m: dict) -> str:
    serving = f", {m['serving_mb']:,.0f} while serving" if "serving_mb" in m else ""
    if m["kind"] == "server PSS":
        return f"{m['peak_mb']:,.0f} MiB peak{serving} (server PSS)"
    return f"{m['peak_mb']:,.0f} MiB peak{serving} (process RSS; {m['baseline_mb']:,.0f} before start)"


def plot_recall_qps(results: list[dict], path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(8, 5))
    for r in results:
        pts = sorted(r["sweep"], key=lambda s: s["recall"])
        ax.plot([s["recall"] for s in pts], [s["qps"] for s in pts], marker="o", label=r["system"])
    for t in TARGETS:
        ax.axvline(t, color="grey", linestyle=":", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("recall@10 (vs exact brute force)")
    ax.set_ylabel("queries per second (1 client, sequential)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency(results: list[dict], path: Path, title: str) -> None:
    """p50 / p90 / p99 per system at its filter knob: unfiltered, 10% and 1% filters."""
    passes = [("unfiltered", None), ("10% filter", "10%"), ("1% filter", "1%")]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.5), sharey=True)
    names = [r["system"].split(" (")[0] for r in results]
    for ax, (label, key) in zip(axes, passes):
        for j, pct in enumerate(("p50_ms", "p90_ms", "p99_ms")):
            vals = []
            for r in results:
                point = next(s for s in r["sweep"] if s["knob"] == r["filter_knob"]) if key is None else r["filtered"][key]
                vals.append(point[pct])
            ax.bar([i + (j - 1) * 0.27 for i in range(len(results))], vals, width=0.27, label=pct[:3])
        ax.set_xticks(range(len(results)), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(label, fontsize=9)
        ax.set_yscale("log")
        ax.grid(True, axis="y", which="both", alpha=0.3)
    axes[0].set_ylabel("latency per query, ms (log)")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{title}\nlatency per query at each system's filter knob", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def section(*, heading: str, preamble: list[str], results: list[dict], failures: dict[str, str],
            plots: tuple[str, str]) -> str:
    lines = [f"\n## {heading}", *preamble, "",
             "| system | ingest | time until queryable | best QPS at recall@10 ≥ 0.95 | best QPS at recall@10 ≥ 0.99 "
             "| filter 1% | filter 10% | memory |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['system']} | {r['ingest_per_s']:,.0f} records/s ({r['ingest_s']:.1f} s) | {r['queryable_s']:.1f} s "
            f"| {_best_cell(r, 0.95)} | {_best_cell(r, 0.99)} | {_filtered_cell(r['filtered']['1%'])} "
            f"| {_filtered_cell(r['filtered']['10%'])} | {_memory_cell(r['memory'])} |")
    for name, err in failures.items():
        lines.append(f"| {name} | failed: {err} | | | | | | |")
    rounds = max(r.get("rounds", 1) for r in results)
    if rounds > 1:
        lines += ["", f"Every sweep point (1 client, sequential, all queries per pass; {rounds} rounds, round-robin: "
                      "QPS and latencies are the medians of a point's passes, every pass's QPS in the last column, "
                      "in round order):", "",
                  "| system | knob | recall@10 | QPS | p50 ms | p90 ms | p99 ms | QPS of each pass |",
                  "|---|---|---|---|---|---|---|---|"]
    else:
        lines += ["", "Every sweep point (1 client, sequential, all queries per point):", "",
                  "| system | knob | recall@10 | QPS | p50 ms | p90 ms | p99 ms |", "|---|---|---|---|---|---|---|"]
    for r in results:
        for s in r["sweep"]:
            passes = f" {' / '.join(f'{q:,.0f}' for q in s.get('qps_rounds', [s['qps']]))} |" if rounds > 1 else ""
            lines.append(f"| {r['system']} | {s['knob']} | {s['recall']:.4f} | {s['qps']:,.0f} | {s['p50_ms']:.2f} "
                         f"| {s['p90_ms']:.2f} | {s['p99_ms']:.2f} |{passes}")
    for r in results:
        for knob, err in r.get("failed_knobs", {}).items():
            lines.append(f"| {r['system']} | {knob} | failed: {err} | | | | |{' |' if rounds > 1 else ''}")
    lines += ["", "Configuration and versions:", ""]
    for r in results:
        notes = "; ".join(r["setup"]["notes"])
        versions = ", ".join(f"{k} {v}" for k, v in r["versions"].items())
        lines.append(f"- **{r['system']}**: {r['setup']['index']}{'; ' + notes if notes else ''}. "
                     f"Filtered queries at {r['filter_knob']}. Versions: {versions}.")
    lines += ["", f"![recall–QPS]({plots[0]})", "",
              "Recall–QPS: every sweep point of each system (log scale; dotted lines at recall 0.95 and 0.99).", "",
              f"![latency percentiles]({plots[1]})", "",
              "Latency: p50 / p90 / p99 per query, each system at the knob used for its filtered queries.", ""]
    return "\n".join(lines)
