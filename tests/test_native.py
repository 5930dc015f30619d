"""The C++ time loops of reweighted-RNN / l1-l1-RNN (compile_prox="auto" on the CPU) against
the Python loops, and their fallback."""

import warnings

import pytest
import torch

from unfoldrnn.models import _native, build


@pytest.fixture(scope="module")
def native():
    module = _native.recurrence()
    if module is None:
        pytest.skip("the C++ recurrence cannot be built on this machine")
    return module


def _run(model, x, mode):
    model.compile_prox = mode
    model.zero_grad()
    codes, last = model(x)
    (codes.sin().sum() + last.pow(2).sum()).backward()
    return codes.detach().clone(), {k: p.grad.clone() for k, p in model.named_parameters()
                                    if p.grad is not None}


@pytest.mark.parametrize("recurrence", ["unrolled", "precomposed"])
@pytest.mark.parametrize("name", ["reweighted", "l1l1"])
@pytest.mark.parametrize("sizes", [(5, 20, 16, 3), (12, 12, 16, 2)])  # low-rank, dense step
def test_cpp_loops_equal_the_python_loops(native, name, sizes, recurrence):
    n, n0, h, d = sizes
    torch.manual_seed(0)
    model = build(name, n, h, d, signal_size=n0, recurrence=recurrence).double()
    with torch.no_grad():  # off the identity initialisation, every prox piece visited
        model.P.add_(0.3 * torch.randn_like(model.P))
        model.h0.add_(0.2)
    x = torch.randn(4, 7, n, dtype=torch.float64)
    codes, grads = _run(model, x, False)
    fast_codes, fast_grads = _run(model, x, "auto")
    torch.testing.assert_close(fast_codes, codes, rtol=1e-12, atol=1e-12)
    assert fast_grads.keys() == grads.keys() and "P" in grads and "log_lambda2" in grads
    for key in grads:
        torch.testing.assert_close(fast_grads[key], grads[key], rtol=1e-10, atol=1e-10,
                                   msg=key)


@pytest.mark.parametrize("recurrence,layers", [("unrolled", 2), ("precomposed", 2),
                                               ("precomposed", 1)])
def test_cpp_loops_pass_gradcheck(native, recurrence, layers):
    torch.manual_seed(1)
    model = build("reweighted", 3, 5, layers, signal_size=6, recurrence=recurrence).double()
    with torch.no_grad():
        model.P.add_(0.2 * torch.randn_like(model.P))
    x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, h0: model(x, h0)[0], (x, h0))


def test_auto_takes_the_loop_of_fewer_multiply_adds():
    """The speech classifier's reweighted-RNN precomposes (T B n >> h^2), the h = 1024
    reconstruction core does not (forming M_l, h^3, outweighs T B = 640 rows); l1-l1-RNN's
    low-rank step (2 h n < h^2) stays unrolled."""
    def choice(name, n, h, T, B, n0=None):
        model = build(name, n, h, 3, signal_size=n0 or n)
        return model._precomposed(T, B, n, 2 * n < h)

    assert choice("reweighted", 32, 100, 99, 100)
    assert not choice("reweighted", 51, 1024, 20, 32, 1024)
    assert not choice("l1l1", 32, 100, 99, 100)
    with pytest.raises(ValueError, match="recurrence must be one of"):
        build("l1l1", 4, 8, recurrence="fast")


def test_a_failed_build_falls_back_to_the_python_loops_with_one_warning(monkeypatch):
    import torch.utils.cpp_extension as cpp

    def broken(*args, **kwargs):
        raise RuntimeError("ninja exploded")

    monkeypatch.setattr(_native, "_STATE", {})
    monkeypatch.setattr(cpp, "load", broken)
    torch.manual_seed(0)
    model = build("reweighted", 4, 6, 2)
    x = torch.randn(2, 3, 4)
    with pytest.warns(RuntimeWarning, match="ninja exploded"):
        codes = model(x)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once, not at every call
        again = model(x)[0]
    model.compile_prox = False
    assert torch.equal(codes, model(x)[0]) and torch.equal(again, codes)


def test_the_environment_can_turn_the_cpp_loops_off(monkeypatch):
    monkeypatch.setattr(_native, "_STATE", {})
    monkeypatch.setenv("UNFOLDRNN_NATIVE", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # off on purpose: no warning
        assert _native.recurrence() is None


def test_the_build_is_keyed_by_torch_python_flags_and_source(monkeypatch):
    """Two environments must not rebuild (and replace) each other's library."""
    import torch

    name = _native.build_name()
    assert name.startswith(_native.NAME + "_") and name == _native.build_name()
    monkeypatch.setattr(torch, "__version__", torch.__version__ + "+other")
    assert _native.build_name() != name
    monkeypatch.undo()
    monkeypatch.setattr(_native, "FLAGS", ("-O2",))
    assert _native.build_name() != name
