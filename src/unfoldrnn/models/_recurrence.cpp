// The time loops of UnrolledL1L1 (_unrolled.py) in C++: the same GEMMs through ATen, the
// prox of paper 001 eq. 6-7 and its derivative as one fused loop per layer step, results
// written straight into preallocated [d, T, B, h] buffers. Python keeps the weight
// gradients (a few large GEMMs over all T * B rows). Built once per machine by
// torch.utils.cpp_extension.load_inline (see _native.py); CPU tensors only.
#include <torch/extension.h>

#include <algorithm>
#include <vector>

namespace {

// v = clamp(u - m, k1, k2) + relu(u - a - b - k2) - relu(k1 - a - b - u), m = sign(s) (a - b)
// (the closed form of prox.prox_value, operation for operation). Written with min, max and
// 0/1 masks, no branch: the signs of s and u are data, and branches on them mispredict.
template <typename scalar_t>
inline scalar_t prox_element(scalar_t u, scalar_t a, scalar_t b, scalar_t s) {
  const scalar_t zero(0), one(1), two(2);
  const scalar_t k1 = std::min(s, zero), k2 = std::max(s, zero);
  const scalar_t ab = a + b;
  const scalar_t m = (a - b) * (one - two * static_cast<scalar_t>(s < zero));
  const scalar_t w = std::min(std::max(u - m, k1), k2);
  return w + std::max(u - ab - k2, zero) - std::max(k1 - ab - u, zero);
}

template <typename scalar_t>
void prox_forward(const scalar_t* __restrict__ u, const scalar_t* __restrict__ a,
                  const scalar_t* __restrict__ b, const scalar_t* __restrict__ s,
                  scalar_t* __restrict__ v, int64_t rows, int64_t h) {
  for (int64_t i = 0; i < rows; ++i) {
    const scalar_t* __restrict__ ui = u + i * h;
    const scalar_t* __restrict__ si = s + i * h;
    scalar_t* __restrict__ vi = v + i * h;
    for (int64_t j = 0; j < h; ++j) vi[j] = prox_element(ui[j], a[j], b[j], si[j]);
  }
}

// Layer 1 of a precomposed step in one pass over [s_t | u_1 - Y_1,t] = su (rows of 2h):
// s_t stored into s, u_1 = su[:, h:] + y, v = Phi_{a, b, s_t}(u_1)
template <typename scalar_t>
void prox_forward_first(const scalar_t* __restrict__ su, const scalar_t* __restrict__ y,
                        const scalar_t* __restrict__ a, const scalar_t* __restrict__ b,
                        scalar_t* __restrict__ s, scalar_t* __restrict__ v, int64_t rows,
                        int64_t h) {
  for (int64_t i = 0; i < rows; ++i) {
    const scalar_t* __restrict__ sui = su + i * 2 * h;
    const scalar_t* __restrict__ yi = y + i * h;
    scalar_t* __restrict__ si = s + i * h;
    scalar_t* __restrict__ vi = v + i * h;
    for (int64_t j = 0; j < h; ++j) {
      si[j] = sui[j];
      vi[j] = prox_element(sui[h + j] + yi[j], a[j], b[j], sui[j]);
    }
  }
}

// prox.prox_backward read off v and s: d/du into gu, d/ds added to gs, d/da and d/db summed
// over the rows into ga, gb (masks, no branch, as above)
template <typename scalar_t>
void prox_backward(const scalar_t* __restrict__ g, const scalar_t* __restrict__ v,
                   const scalar_t* __restrict__ s, scalar_t* __restrict__ gu,
                   scalar_t* __restrict__ gs, scalar_t* __restrict__ ga,
                   scalar_t* __restrict__ gb, int64_t rows, int64_t h) {
  const scalar_t zero(0), one(1), two(2);
  for (int64_t i = 0; i < rows; ++i) {
    const scalar_t* __restrict__ gi = g + i * h;
    const scalar_t* __restrict__ vi = v + i * h;
    const scalar_t* __restrict__ si = s + i * h;
    scalar_t* __restrict__ gui = gu + i * h;
    scalar_t* __restrict__ gsi = gs + i * h;
    for (int64_t j = 0; j < h; ++j) {
      const scalar_t sj = si[j], vj = vi[j], gj = gi[j];
      const scalar_t k1 = std::min(sj, zero), k2 = std::max(sj, zero);
      const scalar_t upper = static_cast<scalar_t>(vj > k2);
      const scalar_t lower = static_cast<scalar_t>(vj < k1);
      const scalar_t kink = static_cast<scalar_t>((vj == k1) | (vj == k2));
      const scalar_t du = gj * (one - kink);
      const scalar_t outer = gj * (lower - upper);
      const scalar_t mid = du * (one - upper - lower) *
                           (one - two * static_cast<scalar_t>(sj < zero));
      gui[j] = du;
      gsi[j] += gj * static_cast<scalar_t>((vj == sj) & (sj != zero));
      ga[j] += outer - mid;
      gb[j] += outer + mid;
    }
  }
}

// The kernels on [B, h] tensors (contiguous rows), dispatched on their dtype
void prox_forward_rows(const at::Tensor& u, const at::Tensor& a, const at::Tensor& b,
                       const at::Tensor& s, const at::Tensor& v) {
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "prox_forward", [&] {
    prox_forward<scalar_t>(u.data_ptr<scalar_t>(), a.data_ptr<scalar_t>(),
                           b.data_ptr<scalar_t>(), s.data_ptr<scalar_t>(),
                           v.data_ptr<scalar_t>(), u.size(0), u.size(1));
  });
}

void prox_backward_rows(const at::Tensor& g, const at::Tensor& v, const at::Tensor& s,
                        const at::Tensor& gu, const at::Tensor& gs, const at::Tensor& ga,
                        const at::Tensor& gb) {
  AT_DISPATCH_FLOATING_TYPES(v.scalar_type(), "prox_backward", [&] {
    prox_backward<scalar_t>(g.data_ptr<scalar_t>(), v.data_ptr<scalar_t>(),
                            s.data_ptr<scalar_t>(), gu.data_ptr<scalar_t>(),
                            gs.data_ptr<scalar_t>(), ga.data_ptr<scalar_t>(),
                            gb.data_ptr<scalar_t>(), v.size(0), v.size(1));
  });
}

// r = z - (z L) K (L undefined: z - z K), the gradient step of _unrolled._gradient_step
at::Tensor gradient_step(const at::Tensor& z, const at::Tensor& L, const at::Tensor& K) {
  return at::addmm(z, L.defined() ? at::mm(z, L) : z, K, 1, -1);
}

}  // namespace

// X [T, B, h], h0 [B, h], PT [h, h], Z [d, h, h] or undefined, L, K, a, b [d, h]
// -> (V [d, T, B, h]: every layer's output, S [T, B, h]: the side information P h_{t-1})
std::vector<at::Tensor> recurrence_forward(const at::Tensor& X, const at::Tensor& h0,
                                           const at::Tensor& PT, const c10::optional<at::Tensor>& Z,
                                           const c10::optional<at::Tensor>& L, const at::Tensor& K,
                                           const at::Tensor& a, const at::Tensor& b) {
  const int64_t T = X.size(0), B = X.size(1), h = X.size(2), d = a.size(0);
  const at::Tensor Lc = L.has_value() ? *L : at::Tensor();
  at::Tensor V = at::empty({d, T, B, h}, X.options());
  at::Tensor S = at::empty({T, B, h}, X.options());
  at::Tensor ac = a.contiguous(), bc = b.contiguous();
  at::Tensor h_prev = h0.contiguous();
  for (int64_t t = 0; t < T; ++t) {
    at::Tensor s = S[t];
    at::mm_out(s, h_prev, PT);
    at::Tensor z = s;
    for (int64_t layer = 0; layer < d; ++layer) {
      at::Tensor u = gradient_step(z, Lc, K).add_(X[t]);
      if (Z.has_value()) u = at::mm(u, (*Z)[layer].t());  // mm's result is contiguous
      at::Tensor v = V[layer][t];
      prox_forward_rows(u, ac[layer], bc[layer], s, v);
      z = v;
    }
    h_prev = z;
  }
  return {V, S};
}

// -> (GU [d, T, B, h]: dLoss/du, GY: dLoss/d(r + X_t) = du Z_l (GU itself without Z),
//     GS [T, B, h]: dLoss/ds_t, ga, gb [d, h], dLoss/dh0 [B, h])
std::vector<at::Tensor> recurrence_backward(const at::Tensor& grad_codes, const at::Tensor& PT,
                                            const c10::optional<at::Tensor>& Z,
                                            const c10::optional<at::Tensor>& L,
                                            const at::Tensor& K, const at::Tensor& V,
                                            const at::Tensor& S) {
  const int64_t d = V.size(0), T = V.size(1), B = V.size(2), h = V.size(3);
  const at::Tensor Lt = L.has_value() ? L->t() : at::Tensor();
  const at::Tensor Kt = K.t();
  const at::Tensor grads = grad_codes.contiguous();
  at::Tensor GU = at::empty_like(V);
  at::Tensor GY = Z.has_value() ? at::empty_like(V) : GU;
  at::Tensor GS = at::empty_like(S);
  at::Tensor ga = at::zeros({d, h}, V.options());
  at::Tensor gb = at::zeros({d, h}, V.options());
  at::Tensor g_next = at::zeros({B, h}, V.options());
  for (int64_t t = T - 1; t >= 0; --t) {
    at::Tensor s = S[t];
    at::Tensor gv = grads[t] + g_next;
    at::Tensor gs = GS[t];
    gs.zero_();
    for (int64_t layer = d - 1; layer >= 0; --layer) {
      at::Tensor gu = GU[layer][t];
      at::Tensor vt = V[layer][t];  // gv: a sum or an addmm result, contiguous
      prox_backward_rows(gv, vt, s, gu, gs, ga[layer], gb[layer]);
      at::Tensor gy = gu;
      if (Z.has_value()) {
        gy = GY[layer][t];
        at::mm_out(gy, gu, (*Z)[layer]);
      }
      at::Tensor gK = at::mm(gy, Kt);
      at::Tensor gz = Lt.defined() ? at::addmm(gy, gK, Lt, 1, -1) : gy - gK;
      if (layer > 0) {
        gv = gz;
      } else {
        gs.add_(gz);
      }
    }
    g_next = at::mm(gs, PT.t());
  }
  return {GU, GY, GS, ga, gb, g_next};
}

// The precomposed recurrence (PrecomposedL1L1 in _unrolled.py): Y [d, T, B, h] the input
// terms X_t Z_l^T, h0 [B, h], W0 [h, 2h] = [P^T | P^T M_1], M [d - 1, h, h] the M_l of layers
// 2..d, a, b [d, h] -> (V [d, T, B, h], S [T, B, h]). Per step: [s_t | u_1 - Y_1] = h_{t-1} W0,
// then u_l = z^(l-1) M_l + Y_l: (d + 1) h^2 multiply-adds per row.
std::vector<at::Tensor> precomposed_forward(const at::Tensor& Y, const at::Tensor& h0,
                                            const at::Tensor& W0, const at::Tensor& M,
                                            const at::Tensor& a, const at::Tensor& b) {
  const int64_t d = Y.size(0), T = Y.size(1), B = Y.size(2), h = Y.size(3);
  at::Tensor V = at::empty({d, T, B, h}, Y.options());
  at::Tensor S = at::empty({T, B, h}, Y.options());
  at::Tensor ac = a.contiguous(), bc = b.contiguous();
  at::Tensor h_prev = h0.contiguous();
  at::Tensor su = at::empty({B, 2 * h}, Y.options());  // workspaces, reused every step
  at::Tensor u = at::empty({B, h}, Y.options());
  for (int64_t t = 0; t < T; ++t) {
    at::mm_out(su, h_prev, W0);
    at::Tensor s = S[t];
    at::Tensor y = Y[0][t];  // rows of h: contiguous, also when Y is expanded over d
    AT_DISPATCH_FLOATING_TYPES(Y.scalar_type(), "prox_forward_first", [&] {
      prox_forward_first<scalar_t>(su.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(),
                                   ac[0].data_ptr<scalar_t>(), bc[0].data_ptr<scalar_t>(),
                                   s.data_ptr<scalar_t>(), V[0][t].data_ptr<scalar_t>(), B, h);
    });
    for (int64_t layer = 1; layer < d; ++layer) {
      at::addmm_out(u, Y[layer][t], V[layer - 1][t], M[layer - 1]);
      prox_forward_rows(u, ac[layer], bc[layer], s, V[layer][t]);
    }
    h_prev = V[d - 1][t];
  }
  return {V, S};
}

// -> (GU [d, T, B, h]: dLoss/du_l, GS [T, B, h]: dLoss/ds_t through the prox, ga, gb [d, h],
//     dLoss/dh0 [B, h])
std::vector<at::Tensor> precomposed_backward(const at::Tensor& grad_codes, const at::Tensor& W0,
                                             const at::Tensor& M, const at::Tensor& V,
                                             const at::Tensor& S) {
  const int64_t d = V.size(0), T = V.size(1), B = V.size(2), h = V.size(3);
  const at::Tensor Ws = W0.narrow(1, 0, h).t(), Wu = W0.narrow(1, h, h).t();
  const at::Tensor grads = grad_codes.contiguous();
  at::Tensor GU = at::empty_like(V);
  at::Tensor GS = at::empty_like(S);
  at::Tensor ga = at::zeros({d, h}, V.options());
  at::Tensor gb = at::zeros({d, h}, V.options());
  at::Tensor g_next = at::zeros({B, h}, V.options());
  at::Tensor gv = at::empty({B, h}, V.options());  // workspace, reused every step
  for (int64_t t = T - 1; t >= 0; --t) {
    at::Tensor s = S[t];
    at::add_out(gv, grads[t], g_next);
    at::Tensor gs = GS[t];
    gs.zero_();
    for (int64_t layer = d - 1; layer >= 0; --layer) {
      at::Tensor gu = GU[layer][t];
      at::Tensor vt = V[layer][t];
      prox_backward_rows(gv, vt, s, gu, gs, ga[layer], gb[layer]);
      if (layer > 0) at::mm_out(gv, gu, M[layer - 1].t());
    }
    at::mm_out(g_next, gs, Ws);
    g_next.addmm_(GU[0][t], Wu);
  }
  return {GU, GS, ga, gb, g_next};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  // the loops touch no Python object: other Python threads (a sweep worker's heartbeat)
  // run while they do
  m.def("recurrence_forward", &recurrence_forward, "UnrolledL1L1 forward loop",
        py::call_guard<py::gil_scoped_release>());
  m.def("recurrence_backward", &recurrence_backward, "UnrolledL1L1 backward loop",
        py::call_guard<py::gil_scoped_release>());
  m.def("precomposed_forward", &precomposed_forward, "PrecomposedL1L1 forward loop",
        py::call_guard<py::gil_scoped_release>());
  m.def("precomposed_backward", &precomposed_backward, "PrecomposedL1L1 backward loop",
        py::call_guard<py::gil_scoped_release>());
}
