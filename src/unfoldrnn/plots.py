"""Figures, saved as PNG (or, with path None, returned open for a notebook or a gallery):
learning curves, reconstructions, learned activations, bounds."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from .bounds import unfolding_rademacher  # noqa: E402
from .prox import prox_l1l1, soft_threshold  # noqa: E402


def _save(fig, path: Path | None):
    """Save the figure as PNG at ``path`` and close it; with ``path`` None return the open
    figure instead (a notebook or a gallery shows it)."""
    fig.tight_layout()
    if path is None:
        return fig
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def learning_curves(history: list[dict], path: Path, title: str = "",
                    loss_range: float | None = None) -> Path:
    """Train / validation loss and the task's metric per epoch (paper 001 Figs. 3-6), and the
    Rademacher bound where it was tracked, judged against ``loss_range`` (the eta of the
    task's bounded loss, ``Task.loss_range``): eq. 14's gap is at least 2 R_S, so the bound
    says nothing once 2 R_S >= eta. The metric is the one the rows hold (val_psnr, ...)."""
    from matplotlib.ticker import MaxNLocator

    epochs = [r["epoch"] for r in history]
    metric = next(k[4:] for k in history[0] if k.startswith("val_") and k != "val_loss")
    fig, axes = plt.subplots(1, 3 if "rademacher_bound" in history[0] else 2,
                             figsize=(12, 3.5))
    style = {"marker": "o", "ms": 4} if len(epochs) < 20 else {}  # one epoch: one dot
    axes[0].plot(epochs, [r["train_loss"] for r in history], label="train", **style)
    axes[0].plot(epochs, [r["val_loss"] for r in history], label="validation", **style)
    axes[0].set(xlabel="epoch", ylabel="loss", yscale="log", title=title)
    axes[0].legend()
    if f"train_{metric}" in history[0]:
        axes[1].plot(epochs, [r[f"train_{metric}"] for r in history], color="C0",
                     label="train", **style)
    axes[1].plot(epochs, [r[f"val_{metric}"] for r in history], color="C2",
                 label="validation", **style)
    axes[1].set(xlabel="epoch", ylabel={"psnr": "PSNR [dB]"}.get(metric, metric))
    axes[1].legend()
    if len(axes) == 3:
        bounds = [r["rademacher_bound"] for r in history]
        axes[2].plot(epochs, bounds, color="C3", **style)
        vacuous = loss_range is not None and 2 * min(bounds) >= loss_range
        axes[2].set(xlabel="epoch", ylabel="R_S bound (paper 000 eq. 15)", yscale="log",
                    title=f"vacuous: 2 R_S > {loss_range:.3g}, the range\nof the bounded "
                    "loss (eq. 14)" if vacuous else "R_S bound")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _save(fig, path)


def confusion(counts: torch.Tensor, classes, path: Path, title: str = "") -> Path:
    """Confusion matrix: rows the true class, columns the predicted one (row-normalised)."""
    rates = counts.double() / counts.sum(1, keepdim=True).clamp(min=1)
    k = len(classes)
    # at least 5 x 4 inches: a few classes still make a figure, not a thumbnail
    fig, ax = plt.subplots(figsize=(max(0.45 * k + 2.5, 5), max(0.45 * k + 2, 4)))
    image = ax.imshow(rates.numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), classes, rotation=90)
    ax.set_yticks(range(k), classes)
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if rates[i, j] > 0.5 else "black")
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _save(fig, path)


def reconstructions(truth: torch.Tensor, estimates: dict[str, torch.Tensor], path: Path,
                    frame_size: int | tuple[int, int] | None = 16, title: str = "") -> Path:
    """Every frame of one sequence [T, n0]: the ground truth on top, then each model's
    reconstruction with its PSNR per frame (10 log10(1 / MSE), pixels in [0, 1]). Frames
    are ``frame_size`` squares or (H, W) images; None: 1-D signals, drawn as one strip per
    row (time across, the n0 values down)."""
    from .metrics import psnr

    if frame_size is None:
        return _signal_strips(truth, estimates, path, title)
    shape = (frame_size, frame_size) if isinstance(frame_size, int) else tuple(frame_size)
    T = truth.shape[0]
    rows = [("ground truth", truth, None)]
    for name, seq in estimates.items():
        seq = seq.clamp(0, 1)
        per_frame = [float(psnr(seq[t:t + 1, None], truth[t:t + 1, None])) for t in range(T)]
        rows.append((name, seq, per_frame))
    fig, axes = plt.subplots(len(rows), T, figsize=(0.9 * T, 1.25 * len(rows) + 0.4),
                             squeeze=False)
    for r, (name, seq, per_frame) in enumerate(rows):
        for t in range(T):
            ax = axes[r, t]
            ax.imshow(seq[t].reshape(shape).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if per_frame is not None:
                ax.set_xlabel(f"{per_frame[t]:.1f}", fontsize=6, labelpad=1)
            elif r == 0:
                ax.set_title(f"t={t + 1}", fontsize=7)
        label = name if per_frame is None else f"{name}\n{sum(per_frame) / T:.2f} dB"
        axes[r, 0].set_ylabel(label, fontsize=7)
    fig.suptitle(title or "reconstructions (numbers: PSNR per frame, dB)", fontsize=9)
    return _save(fig, path)


def _signal_strips(truth, estimates, path: Path, title: str) -> Path:
    """1-D signals [T, n0]: one image per row, time across."""
    from .metrics import psnr

    rows = [("ground truth", truth)] + [(name, seq.clamp(0, 1)) for name, seq in
                                         estimates.items()]
    fig, axes = plt.subplots(len(rows), 1, figsize=(8, 1.4 * len(rows) + 0.4), squeeze=False)
    for ax, (name, seq) in zip(axes[:, 0], rows, strict=True):
        ax.imshow(seq.T.cpu().numpy(), cmap="gray", vmin=0, vmax=1, aspect="auto")
        label = name if seq is truth else f"{name}\n{float(psnr(seq, truth)):.2f} dB"
        ax.set(yticks=[], ylabel=label)
    axes[-1, 0].set_xlabel("t")
    fig.suptitle(title or "reconstructions (PSNR over the sequence)", fontsize=9)
    return _save(fig, path)


@torch.no_grad()
def activations(model, path: Path, units: int = 4) -> Path:
    """The learned activation functions of a few units per layer (paper 001 Fig. 1).

    reweighted-RNN / l1-l1-RNN: Phi_{a,b,s}(u) = argmin_v a|v| + b|v - s| + (v - u)^2 / 2 with
    the unit's learned a = lambda1 g_l / c, b = lambda2 g_l / c, drawn against the
    pre-activation u for a side information s = (P h_{t-1})_k placed at 3 max(a + b) over the
    drawn units: the two plateaus, v = 0 (width 2a) and v = s (width 2b), both show.
    Sista-RNN: its soft threshold."""
    sista = not hasattr(model, "thresholds")
    layers = 1 if sista else model.num_layers
    fig, axes = plt.subplots(1, layers, figsize=(3.6 * layers, 3.4), squeeze=False)
    for layer in range(layers):
        ax = axes[0, layer]
        if sista:
            thr = float(model.lambda1 / model.alpha)
            u = torch.linspace(-4 * thr, 4 * thr, 401)
            ax.plot(u.numpy(), soft_threshold(u, thr).numpy(), label="all units")
        else:
            a, b = (t[layer, :units] for t in model.thresholds())
            scale = float((a + b).max())
            side = 3 * scale
            u = torch.linspace(-2 * scale, side + 3 * scale, 801)
            for k in range(len(a)):  # dashes of their own: equal units stay visible
                v = prox_l1l1(u, float(a[k]), float(b[k]), side)
                ax.plot(u.numpy(), v.numpy(), color=f"C{k}", lw=2.2 - 0.4 * k,
                        ls=("-", "--", "-.", ":")[k % 4],
                        label=f"unit {k + 1}: a={float(a[k]):.2g}, b={float(b[k]):.2g}")
            ax.axhline(side, color="gray", lw=0.5, ls=":")
        ax.axhline(0, color="gray", lw=0.5)
        ax.set(xlabel="u", ylabel="Phi(u)", title=f"layer {layer + 1}")
        ax.legend(fontsize=6)
    if not sista:
        fig.suptitle("learned activation of each unit: output Phi(u) against its input u, "
                     "for a previous-state value s (dotted);\nflat at 0 for |u| < a and at s "
                     "near u = s (paper 001 Fig. 1)", fontsize=8)
    return _save(fig, path)


def bound_vs_gamma(report, path: Path) -> Path:
    """Bound on the test ramp loss against the margin gamma (paper 000 Fig. 3)."""
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    ax.plot(report.gammas, report.test_ramp_bound, "o-", label="bound on test ramp loss")
    ax.plot(report.gammas, report.train_ramp_loss, "s--", label="train ramp loss")
    best = min(report.test_ramp_bound)
    ax.set(xscale="log", yscale="log", xlabel="gamma", ylabel="loss",
           title=f"tightest bound {best:.3g}" + (" (vacuous: >= 1)" if best >= 1 else ""))
    ax.legend()
    return _save(fig, path)


def bound_vs_T(path: Path, report, T_max: int | None = None) -> Path:
    """The run's own eq. 15 (paper 000 Thm 3.3) against the sequence length T, its norms
    (``report``: a ``certify`` BoundReport of the run) held fixed, beside the T^2 of
    SpectralRNN's and the T of FastRNN's bound (paper 000 Sec. 3.1), all relative to T = 1;
    the run's own T is marked."""
    T_max = T_max or max(100, 2 * report.T)
    Ts = list(range(1, T_max + 1))
    ours = [unfolding_rademacher(report.alphas, report.betas, report.B_x, report.h0_norm,
                                 report.n, report.h, report.m, T) for T in Ts]
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    ax.plot(Ts, [v / ours[0] for v in ours],
            label=f"this run, eq. 15 (Lambda_0 = {report.lambda_0:.3g})")
    ax.plot(Ts, [T ** 2 for T in Ts], label="SpectralRNN-like, T^2")
    ax.plot(Ts, Ts, label="FastRNN-like, T")
    ax.axvline(report.T, color="gray", lw=0.6, ls=":")
    at = ours[report.T - 1]
    ax.set(xscale="log", yscale="log", xlabel="T (dotted: this run's)",
           ylabel="bound / bound at T = 1",
           title=f"R_S bound at T = {report.T}: {at:.3g}")
    ax.legend(fontsize=7)
    return _save(fig, path)


def bound_vs_margin(rows: list[dict], path: Path) -> Path:
    """Paper 000 Fig. 3: per model (rows) and regularisation lambda (columns), the bound on
    the test ramp loss (eq. 18) and the measured train and test ramp losses against gamma."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    lams = list(dict.fromkeys(r["lambda"] for r in rows))
    fig, axes = plt.subplots(len(models), len(lams), figsize=(3.6 * len(lams),
                                                              3.0 * len(models)),
                             squeeze=False, sharex=True)
    for r in rows:
        ax = axes[models.index(r["model"]), lams.index(r["lambda"])]
        ax.plot(r["gammas"], r["bound"], "o-", ms=3, label="bound on test ramp loss (eq. 18)")
        ax.plot(r["gammas"], r["train_ramp"], "s--", ms=3, label="train ramp loss")
        ax.plot(r["gammas"], r["test_ramp"], "^:", ms=3, label="test ramp loss")
        ax.axhline(1, color="gray", lw=0.5)
        ax.set(xscale="log", yscale="log", xlabel="gamma", ylabel="ramp loss")
        ax.set_title(f"{r['model']}, lambda = {r['lambda']}\nmin bound {r['best_bound']:.3g}"
                     + (" (vacuous: > 1)" if r["best_bound"] >= 1 else ""), fontsize=8)
    axes[0, 0].legend(fontsize=6)
    return _save(fig, path)


def certified_sweep(rows: list[dict], path: Path) -> Path:
    """The certified recipe across regularisers: R_S bound, eq. 18 at its best margin and
    the floor no head can beat (left); test accuracy and the sample size at which the
    margins would certify (right)."""
    labels = [f"{r['lambda']:g}" + (f"\n+U {r['lambda_u']:g}" if r["lambda_u"] else "")
              + (f"\n{r['epochs']} ep." if r.get("epochs", 0) != rows[0].get("epochs", 0)
                 else "") for r in rows]
    x = range(len(rows))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    left.plot(x, [r["rademacher"] for r in rows], "o-", label="R_S bound (eq. 15)")
    left.plot(x, [r["least_bound"] for r in rows], "s-", label="least eq. 18 over gamma")
    left.plot(x, [r["head_free_floor"] for r in rows], "^--", label="floor of any head")
    left.axhline(1, color="gray", lw=0.5)
    left.set(yscale="log", xlabel="lambda (+U: lambda_u)", xticks=list(x), xticklabels=labels)
    left.legend(fontsize=7)
    accuracy, = right.plot(x, [r["test_accuracy"] for r in rows], "o-", color="C2",
                           label="test accuracy %")
    right.set(xlabel="lambda (+U: lambda_u)", ylabel="test accuracy %", xticks=list(x),
              xticklabels=labels)
    twin = right.twinx()
    need, = twin.plot(x, [r["sample_size_to_certify"] or float("nan") for r in rows], "s--",
                      color="C3", label="m that would certify")
    handles = [accuracy, need]
    if "sample_size_at_estimate" in rows[0]:
        at, = twin.plot(x, [r["sample_size_at_estimate"] or float("nan") for r in rows], "v:",
                        color="C4", label="... were R_S its Monte-Carlo estimate")
        handles.append(at)
    ours = twin.axhline(rows[0]["m"], color="gray", lw=0.8, label=f"our m = {rows[0]['m']}")
    twin.set(yscale="log", ylabel="training clips")
    right.legend(handles=[*handles, ours], fontsize=7, ncol=2, loc="upper center",
                 bbox_to_anchor=(0.5, -0.22))
    return _save(fig, path)


def noise_experiment(summary: list[dict], lambda_min: float, path: Path) -> Path:
    """Paper 003 Fig. 1: generalization error (mean +- standard error) against the input
    noise sigma, beside Thm 3's factor sqrt(1 / (lambda_min + sigma^2))."""
    sigmas = [s["sigma"] for s in summary]
    fig, ax = plt.subplots(figsize=(4.8, 3.5))
    gap = ax.errorbar(sigmas, [s["mean"] for s in summary],
                      yerr=[s["stderr"] for s in summary], fmt="o-", capsize=3,
                      label="generalization error (mean +- s.e.)")
    ax.set(xlabel="input noise sigma", ylabel="test error - train error (with noise)")
    twin = ax.twinx()
    factor, = twin.plot(sigmas, [s["bound_factor"] for s in summary], "s--", color="C3",
                        label="Thm 3: sqrt(1 / (lambda_min + sigma^2))")
    twin.set(yscale="log", ylabel="Thm 3 factor")
    ax.legend(handles=[gap, factor], fontsize=7, loc="lower left")
    ax.set_title(f"lambda_min(E[xx^T]) = {lambda_min:.2g}", fontsize=9)
    return _save(fig, path)


def section6_bounds(result: dict, path: Path) -> Path:
    """Paper 002 Fig. 4: the four complexity bounds of one trained RNN on a log axis."""
    keys = ("ours", "bound1", "bound2", "bound3")
    labels = ("Thm 2\n(ours)", "Zhang et al.\n(bound 1)", "Thm 3 (3)\n(bound 2)",
              "Thm 3 (4)\n(bound 3)")
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.bar(labels, [result[k] for k in keys], color=["C0", "C1", "C2", "C3"])
    ax.set(yscale="log", ylabel="complexity bound",
           title=f"vanilla RNN, B_U = {result['B_U']:.3g}, t = {result['t']}")
    ax.tick_params(axis="x", labelsize=7)
    return _save(fig, path)


def families(rows: list[dict], path: Path) -> Path:
    """Paper 002 Sec. 5 / Remark 1: each family's bound against the sequence length t (its
    comparison run, seed 0) and against the width (seed 0), log-log, one line per family."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for k, model in enumerate(dict.fromkeys(r["model"] for r in rows)):
        ours = [r for r in rows if r["model"] == model]
        first = min(r["seed"] for r in ours)
        main = next(r for r in ours if r["main"] and r["seed"] == first)
        Ts = sorted(int(t) for t in main["bound_vs_t"])
        axes[0].plot(Ts, [main["bound_vs_t"][t] for t in Ts], "o-", color=f"C{k}",
                     label=model)
        widths = sorted((r["width"], r["bound"]) for r in ours if r["seed"] == first)
        axes[1].plot(*zip(*widths, strict=True), "o-", color=f"C{k}", label=model)
    axes[0].set(xscale="log", yscale="log", xlabel="sequence length t (frames)",
                ylabel="bound (inside O(), + confidence)", title="against t")
    axes[1].set(xscale="log", yscale="log", xlabel="width (d_h; conv RNN: d)",
                title="against the width")
    axes[1].legend(fontsize=7)
    return _save(fig, path)


def certificates(summary: dict, path: Path | None, recipe: dict | None = None):
    """Per model (mean +- std over seeds): the measured test error, the stochastic
    classifier's, its PAC-Bayes certificate and the prior network's held-out bound (left);
    eq. 18 on the test ramp loss of the certified recipe, paper's reading and strict
    (right, where ``recipe`` gives them: {"eq18_paper": (mean, std), "eq18_strict": ...}).
    Chance and 1 dashed."""
    models = list(summary)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [4, 1]})
    bars = (("test_error", "test error (trained run)"),
            ("stochastic_test_error", "test error of Q (measured)"),
            ("certificate", "PAC-Bayes certificate of Q"),
            ("prior_heldout", "held-out bound (prior network)"))
    width = 0.8 / len(bars)
    for k, (key, label) in enumerate(bars):
        stats = [summary[m][key] for m in models]
        axes[0].bar([i + (k - 1.5) * width for i in range(len(models))],
                    [s[0] for s in stats], width, yerr=[s[1] for s in stats], capsize=3,
                    label=label, color=f"C{k}")
    chance = summary[models[0]].get("chance_error")
    if chance is not None:
        axes[0].axhline(chance, ls="--", color="gray", lw=1, label="chance")
    axes[0].set(xticks=range(len(models)), xticklabels=models, ylim=(0, 1.15),
                ylabel="0-1 error", title="test error and its certificate")
    axes[0].legend(fontsize=7, loc="upper left", ncol=2)
    if recipe:
        for k, (key, label) in enumerate((("eq18_paper", "paper's reading"),
                                          ("eq18_strict", "strict"))):
            axes[1].bar([k], [recipe[key][0]], 0.6, yerr=[recipe[key][1]], capsize=3,
                        label=label, color=f"C{k + 4}")
        axes[1].axhline(1.0, ls="--", color="gray", lw=1, label="vacuous above 1")
        axes[1].set(xticks=[0, 1], xticklabels=["paper's", "strict"],
                    ylabel="bound on the test ramp loss",
                    title="eq. 18, certified\nreweighted-RNN")
        axes[1].legend(fontsize=7, loc="lower right")
    else:
        axes[1].axis("off")
    return _save(fig, path)


def paper_table(cells: list[dict], key: str, metric: str, path: Path, title: str = "",
                labels: dict | None = None) -> Path:
    """A paper table's cells against the swept ``key``: per model the mean over seeds with
    +- one standard deviation as error bars (``experiments.sweep`` cells), the paper's number
    as a hollow marker of the same colour; log scale for perplexity."""
    labels = labels or {}
    fig, ax = plt.subplots(figsize=(7.5, 4))
    models = list(dict.fromkeys(c["model"] for c in cells))
    values = list(dict.fromkeys(c[key] for c in cells))
    position = {v: i for i, v in enumerate(values)}  # depths / sizes as evenly spaced ticks
    shift = 0.3 / max(1, len(models) - 1)
    for k, model in enumerate(models):
        ours = [c for c in cells if c["model"] == model and c["n"]]
        x = [position[c[key]] + (k - (len(models) - 1) / 2) * shift for c in ours]
        ax.errorbar(x, [c["mean"] for c in ours], yerr=[c["std"] for c in ours], fmt="o-",
                    ms=4, capsize=3, color=f"C{k}", label=labels.get(model, model))
        paper = [(xi, c[f"paper_{metric}"]) for xi, c in zip(x, ours, strict=True)
                 if c[f"paper_{metric}"] is not None]
        if paper:
            ax.plot(*zip(*paper, strict=True), "o", mfc="none", ms=7, color=f"C{k}")
    ax.plot([], [], "o", mfc="none", color="gray", label="paper (full setting)")
    ax.set(xticks=range(len(values)), xticklabels=[str(v) for v in values], xlabel=key,
           xlim=(-0.5, len(values) - 0.5),  # one value: its points in the middle
           ylabel={"psnr": "test PSNR [dB]", "accuracy": "test accuracy [%]",
                   "perplexity": "test perplexity"}[metric], title=title)
    if metric == "perplexity":
        ax.set_yscale("log")
    ax.legend(fontsize=7, ncol=2, loc="best")
    return _save(fig, path)
