# ruff: noqa: E501
"""Hand-made mutations of bounds/ and prox.py: each must make a test fail.

    python tools/mutation_check.py      # a few minutes; prints caught / MISSED per mutation
    python tools/mutation_check.py floor eq18   # only the mutations whose name has these

Each mutation is applied to the source, the bound and prox tests run, and the file is
restored. Do not commit while it runs: the tree holds one mutation at a time.
"""

import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
root = REPO / "src" / "unfoldrnn"
M = [
 ("bounds/norms.py", "return M.abs().sum(dim=1).max()", "return M.abs().sum(dim=0).max()", "1,inf reads columns"),
 ("bounds/certify.py", "([float(norm_1_inf(W)) for W in ew[\"W\"]]", "([float(torch.linalg.matrix_norm(W, 2)) for W in ew[\"W\"]]", "certify spectral alpha"),
 ("bounds/certify.py", "b2 = float(norm_1_inf(ew[\"W_prev\"]))", "b2 = 0.0", "sista beta2 dropped"),
 ("bounds/unfolding.py", "math.sqrt(2 * (4 * d * T * math.log(2)", "math.sqrt((4 * d * T * math.log(2)", "log factor halved"),
 ("bounds/unfolding.py", "state = lam[0] ** (2 * T) * float(h0_norm) ** 2", "state = lam[0] ** T * float(h0_norm) ** 2", "h0 term exponent"),
 ("bounds/margin.py", "4 * confidence_term(m, delta)", "2 * confidence_term(m, delta)", "eq18 confidence halved"),
 ("bounds/fisher_rao.py", "gap = 4 * k / margin * rad", "gap = 2 * k / margin * rad", "FR 2k"),
 ("bounds/spectral.py", "U_i, U_f, U_c, U_o = lstm.weight_hh_l0.detach().chunk(4)", "U_i, U_f, U_o, U_c = lstm.weight_hh_l0.detach().chunk(4)", "lstm candidate"),
 ("bounds/montecarlo.py", "        total += best\n", "        total += 0.1\n", "constant estimator"),
 ("prox.py", "    v += (u - ab - k2).relu_()", "    v += (u - ab - k2).relu_() * 0.5", "prox slope"),
 ("prox.py", "grad_s = grad.masked_fill((v != s) | (s == 0), 0)", "grad_s = grad.masked_fill((v != s), 0)", "prox ds at 0"),
 ("bounds/norms.py", "return x.square().mean(dim=0).sqrt().amax()", "return x.square().mean(dim=2).sqrt().amax()", "B_x over features"),
 ("bounds/margin.py", "return 2 * float(rho) / gamma * float(rademacher)", "return float(rho) / gamma * float(rademacher)", "eq18 2 rho dropped"),
 ("bounds/margin.py", "return least_ramp_bound(2 * norms,", "return least_ramp_bound(norms,", "floor 2 rho dropped"),
 ("bounds/margin.py", "values = (count - torch.cumsum(positive, 0) / positive) / m", "values = count / m", "least eq18 partial ramp dropped"),
 ("bounds/margin.py", "return least + 4 * confidence_term(size, delta) < 1", "return least + 4 * confidence_term(m, delta) < 1", "what-if confidence at m"),
 ("bounds/certify.py", "code_norms = codes[:, -1].norm(dim=1)", "code_norms = codes[:, -1].abs().amax(dim=1)", "floor reads inf-norm"),
 ("bounds/certify.py", "lambda_u * sum(norm_1_inf(U) for U in ew[\"U\"])", "lambda_u * sum(norm_1_inf(W) for W in ew[\"W\"])", "U penalty reads W"),
 ("bounds/spectral.py", "per_step = (1 - r).abs().amax(-1) + B[\"U_h\"] * r.abs().amax(-1) ** 2", "per_step = (1 - r).abs().amax(-1) + B[\"U_h\"] * r.abs().amax(-1)", "mgu r squared dropped"),
 ("bounds/spectral.py", "per_step = (1 - r).abs().amax(-1) + B[\"U_h\"] * r.abs().amax(-1) ** 2", "per_step = (1 - r).abs().amax(-1)", "mgu U_h term dropped"),
 ("bounds/spectral.py", "float(w[\"U_r\"].abs().sum(1).max())", "float(w[\"U_r\"].abs().sum(0).max())", "mgu U_r row sum reads columns"),
 ("bounds/spectral.py", "B = {k: _spectral(v) for k, v in w.items()}", "B = {k: float(v.norm()) for k, v in w.items()}", "mgu Frobenius for spectral"),
 ("bounds/spectral.py", "return b + 2 * B[\"U_r\"] + B[\"U_r\"] * B[\"U_h\"]", "return b + B[\"U_r\"] + B[\"U_r\"] * B[\"U_h\"]", "mgu theta 2 B_U_r halved"),
 ("bounds/spectral.py", "theta_of(b), d, t, m, gamma) + \\\n            confidence(m, delta)", "theta_of(b), d, t, m, gamma)", "mgu confidence dropped"),
 ("bounds/spectral.py", "return B_x * k * t * math.sqrt(", "return B_x * t * math.sqrt(", "conv k dropped"),
 ("bounds/spectral.py", "return B_x * k * t * math.sqrt(", "return B_x * k * math.sqrt(t) * math.sqrt(", "conv t as sqrt(t)"),
 ("bounds/spectral.py", "\"complexity\": complexity, \"thm6\": complexity + confidence(m, delta)}", "\"complexity\": complexity, \"thm6\": complexity}", "conv confidence dropped"),
 ("bounds/spectral.py", "_log(d * t * math.sqrt(m))) / (math.sqrt(m) * gamma)", "_log(d * t * m)) / (math.sqrt(m) * gamma)", "conv log sqrt(m)"),
 ("bounds/strict.py", "return delta / (num_gammas * LEVELS ** num_norms)", "return delta / num_gammas", "strict union over levels dropped"),
 ("bounds/strict.py", "k = max(math.ceil(math.log(value, LEVEL_BASE) - 1e-12)", "k = max(math.floor(math.log(value, LEVEL_BASE) - 1e-12)", "strict level below the norm"),
 ("bounds/strict.py", "bounds = [t + classification_gap(rademacher, rho_lv, g, m, split)", "bounds = [t + classification_gap(rademacher, rho_lv, g, m, delta)", "strict bound at delta"),
 ("bounds/pac_bayes.py", "return kl_inverse(risk, (kl + _confidence(n, delta)) / n)", "return kl_inverse(risk, _confidence(n, delta) / n)", "pac-bayes KL dropped"),
 ("bounds/pac_bayes.py", "return math.log(2 * math.sqrt(n) / delta)", "return 0.5 * math.log(2 * math.sqrt(n) / delta)", "pac-bayes confidence halved"),
 ("experiments/pac_bayes.py", "prior = tuple(part[prior_idx] for part in train)", "prior = tuple(part[bound_idx] for part in train)", "pac-bayes prior on the bound set"),
 ("bounds/pac_bayes.py", "return kl_inverse(mc_risk, math.log(2 / delta_prime) / samples)", "return mc_risk", "pac-bayes sampling bound dropped"),
]
only = sys.argv[1:]  # optional substrings of mutation names: run only those
M = [mutation for mutation in M if not only or any(o in mutation[3] for o in only)]
caught = 0
for rel, old, new, name in M:
    p = root / rel
    src = p.read_text()
    if old not in src:
        print("MISSING", name)
        continue
    p.write_text(src.replace(old, new, 1))
    try:
        r = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                            "tests/test_bounds.py", "tests/test_bounds_independent.py",
                            "tests/test_prox.py", "tests/test_mgu.py", "tests/test_convrnn.py", "tests/test_strict.py", "tests/test_pac_bayes.py"],
                           cwd=REPO, capture_output=True, text=True)
        ok = r.returncode != 0
        caught += ok
        print(("caught " if ok else "MISSED ") + name, flush=True)
    finally:
        p.write_text(src)
print(f"{caught}/{len(M)} caught")
