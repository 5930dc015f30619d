import torch

from unfoldrnn.prox import prox_l1l1, prox_l1l1_reference, soft_threshold


def objective(v, u, a, b, s):
    return a * v.abs() + b * (v - s).abs() + 0.5 * (v - u) ** 2


def random_points(n=5000, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(n, generator=g, dtype=torch.float64) * 3
    a = torch.rand(n, generator=g, dtype=torch.float64) * 2
    b = torch.rand(n, generator=g, dtype=torch.float64) * 2
    s = torch.randn(n, generator=g, dtype=torch.float64) * 2
    # special cases: a = 0, b = 0, s = 0, and both at once
    a[:500] = 0
    b[500:1000] = 0
    s[1000:1500] = 0
    a[1500:1700] = 0
    b[1500:1700] = 0
    return u, a, b, s


def test_prox_is_the_argmin_among_all_candidates():
    # The objective is convex and piecewise quadratic with kinks at 0 and s, so its minimiser
    # is a kink or the stationary point u -/+ a -/+ b of one piece: brute force over those.
    u, a, b, s = random_points()
    candidates = torch.stack([torch.zeros_like(u), s, u - a - b, u - a + b, u + a - b, u + a + b])
    best = objective(candidates, u, a, b, s).min(dim=0).values
    v = prox_l1l1(u, a, b, s)
    assert torch.allclose(objective(v, u, a, b, s), best, atol=1e-12)
    assert (s < 0).any() and (s > 0).any()


def test_prox_beats_a_dense_grid():
    u, a, b, s = random_points(2000, seed=1)
    grid = torch.linspace(-12, 12, 24001, dtype=torch.float64).unsqueeze(1)
    grid_best = objective(grid, u, a, b, s).min(dim=0).values
    v = prox_l1l1(u, a, b, s)
    assert (objective(v, u, a, b, s) <= grid_best + 1e-12).all()
    # strongly convex: the grid minimiser is within grid spacing of the prox
    arg = grid[objective(grid, u, a, b, s).argmin(dim=0), 0]
    assert (arg - v).abs().max() <= 1e-3 + 1e-9


def test_prox_matches_the_case_tables_of_eq_6_7():
    u, a, b, s = random_points(seed=2)
    assert torch.allclose(prox_l1l1(u, a, b, s), prox_l1l1_reference(u, a, b, s), atol=1e-14)


def test_b_zero_is_soft_threshold():
    u, a, _, s = random_points(seed=3)
    expected = torch.sign(u) * torch.clamp(u.abs() - a, min=0)
    assert torch.allclose(prox_l1l1(u, a, 0.0, s), expected, atol=1e-15)
    assert torch.allclose(soft_threshold(u, a), expected, atol=1e-15)


def test_prox_broadcasts_per_unit_parameters():
    u = torch.randn(7, 5, dtype=torch.float64)
    a, b = torch.rand(5, dtype=torch.float64), torch.rand(5, dtype=torch.float64)
    s = torch.randn(7, 5, dtype=torch.float64)
    full = prox_l1l1(u, a.expand(7, 5), b.expand(7, 5), s)
    assert torch.equal(prox_l1l1(u, a, b, s), full)


def _away_from_kinks(u, a, b, s, margin=1e-3):
    u, a, b, s = torch.broadcast_tensors(u, a, b, s)
    kinks = torch.stack([s + a + b, s + a - b, a - b, -a - b, a + b, -a + b, s - a + b,
                         s - a - b])
    return ((u - kinks).abs() > margin).all(dim=0)


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(4)
    u = torch.randn(6, 40, generator=g, dtype=torch.float64) * 2
    a = torch.rand(40, generator=g, dtype=torch.float64)
    b = torch.rand(40, generator=g, dtype=torch.float64)
    s = torch.randn(6, 40, generator=g, dtype=torch.float64)
    keep = _away_from_kinks(u, a, b, s).all(dim=0)
    u, a, b, s = u[:, keep], a[keep], b[keep], s[:, keep]
    assert keep.sum() > 10
    args = [t.clone().requires_grad_() for t in (u, a, b, s)]
    assert torch.autograd.gradcheck(prox_l1l1, args)


def test_gradients_match_plain_autograd_reference():
    u, a, b, s = random_points(seed=5)
    keep = _away_from_kinks(u, a, b, s)
    u, a, b, s = u[keep], a[keep], b[keep], s[keep]
    w = torch.randn_like(u)
    grads = []
    for fn in (prox_l1l1, prox_l1l1_reference):
        args = [t.clone().requires_grad_() for t in (u, a, b, s)]
        (fn(*args) * w).sum().backward()
        grads.append([t.grad for t in args])
    for fast, slow in zip(grads[0][:3], grads[1][:3], strict=True):
        assert torch.allclose(fast, slow, atol=1e-12)
    # d/ds jumps at s = 0; the fast prox takes the left derivative (0) there
    nonzero = s != 0
    assert torch.allclose(grads[0][3][nonzero], grads[1][3][nonzero], atol=1e-12)
    assert (grads[0][3][~nonzero] == 0).all() and (~nonzero).sum() > 100


def test_prox_keeps_no_intermediate_for_backward():
    u = torch.randn(64, 32, requires_grad=True)
    a, b = torch.full((32,), 0.1), torch.full((32,), 0.2)
    s = torch.randn(64, 32)
    v = prox_l1l1(u, a, b, s)
    saved = v.grad_fn.saved_tensors
    assert len(saved) == 2 and saved[1] is s
    assert saved[0].data_ptr() == v.data_ptr()  # the output itself


def test_compiled_kernels_match_eager():
    from unfoldrnn.prox import prox_kernels

    u, a, b, s = (t.float() for t in random_points(seed=6))
    grad = torch.randn_like(u)
    value, backward = prox_kernels(compiled=False)
    cvalue, cbackward = prox_kernels(compiled=True)
    v = value(u, a, b, s)
    assert torch.equal(cvalue(u, a, b, s), v)
    for fast, slow in zip(cbackward(grad, v, s), backward(grad, v, s), strict=True):
        assert torch.equal(fast, slow)


def _fresh_auto(monkeypatch):
    from unfoldrnn import prox
    from unfoldrnn.models import _native

    monkeypatch.setattr(_native, "_STATE", {})  # the C++ loops: built again, or not
    monkeypatch.setattr(prox, "_AUTO", {})
    monkeypatch.setattr(prox, "_AUTO_KERNELS", (prox._Auto("value", prox.prox_value),
                                                prox._Auto("backward", prox.prox_backward)))
    return prox


def test_auto_compile_falls_back_to_eager_with_one_warning(monkeypatch):
    import warnings

    import pytest

    prox = _fresh_auto(monkeypatch)

    def broken(*args):
        raise RuntimeError("backend exploded")

    monkeypatch.setattr(prox, "_compiled_kernels", lambda: (broken, broken))
    u, a, b, s = (t.float() for t in random_points(seed=7))
    value, backward = prox.prox_kernels("auto")
    with pytest.warns(RuntimeWarning, match="backend exploded"):
        v = value(u, a, b, s)
    assert torch.equal(v, prox.prox_value(u, a, b, s))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once, not at every call
        grads = backward(torch.ones_like(u), v, s)
    assert all(torch.equal(x, y) for x, y in zip(grads, prox.prox_backward(
        torch.ones_like(u), v, s), strict=True))


def test_auto_compile_without_a_cpp_compiler_runs_eager(monkeypatch):
    import pytest

    from unfoldrnn.models import ReweightedRNN

    prox = _fresh_auto(monkeypatch)
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(prox.shutil, "which", lambda name: None)
    monkeypatch.setattr(prox, "_compiled_kernels", lambda: pytest.fail("tried to compile"))
    model = ReweightedRNN(4, 6, 2)
    assert model.compile_prox == "auto"  # the default
    x = torch.randn(2, 3, 4)
    with pytest.warns(RuntimeWarning, match="no C.. compiler"):
        codes = model(x)[0]
    eager = ReweightedRNN(4, 6, 2, compile_prox=False)
    eager.load_state_dict(model.state_dict())
    assert torch.equal(codes, eager(x)[0])
    with pytest.raises(ValueError, match="compile_prox"):
        ReweightedRNN(4, 6, 2, compile_prox="yes")
