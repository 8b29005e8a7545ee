// Attention of a decoding step over the fused decoder's packed KV slabs, float32, on a CPU:
// one query token per row, each row over exactly its own real keys (positions [0, lengths[r])).
//
// Why: torch's SDPA runs a decoding step as R x G tiny tasks (3 queries x ~100 keys each) whose
// reads of the cache are latency-bound; measured inside the decoding loop on a 2-core Zen 4 it
// took 150-300 us a layer, twice what this loop takes with the next keys and values prefetched
// while the current ones are used. Same arithmetic (scaled dot products, max-shifted softmax,
// weighted sum of values), float32 throughout; the sums run in another order, so the outputs
// differ from SDPA's by float32 rounding (~1e-7 relative).
#include <ATen/ATen.h>

#include <cmath>
#include <vector>

namespace {

constexpr int64_t kAhead = 8;  // key rows fetched ahead of the one being scored

inline void prefetch_row(const float* row, int64_t dim) {
  for (int64_t c = 0; c < dim; c += 16) __builtin_prefetch(row + c);  // 16 floats = one 64-byte line
}

}  // namespace

// q [R, G, J, D] (J query heads per kv head), keys/values [R, G, C, D] with unit stride in D,
// lengths [R] (int64): out [R, G, J, D] = softmax(scale q k^T) v over each row's first lengths[r] keys.
at::Tensor decode_attention(at::Tensor q, at::Tensor keys, at::Tensor values, at::Tensor lengths,
                               double scale) {
  TORCH_CHECK(q.device().is_cpu() && q.scalar_type() == at::kFloat, "q must be a float32 CPU tensor");
  TORCH_CHECK(keys.scalar_type() == at::kFloat && values.scalar_type() == at::kFloat, "keys and values must be float32");
  TORCH_CHECK(q.dim() == 4 && keys.dim() == 4 && values.dim() == 4, "q, keys and values must be 4-D");
  TORCH_CHECK(keys.stride(3) == 1 && values.stride(3) == 1, "keys and values need unit stride in the head dimension");
  TORCH_CHECK(lengths.scalar_type() == at::kLong && lengths.numel() == q.size(0), "one int64 length per row");
  q = q.contiguous();
  lengths = lengths.contiguous();
  const int64_t R = q.size(0), G = q.size(1), J = q.size(2), D = q.size(3);
  TORCH_CHECK(keys.size(0) == R && keys.size(1) == G && keys.size(3) == D && values.sizes() == keys.sizes(),
              "keys and values must be [R, G, C, D] like q");
  const int64_t* len = lengths.data_ptr<int64_t>();
  for (int64_t r = 0; r < R; ++r) TORCH_CHECK(len[r] >= 1 && len[r] <= keys.size(2), "lengths must be in [1, C]");
  auto out = at::empty_like(q);
  const float* qp = q.data_ptr<float>();
  const float* kp = keys.data_ptr<float>();
  const float* vp = values.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const int64_t k_row = keys.stride(0), k_head = keys.stride(1), k_pos = keys.stride(2);
  const int64_t v_row = values.stride(0), v_head = values.stride(1), v_pos = values.stride(2);
  const float sc = static_cast<float>(scale);

  // An OpenMP loop of its own, not at::parallel_for: that one's first call in this library runs
  // at::init_num_threads() again, which sets the calling thread to the process-wide count the
  // last torch.set_num_threads left (1 after a forward on single-core streams), so the caller's
  // own ops would run on one core from then on.
  const int64_t tasks = R * G;
#pragma omp parallel
  {
    std::vector<float> scores;
#pragma omp for schedule(static)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t r = task / G, g = task % G, W = len[r];
      const float* qb = qp + task * J * D;
      const float* kb = kp + r * k_row + g * k_head;
      const float* vb = vp + r * v_row + g * v_head;
      float* ob = op + task * J * D;
      scores.assign(J * W, 0.f);
      // scores[j, w] = scale q_j . k_w; the value rows are fetched meanwhile for the second pass
      for (int64_t w = 0; w < W; ++w) {
        if (w + kAhead < W) prefetch_row(kb + (w + kAhead) * k_pos, D);
        prefetch_row(vb + w * v_pos, D);
        const float* k = kb + w * k_pos;
        for (int64_t j = 0; j < J; ++j) {
          const float* qj = qb + j * D;
          float dot = 0.f;
#pragma omp simd reduction(+ : dot)
          for (int64_t d = 0; d < D; ++d) dot += qj[d] * k[d];
          scores[j * W + w] = dot * sc;
        }
      }
      for (int64_t j = 0; j < J; ++j) {  // softmax over the row's keys, shifted by its max
        float* s = scores.data() + j * W;
        float top = -INFINITY, total = 0.f;
        for (int64_t w = 0; w < W; ++w) top = s[w] > top ? s[w] : top;
        for (int64_t w = 0; w < W; ++w) {
          s[w] = std::exp(s[w] - top);
          total += s[w];
        }
        const float inv = 1.f / total;
        for (int64_t w = 0; w < W; ++w) s[w] *= inv;
        for (int64_t d = 0; d < D; ++d) ob[j * D + d] = 0.f;
      }
      for (int64_t w = 0; w < W; ++w) {  // out[j] = sum_w p[j, w] v_w
        const float* v = vb + w * v_pos;
        for (int64_t j = 0; j < J; ++j) {
          const float p = scores[j * W + w];
          float* oj = ob + j * D;
#pragma omp simd
          for (int64_t d = 0; d < D; ++d) oj[d] += p * v[d];
        }
      }
    }
  }
  return out;
}
