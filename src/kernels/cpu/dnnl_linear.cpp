#include "kernels/cpu/dnnl_linear.h"

#include <cstring>
#include <unordered_map>

#include "common/error.h"

namespace rerankd::cpu {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

}  // namespace

dnnl::matmul::primitive_desc DnnlLinearRunner::make_pd(int64_t rows, int64_t in, int64_t out,
                                                       const memory::desc& weights_md, bool has_bias,
                                                       Epilogue epilogue, bool accumulate, dt dst_type) const {
  const memory::desc src_md({rows, in}, compute_type_, tag::ab);
  const memory::desc bias_md({1, out}, dt::f32, tag::ab);
  const memory::desc dst_md({rows, out}, dst_type, tag::ab);
  dnnl::post_ops ops;
  if (accumulate) ops.append_sum(1.f);
  if (epilogue == Epilogue::kGelu) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f);
  if (epilogue == Epilogue::kTanh) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_tanh, 0.f, 0.f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  // Without bias the primitive adds none, rather than a bias of zeros.
  const dnnl::matmul::desc desc =
      has_bias ? dnnl::matmul::desc(src_md, weights_md, bias_md, dst_md) : dnnl::matmul::desc(src_md, weights_md, dst_md);
  return dnnl::matmul::primitive_desc(desc, attr, engine_);
}

std::unique_ptr<DnnlLinear> DnnlLinearRunner::pack(const StackedWeights& stacked) {
  auto linear = std::make_unique<DnnlLinear>();
  linear->runner = this;
  linear->in_features = stacked.in;
  linear->out_features = stacked.out;
  const int64_t in = stacked.in, out = stacked.out;

  // The [out, in] torch layout is W^T as [in, out] "ba".
  const memory::desc any_md({in, out}, compute_type_, tag::any);
  memory::desc packed_md = make_pd(kPackingRows, in, out, any_md, !stacked.bias.empty(), Epilogue::kNone, false, dt::f32).weights_desc();
  // Where the matmul asks for plain [in, out] rows ("ab": oneDNN 2.6's gemm:jit, its only float32
  // matmul on AVX2), it runs batches of up to 256 rows at half speed with them (63-75 GFLOP/s at
  // 128 or 256 rows against 118-140 at 512, measured on a 2-core AVX2 EPYC), and at full speed at
  // every size with torch's [out, in] rows (92-127 at 128-256 rows, 133-149 at 2048). A blocked
  // layout (brgemm, AVX-512) is kept as chosen.
  if (packed_md == memory::desc({in, out}, compute_type_, tag::ab)) {
    packed_md = memory::desc({in, out}, compute_type_, tag::ba);
  }
  // The reorder converts float32 to bf16 (round to nearest even) when the packed layout is bf16.
  linear->weights = pack_weights(engine_, stream_, {{in, out}, dt::f32, tag::ba}, stacked.weights.data(), packed_md);
  if (!stacked.bias.empty()) {
    linear->bias = memory({{1, out}, dt::f32, tag::ab}, engine_);
    std::memcpy(linear->bias.get_data_handle(), stacked.bias.data(), stacked.bias.size() * sizeof(float));
  }
  return linear;
}

void DnnlLinear::forward(const CpuMatrix& src, int64_t rows, Epilogue epilogue, CpuMatrix& dst) const {
  const void* input = runner->compute_type() == dt::bf16 ? static_cast<const void*>(src.bf16(rows)) : src.floats();
  if (dst.keeps_floats()) {
    runner->run(*this, input, rows, epilogue, false, dst.write_floats(), dt::f32);
  } else if (dst.narrow_form() == NarrowForm::kBFloat16) {
    runner->run(*this, input, rows, epilogue, false, dst.write_narrow(rows).bf16, dt::bf16);
  } else {
    throw Error(Error::Kind::kInternal, "a float32/bf16 linear layer cannot write an int8-only matrix");
  }
}

void DnnlLinear::forward_residual_norm(const CpuMatrix& src, int64_t rows, const LayerNormParams& norm,
                                       CpuMatrix& dst) const {
  const void* input = runner->compute_type() == dt::bf16 ? static_cast<const void*>(src.bf16(rows)) : src.floats();
  const CpuMatrix::Both out = dst.write_both(rows);
  runner->run(*this, input, rows, Epilogue::kNone, /*accumulate=*/true, out.floats, dt::f32);
  layer_norm_rows(out.floats, rows, dst.width, norm, out.narrow);
}

void DnnlLinear::forward_residual(const CpuMatrix& src, int64_t rows, CpuMatrix& dst) const {
  const void* input = runner->compute_type() == dt::bf16 ? static_cast<const void*>(src.bf16(rows)) : src.floats();
  dst.floats();  // the sum post-op reads them: they must be current
  runner->run(*this, input, rows, Epilogue::kNone, /*accumulate=*/true, dst.write_floats(), dt::f32);
}

void DnnlLinearRunner::run(const DnnlLinear& linear, const void* src, int64_t rows, Epilogue epilogue,
                           bool accumulate, void* dst, dt dst_type) {
  const int64_t in = linear.in_features, out = linear.out_features;
  const bool has_bias = static_cast<bool>(linear.bias);
  const dnnl::matmul& matmul =
      cache_.get({rows, in, out, has_bias, static_cast<int>(epilogue), accumulate, static_cast<int>(dst_type)}, [&] {
        return make_pd(rows, in, out, linear.weights.get_desc(), has_bias, epilogue, accumulate, dst_type);
      });
  memory src_mem({{rows, in}, compute_type_, tag::ab}, engine_, const_cast<void*>(src));
  memory dst_mem({{rows, out}, dst_type, tag::ab}, engine_, dst);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, linear.weights}, {DNNL_ARG_DST, dst_mem}};
  if (has_bias) args.emplace(DNNL_ARG_BIAS, linear.bias);
  matmul.execute(stream_, args);
  stream_.wait();
}

}  // namespace rerankd::cpu
