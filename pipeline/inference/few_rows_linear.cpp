// y = x W^T (+ b) (+ residual) for a few rows of x (a decoding step's), on a CPU: float32 weights,
// or bfloat16 ones (the bf16 decoder's) widened to float32 in registers, so a step reads half the
// bytes; x, the sums and y are float32 either way.
//
// Why: at 8 rows a decoding step only streams the weights (8 multiply-adds per weight read), and
// oneDNN's blocked kernel, which sits near the cores' multiply-add peak when the weights are hot,
// streamed them at 22-28 GB/s on a 2-core Zen 4 whose plain reads reach 35-60: its compute and its
// memory traffic do not overlap. This loop reads each block of 32 outputs' weights as one
// contiguous stream, fetched a few rows ahead, while 16 accumulators take the multiply-adds; the
// fused decoder's matmuls of one step at 8 rows then took 15 ms against oneDNN's 25
// (bench/generation.py prints both: projections_ms_per_step, onednn_projections_ms_per_step).
//
// Layout: W [N, K] is packed once into [ceil(N / 32), K, 32] (outputs padded with zeros): block b,
// input k holds W[32b .. 32b + 31, k], so a block's weights are read front to back exactly once.
// Rows run 8 at a time; a block's later row groups read its weights from the core's cache.
// Written with GCC vector types (16 floats), so the same source builds for AVX-512, AVX2 or SSE;
// g++ contracts a * s + acc into fused multiply-adds. Sums run over k in order, float32: the
// products equal a float32 F.linear's up to rounding (~1e-7 relative); with bf16 weights (x
// rounded to bf16 here first), each product is exact and only the sum rounds, as in a bf16 GEMM
// with float32 accumulation.
#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

namespace {

typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef uint16_t h16 __attribute__((vector_size(32), aligned(2)));
typedef uint32_t w16 __attribute__((vector_size(64)));
constexpr int64_t kCols = 32;   // outputs per block: two vectors
constexpr int64_t kRows = 8;    // rows per pass: 8 x 2 accumulators
constexpr int64_t kAhead = 32;  // inputs (weight rows of a block) fetched ahead of the one in use

inline v16 load(const float* p) {
  v16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline v16 load(const uint16_t* p) {  // 16 bfloat16 -> float32: the bits, 16 places up
  h16 half;
  std::memcpy(&half, p, sizeof half);
  const w16 wide = __builtin_convertvector(half, w16) << 16;
  v16 v;
  std::memcpy(&v, &wide, sizeof v);
  return v;
}

// y[m, n] = (sum_k x[m, k] W[n, k] + b[n]) + r[m, n] over the packed blocks, on the caller's team.
template <typename W>
void run(const float* xp, const W* wp, const float* bp, const float* rp, float* yp, int64_t M, int64_t K, int64_t N,
         int64_t blocks) {
  const int64_t groups = (M + kRows - 1) / kRows;
  constexpr int64_t lines = kCols * sizeof(W) / 64;  // cache lines per weight row of a block
  // Blocks split over the caller's OpenMP team (its own loop, not at::parallel_for: see
  // decode_attention.cpp), so each thread streams one contiguous run of the packed weight.
#pragma omp parallel
  {
    std::vector<float> tail(kRows * K);  // a last group of fewer than 8 rows, zero-padded
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const W* w = wp + blk * K * kCols;
      const int64_t n0 = blk * kCols, cols = std::min(kCols, N - n0);
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t m0 = g * kRows, rows = std::min(kRows, M - m0);
        const float* xs = xp + m0 * K;
        if (rows < kRows) {
          std::fill(tail.begin(), tail.end(), 0.f);
          std::memcpy(tail.data(), xs, rows * K * sizeof(float));
          xs = tail.data();
        }
        v16 acc[kRows][2] = {};
        for (int64_t k = 0; k < K; ++k) {
          if (g == 0) {  // the first pass streams the block from memory; later ones hit the cache
            const char* ahead = reinterpret_cast<const char*>(w + (k + kAhead) * kCols);
            for (int64_t line = 0; line < lines; ++line) __builtin_prefetch(ahead + 64 * line);
          }
          const v16 lo = load(w + k * kCols), hi = load(w + k * kCols + 16);
#pragma GCC unroll 8
          for (int64_t m = 0; m < kRows; ++m) {
            const float s = xs[m * K + k];
            acc[m][0] += lo * s;
            acc[m][1] += hi * s;
          }
        }
        for (int64_t m = 0; m < rows; ++m) {
          float sums[kCols];
          std::memcpy(sums, &acc[m][0], sizeof(v16));
          std::memcpy(sums + 16, &acc[m][1], sizeof(v16));
          float* out = yp + (m0 + m) * N + n0;
          const float* add = rp ? rp + (m0 + m) * N + n0 : nullptr;
          for (int64_t j = 0; j < cols; ++j) {
            float v = sums[j];
            if (bp) v += bp[n0 + j];
            if (add) v += add[j];
            out[j] = v;
          }
        }
      }
    }
  }
}

}  // namespace

// weight [N, K] float32 or bfloat16 -> [ceil(N / 32), K, 32] in its dtype, the layout
// few_rows_linear reads.
at::Tensor pack_few_rows(at::Tensor weight) {
  TORCH_CHECK(weight.device().is_cpu() && weight.dim() == 2 &&
                  (weight.scalar_type() == at::kFloat || weight.scalar_type() == at::kBFloat16),
              "weight must be a 2-D float32 or bfloat16 CPU tensor");
  const int64_t N = weight.size(0), K = weight.size(1), blocks = (N + kCols - 1) / kCols;
  auto padded = at::zeros({blocks * kCols, K}, weight.options());
  padded.narrow(0, 0, N).copy_(weight);
  return padded.view({blocks, kCols, K}).transpose(1, 2).contiguous();
}

// x [M, K] float32, packed [ceil(N / 32), K, 32] (pack_few_rows), bias [N] or None, residual
// [M, N] or None -> y [M, N] = (x W^T + bias) + residual, float32 (x rounded to bf16 first where
// the packed weight is bf16).
at::Tensor few_rows_linear(at::Tensor x, at::Tensor packed, int64_t N, std::optional<at::Tensor> bias,
                           std::optional<at::Tensor> residual) {
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == at::kFloat && x.dim() == 2, "x must be a 2-D float32 CPU tensor");
  const bool half = packed.scalar_type() == at::kBFloat16;
  TORCH_CHECK((half || packed.scalar_type() == at::kFloat) && packed.dim() == 3 && packed.size(2) == kCols &&
                  packed.is_contiguous(),
              "packed must come from pack_few_rows");
  const int64_t M = x.size(0), K = x.size(1), blocks = packed.size(0);
  TORCH_CHECK(packed.size(1) == K, "x has ", K, " features, the packed weight ", packed.size(1));
  TORCH_CHECK(N > (blocks - 1) * kCols && N <= blocks * kCols, "N does not match the packed weight");
  // bf16 weights take bf16 operands (as a bf16 GEMM does): x rounded to bf16, widened back
  x = half ? x.to(at::kBFloat16).to(at::kFloat) : x.contiguous();
  at::Tensor b, r;
  if (bias) {
    b = bias->contiguous();
    TORCH_CHECK(b.scalar_type() == at::kFloat && b.numel() == N, "bias must be float32 [N]");
  }
  if (residual) {
    r = residual->contiguous();
    TORCH_CHECK(r.scalar_type() == at::kFloat && r.dim() == 2 && r.size(0) == M && r.size(1) == N,
                "residual must be float32 [M, N]");
  }
  auto y = at::empty({M, N}, x.options());
  const float* bp = bias ? b.data_ptr<float>() : nullptr;
  const float* rp = residual ? r.data_ptr<float>() : nullptr;
  if (half) {
    run(x.data_ptr<float>(), reinterpret_cast<const uint16_t*>(packed.data_ptr<at::BFloat16>()), bp, rp,
        y.data_ptr<float>(), M, K, N, blocks);
  } else {
    run(x.data_ptr<float>(), packed.data_ptr<float>(), bp, rp, y.data_ptr<float>(), M, K, N, blocks);
  }
  return y;
}
