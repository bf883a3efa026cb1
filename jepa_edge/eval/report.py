"""Evaluation results as a table (rich), JSON and one PNG."""
from __future__ import annotations

from pathlib import Path

from jepa_edge.utils.files import atomic_write_json


def rows(results: dict) -> list[tuple[str, str, str]]:
    """(group, metric, value) rows for the table."""
    out = []
    for target, kinds in results.get("probes", {}).items():
        for kind, r in kinds.items():
            # More weights than rows reads low: R² of a patch probe still grows with --probe-clips.
            size = f", {r['features']} features / {r['n']} rows" if "features" in r else ""
            cover = f" (token coverage R² {r['coverage_r2']:.3f})" if "coverage_r2" in r else ""
            out.append(("probe R²", f"{target} ({kind}{size})", f"{r['r2']:.3f}{cover}"))
    for target, r in results.get("probes_pixels", {}).items():
        out.append(("probe R²", f"{target} (raw 16x16 pixels: the floor)", f"{r['r2']:.3f}"))
    phys = results.get("physics", {})
    for kind, r in phys.items():
        if isinstance(r, dict):
            out.append(("physics", f"{kind}: relative accuracy / AUROC", f"{r['relative_accuracy']:.3f} / {r['auroc']:.3f}"))
    if "mean_relative_accuracy" in phys:
        out.append(("physics", f"mean relative accuracy ({', '.join(phys['mean_of'])})", f"{phys['mean_relative_accuracy']:.3f}"))
    for k, v in results.get("agreement", {}).items():
        out.append(("agreement", k, f"{v:.3f}"))
    for h, r in results.get("rollout", {}).items():
        if isinstance(r, dict):
            out.append(("AC rollout L1", f"{h} step(s): AC / copy-last", f"{r['ac_l1']:.4f} / {r['copy_last_l1']:.4f}"))
    plan = results.get("plannability")
    if plan:
        for name, scores in (("L1", plan), ("smoothed L1", plan.get("l1_smooth"))):
            if not scores:  # eval.json files written before the smoothed energy existed
                continue
            what = f"plannability, {name}"
            out.append((what, f"energy vs distance to goal (Spearman, {plan['episodes']} reach episodes)", f"{scores['spearman']:.3f}"))
            out.append((what, "goal recognised: energy minimum within reach radius", f"{scores['argmin_hit']:.2f}"))
            for reach, hit in scores["descent_hit"].items():
                out.append((what, f"goal reached by greedy descent, lookahead {reach}", f"{hit:.2f}"))
    for what, why in results.get("skipped", {}).items():
        out.append(("skipped", what, why))
    return out


def print_table(results: dict, title: str = "jepa-edge eval") -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title)
    for col in ("group", "metric", "value"):
        table.add_column(col)
    for r in rows(results):
        table.add_row(*(escape(c) for c in r))
    Console().print(table)


def plot(results: dict, png_path: str | Path, title: str = "jepa-edge eval") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p for p in ("probes", "physics", "rollout") if p in results]
    if not panels:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "probes":
            labels, vals = [], []
            for target, kinds in results["probes"].items():
                for kind, r in kinds.items():
                    labels.append(f"{target}\n{kind}")
                    vals.append(r["r2"])
            ax.bar(labels, vals, color="tab:blue")
            ax.set_ylim(min(0.0, min(vals)), 1.0)
            ax.set_title("probe R² (held-out clips)")
        elif panel == "physics":
            kinds = [k for k, v in results["physics"].items() if isinstance(v, dict)]
            x = range(len(kinds))
            ax.bar([i - 0.2 for i in x], [results["physics"][k]["relative_accuracy"] for k in kinds], 0.4, label="rel. acc.")
            ax.bar([i + 0.2 for i in x], [results["physics"][k]["auroc"] for k in kinds], 0.4, label="AUROC")
            ax.axhline(0.5, color="grey", lw=0.8, ls="--")
            ax.set_xticks(list(x), kinds)
            ax.set_ylim(0, 1)
            ax.legend(fontsize=8)
            ax.set_title("violation of expectation")
        else:
            hs = [h for h, v in results["rollout"].items() if isinstance(v, dict)]
            ax.plot(hs, [results["rollout"][h]["ac_l1"] for h in hs], "o-", label="AC predictor")
            ax.plot(hs, [results["rollout"][h]["copy_last_l1"] for h in hs], "s--", label="copy last")
            ax.set_xlabel("horizon (steps)")
            ax.set_title("latent rollout L1")
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    png_path = Path(png_path)
    tmp = png_path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(png_path)


def write_report(results: dict, out_dir: str | Path, title: str = "jepa-edge eval") -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / "eval.json", results)
    plot(results, out_dir / "eval.png", title)
    return {"json": str(out_dir / "eval.json"), "png": str(out_dir / "eval.png")}
