"""Paper 002 Appendix D: the convolutional RNN's matrix form against torch's conv1d,
Assumption 8 through training, and Thm 6 (``conv_rnn_bound``) by hand."""

import math

import pytest
import torch
import torch.nn.functional as F

from unfoldrnn.bounds import conv_rnn_bound
from unfoldrnn.models import ConvRNN, build
from unfoldrnn.models.convrnn import (
    OrthogonalFilters,
    block_pooling,
    channel_average,
    conv_matrix,
)


@pytest.mark.parametrize("k", [3, 4, 5])
def test_the_matrix_form_is_a_k_channel_conv1d_averaged_over_channels(k):
    """P W_I x equals conv1d with the k filters as k output channels (zero padding, output
    length d), averaged over the channels; and the model's fast path equals both."""
    torch.manual_seed(k)
    d = 9
    filters = torch.randn(k, k, dtype=torch.float64)  # columns: the filters
    x = torch.randn(5, d, dtype=torch.float64)
    left = (k - 1) // 2
    channels = F.conv1d(F.pad(x[:, None], (left, k - 1 - left)), filters.T[:, None, :])
    assert channels.shape == (5, k, d)
    matrix = channel_average(k, d) @ conv_matrix(filters, d)
    torch.testing.assert_close(x @ matrix.T, channels.mean(1), rtol=0, atol=1e-12)
    # each channel block of W_I alone is that channel's convolution
    torch.testing.assert_close(x @ conv_matrix(filters, d)[:d].T, channels[:, 0], rtol=0,
                               atol=1e-12)
    layer = OrthogonalFilters(k).double()
    torch.testing.assert_close(
        layer.convolve(x), x @ (channel_average(k, d) @ conv_matrix(layer.matrix(), d)).T,
        rtol=0, atol=1e-12)


def literal_convrnn(U: torch.Tensor, W: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """h_t = tanh(P W_U h_{t-1} + P W_W x_t), h_0 = 0, from the matrices of Appendix D."""
    k, d = U.shape[0], x.shape[-1]
    A = channel_average(k, d) @ conv_matrix(U, d)
    B = channel_average(k, d) @ conv_matrix(W, d)
    h = torch.zeros(x.shape[0], d, dtype=x.dtype)
    out = []
    for t in range(x.shape[1]):
        h = torch.tanh(h @ A.T + x[:, t] @ B.T)
        out.append(h)
    return torch.stack(out, 1)


def test_forward_equals_the_matrix_recurrence():
    torch.manual_seed(0)
    model = ConvRNN(8, kernel_size=3).double()
    x = torch.randn(4, 6, 8, dtype=torch.float64)
    codes, h_n = model(x)
    weights = {k: v.detach() for k, v in model.filter_matrices().items()}
    torch.testing.assert_close(codes, literal_convrnn(weights["U"], weights["W"], x), rtol=0,
                               atol=1e-12)
    assert h_n.shape == (1, 4, 8)
    assert torch.autograd.gradcheck(lambda a: model(a)[0], (x[:2, :3].requires_grad_(),))


def test_assumption_8_holds_after_100_adam_steps():
    torch.manual_seed(1)
    model = ConvRNN(10, kernel_size=4)
    head = model.readout(3)
    opt = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=0.05)
    x, y = torch.randn(16, 5, 10), torch.randint(0, 3, (16,))
    before = model.filter_matrices()["U"].detach().clone()
    for _ in range(100):
        loss = F.cross_entropy(head(model(x)[0][:, -1]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = {**model.filter_matrices(), "V": head.V.matrix()}
    assert not torch.allclose(after["U"].detach(), before)  # the filters did train
    eye = torch.eye(4) / 4
    for F_ in after.values():
        F_ = F_.detach()
        torch.testing.assert_close(F_.T @ F_, eye, rtol=0, atol=1e-5)
        torch.testing.assert_close(F_ @ F_.T, eye, rtol=0, atol=1e-5)


def test_block_pooling_averages_contiguous_blocks():
    Q = block_pooling(3, 8)
    assert Q.tolist()[0] == [0.5, 0.5, 0, 0, 0, 0, 0, 0]  # positions 0-1 (8 / 3 = 2.67)
    assert Q[1, 2:5].tolist() == [1 / 3] * 3 and Q[2, 5:].tolist() == [1 / 3] * 3
    assert float(torch.linalg.matrix_norm(Q, 2)) <= 1
    with pytest.raises(ValueError, match="d >= K"):
        block_pooling(12, 8)


def test_thm6_by_hand_and_its_assumption():
    model = ConvRNN(6, kernel_size=3)
    x = torch.zeros(4, 5, 6)
    x[2, 3, :2] = torch.tensor([3.0, 4.0])  # B_x = 5
    report = conv_rnn_bound(model, x, gamma=0.5, delta=0.1, readout=model.readout(2))
    # B_x k t sqrt(log(d t sqrt(m))) / (sqrt(m) gamma) + sqrt(log(1/delta) / m)
    expected = 5 * 3 * 5 * math.sqrt(math.log(6 * 5 * 2)) / (2 * 0.5) + math.sqrt(
        math.log(10) / 4)
    assert report["thm6"] == pytest.approx(expected, rel=1e-12)
    assert report["B_x"] == 5 and report["complexity"] == pytest.approx(
        expected - math.sqrt(math.log(10) / 4))
    broken = ConvRNN(6, kernel_size=3)
    torch.nn.utils.parametrize.remove_parametrizations(broken.U, "weight")
    with torch.no_grad():
        broken.U.weight.mul_(2.0)
    with pytest.raises(ValueError, match="Assumption 8 fails for U"):
        conv_rnn_bound(broken, x, gamma=0.5)


def test_the_registry_and_its_shape_rules():
    model = build("convrnn", 32, 32, 1)
    assert isinstance(model, ConvRNN)
    with pytest.raises(ValueError, match="hidden_size must equal input_size = 32"):
        build("convrnn", 32, 100, 1)
    with pytest.raises(ValueError, match="one layer"):
        build("convrnn", 32, 32, 2)
