#include "kernels/cpu/int8_linear.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "kernels/cpu/cpu_isa.h"
#include "kernels/cpu/int8_gemm.h"
#include "kernels/cpu/multiversion.h"
#include "kernels/cpu/vector_math.h"

namespace rerankd::cpu {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

RERANKD_KERNEL_BODY void dequantize_row_body(const int32_t* acc, int64_t n, float row_inverse_scale,
                                             const float* inverse_scale, const int32_t* compensation,
                                             const float* bias, Epilogue epilogue, bool accumulate, float* y) {
  if (accumulate) {
    for (int64_t i = 0; i < n; ++i) {
      y[i] += static_cast<float>(acc[i] - compensation[i]) * (row_inverse_scale * inverse_scale[i]) + bias[i];
    }
  } else if (epilogue == Epilogue::kGelu) {
    for (int64_t i = 0; i < n; ++i) {
      y[i] = gelu(static_cast<float>(acc[i] - compensation[i]) * (row_inverse_scale * inverse_scale[i]) + bias[i]);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      y[i] = static_cast<float>(acc[i] - compensation[i]) * (row_inverse_scale * inverse_scale[i]) + bias[i];
    }
  }
}
RERANKD_MULTIVERSION(void, dequantize_row,
                     (const int32_t* acc, int64_t n, float row_inverse_scale, const float* inverse_scale,
                      const int32_t* compensation, const float* bias, Epilogue epilogue, bool accumulate, float* y),
                     (acc, n, row_inverse_scale, inverse_scale, compensation, bias, epilogue, accumulate, y))

}  // namespace

Int8LinearRunner::Int8LinearRunner(dnnl::engine& engine, dnnl::stream& stream)
    : engine_(engine), stream_(stream), use_dnnl_(cpu_has_vnni()) {}

std::string Int8LinearRunner::kernel_name() const {
  if (use_dnnl_) return "oneDNN u8s8 (VNNI)";
  return std::string(int8_gemm_kernel_name()) + "; no VNNI, where oneDNN's int8 saturates with 8-bit weights";
}

dnnl::matmul::primitive_desc Int8LinearRunner::make_pd(int64_t rows, int64_t in, int64_t out,
                                                       const memory::desc& weights_md) const {
  const memory::desc src_md({rows, in}, dt::u8, tag::ab);
  const memory::desc dst_md({rows, out}, dt::s32, tag::ab);
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, weights_md, dst_md), engine_);
}

std::unique_ptr<Int8Linear> Int8LinearRunner::pack(const StackedWeights& stacked) {
  auto linear = std::make_unique<Int8Linear>();
  linear->runner = this;
  linear->in_features = stacked.in;
  linear->out_features = stacked.out;
  const int64_t in = stacked.in, out = stacked.out;

  // Kept as the weights by our own kernel, a temporary for oneDNN's packing: in pages of its own
  // either way (page_allocator.h).
  PageVector<int8_t> quantized(static_cast<size_t>(in * out));
  linear->inverse_scale.resize(static_cast<size_t>(out));
  linear->compensation.resize(static_cast<size_t>(out));
  const float range = kWeightRange;
  for (int64_t n = 0; n < out; ++n) {
    const float* w = stacked.weights.data() + n * in;
    float max_abs = 0.f;
    for (int64_t k = 0; k < in; ++k) max_abs = std::max(max_abs, std::fabs(w[k]));
    const float scale = max_abs > 0.f ? range / max_abs : 1.f;
    int32_t sum = 0;
    for (int64_t k = 0; k < in; ++k) {
      const auto q = static_cast<int8_t>(std::nearbyint(w[k] * scale));
      quantized[static_cast<size_t>(n * in + k)] = q;
      sum += q;
    }
    linear->inverse_scale[static_cast<size_t>(n)] = 1.f / scale;
    linear->compensation[static_cast<size_t>(n)] = use_dnnl_ ? kQuantizedActivationZeroPoint * sum : 0;
  }
  linear->bias = stacked.bias;
  linear->bias.resize(static_cast<size_t>(out), 0.f);

  if (!use_dnnl_) {
    linear->weight_rows = std::move(quantized);
    return linear;
  }
  const memory::desc any_md({in, out}, dt::s8, tag::any);
  linear->packed_weights = pack_weights(engine_, stream_, {{in, out}, dt::s8, tag::ba}, quantized.data(),
                                        make_pd(kPackingRows, in, out, any_md).weights_desc());
  return linear;
}

const int32_t* Int8LinearRunner::multiply(const Int8Linear& linear, const uint8_t* src, int64_t rows) {
  const int64_t in = linear.in_features, out = linear.out_features;
  const auto need = static_cast<size_t>(rows * out);
  if (accumulators_.size() < need) {
    // Exactly the rows asked for, never std::vector's doubling (this is [rows, 4H] int32s: 1 GB
    // at 64k tokens of bge-m3), and the old buffer goes first: its contents are dead.
    accumulators_ = std::vector<int32_t>();
    accumulators_.resize(need);
  }
  if (!use_dnnl_) {
    int8_gemm(src, linear.weight_rows.data(), rows, out, in, accumulators_.data());
    return accumulators_.data();
  }
  const dnnl::matmul& matmul =
      cache_.get({rows, in, out}, [&] { return make_pd(rows, in, out, linear.packed_weights.get_desc()); });
  memory src_mem({{rows, in}, dt::u8, tag::ab}, engine_, const_cast<uint8_t*>(src));
  memory dst_mem({{rows, out}, dt::s32, tag::ab}, engine_, accumulators_.data());
  matmul.execute(stream_, {{DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, linear.packed_weights}, {DNNL_ARG_DST, dst_mem}});
  stream_.wait();
  return accumulators_.data();
}

void Int8Linear::forward(const CpuMatrix& src, int64_t rows, Epilogue epilogue, CpuMatrix& dst) const {
  // Only the encoder runs in int8 (the head, with the tanh, stays float32: LinearUse::kHead).
  if (epilogue == Epilogue::kTanh) throw Error(Error::Kind::kInternal, "int8 linear layers take no tanh epilogue");
  const QuantizedRows input = src.quantized(rows);
  const int32_t* acc = runner->multiply(*this, input.values, rows);
  const int64_t out = out_features;
  auto dequantize = [&](int64_t r, float* y) {
    dequantize_row(acc + r * out, out, input.row_inverse_scale[r], inverse_scale.data(), compensation.data(),
                   bias.data(), epilogue, /*accumulate=*/false, y);
  };
  if (dst.keeps_floats()) {
    float* y = dst.write_floats();
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) dequantize(r, y + r * out);
    return;
  }
  if (dst.narrow_form() != NarrowForm::kInt8) {
    throw Error(Error::Kind::kInternal, "an int8 linear layer cannot write a bf16-only matrix");
  }
  // Kept only quantized: each row goes through a per-thread float32 buffer and never to memory.
  const NarrowRowsOut narrow = dst.write_narrow(rows);
#pragma omp parallel
  {
    thread_local std::vector<float> row;
    row.resize(static_cast<size_t>(out));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      dequantize(r, row.data());
      narrow.write_row(row.data(), r, out);
    }
  }
}

void Int8Linear::forward_residual_norm(const CpuMatrix& src, int64_t rows, const LayerNormParams& norm,
                                       CpuMatrix& dst) const {
  const QuantizedRows input = src.quantized(rows);
  const int32_t* acc = runner->multiply(*this, input.values, rows);
  const int64_t out = out_features;
  const CpuMatrix::Both both = dst.write_both(rows);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    float* y = both.floats + r * out;
    dequantize_row(acc + r * out, out, input.row_inverse_scale[r], inverse_scale.data(), compensation.data(),
                   bias.data(), Epilogue::kNone, /*accumulate=*/true, y);
    layer_norm_row(y, out, norm);
    both.narrow.write_row(y, r, out);
  }
}

void Int8Linear::forward_residual(const CpuMatrix& src, int64_t rows, CpuMatrix& dst) const {
  const QuantizedRows input = src.quantized(rows);
  const int32_t* acc = runner->multiply(*this, input.values, rows);
  const int64_t out = out_features;
  dst.floats();  // accumulated into: they must be current
  float* y = dst.write_floats();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    dequantize_row(acc + r * out, out, input.row_inverse_scale[r], inverse_scale.data(), compensation.data(),
                   bias.data(), Epilogue::kNone, /*accumulate=*/true, y + r * out);
  }
}

}  // namespace rerankd::cpu
