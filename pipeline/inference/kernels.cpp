// The native module's Python bindings: one extension for the fused decoder's CPU kernels
// (native.py builds it from this file and the kernels' own).
#include <torch/extension.h>

torch::Tensor decode_attention(torch::Tensor q, torch::Tensor keys, torch::Tensor values, torch::Tensor lengths,
                               double scale);
torch::Tensor pack_few_rows(torch::Tensor weight);
torch::Tensor few_rows_linear(torch::Tensor x, torch::Tensor packed, int64_t N, std::optional<torch::Tensor> bias,
                              std::optional<torch::Tensor> residual);

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("decode_attention", &decode_attention, "one decoding step's attention over packed KV slabs (float32, CPU)");
  m.def("pack_few_rows", &pack_few_rows, "a [N, K] weight in few_rows_linear's layout [ceil(N / 32), K, 32]");
  m.def("few_rows_linear", &few_rows_linear, "(x W^T + bias) + residual for a few rows, float32, CPU",
        pybind11::arg("x"), pybind11::arg("packed"), pybind11::arg("out_features"), pybind11::arg("bias") = pybind11::none(),
        pybind11::arg("residual") = pybind11::none());
}
