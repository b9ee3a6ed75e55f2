#include "kernels/cuda/cuda_matmul.h"

#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_plan.h"

namespace rerankd::cuda {

cudaDataType_t cuda_type(ElementType type) {
  switch (type) {
    case ElementType::kFloat32: return CUDA_R_32F;
    case ElementType::kFloat16: return CUDA_R_16F;
    case ElementType::kBFloat16: return CUDA_R_16BF;
  }
  return CUDA_R_32F;
}

namespace {

// Shapes seen grow with distinct token counts; past this many the cache starts again.
constexpr size_t kMaxPlans = 4096;

// An element type by its precision's name.
const char* type_name(ElementType type) {
  for (const CudaPrecision p : {CudaPrecision::kFloat32, CudaPrecision::kFloat16, CudaPrecision::kBFloat16}) {
    if (element_type(p) == type) return precision_name(p);
  }
  return "?";
}

class Preference {
 public:
  Preference() { check(cublasLtMatmulPreferenceCreate(&p_), "cublasLtMatmulPreferenceCreate"); }
  ~Preference() { cublasLtMatmulPreferenceDestroy(p_); }
  Preference(const Preference&) = delete;
  Preference& operator=(const Preference&) = delete;
  cublasLtMatmulPreference_t get() const { return p_; }

 private:
  cublasLtMatmulPreference_t p_ = nullptr;
};

}  // namespace

struct LtMatmul::Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool fused = true;  // the epilogue runs inside the matmul

  ~Plan() {
    if (d != nullptr) cublasLtMatrixLayoutDestroy(d);
    if (b != nullptr) cublasLtMatrixLayoutDestroy(b);
    if (a != nullptr) cublasLtMatrixLayoutDestroy(a);
    if (desc != nullptr) cublasLtMatmulDescDestroy(desc);
  }
};

LtMatmul::LtMatmul(void* workspace, int64_t workspace_bytes) : workspace_(workspace), workspace_bytes_(workspace_bytes) {
  check(cublasLtCreate(&handle_), "cublasLtCreate");
}

LtMatmul::~LtMatmul() {
  plans_.clear();
  if (handle_ != nullptr) cublasLtDestroy(handle_);
}

LtMatmul::Plan& LtMatmul::plan_for(const MatmulArgs& x) {
  const Key key{x.tokens, x.in_features, x.out_features, static_cast<int>(x.in_type), static_cast<int>(x.out_type),
                x.gelu, x.accumulate, x.bias != nullptr};
  if (auto it = plans_.find(key); it != plans_.end()) return *it->second;
  if (plans_.size() >= kMaxPlans) plans_.clear();

  // Tries the fused epilogue first, then none (bias and activation by our kernel).
  std::vector<HeuristicAttempt> attempts;
  for (const bool fused : {true, false}) {
    auto p = std::make_unique<Plan>();
    p->fused = fused;
    check(cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
    const cublasOperation_t transpose = CUBLAS_OP_T, none = CUBLAS_OP_N;
    check(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &transpose, sizeof transpose), "TRANSA");
    check(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &none, sizeof none), "TRANSB");
    // A Linear without bias (the decoders') fuses GELU alone, or needs no epilogue at all.
    const bool bias = x.bias != nullptr;
    const cublasLtEpilogue_t epilogue = !fused  ? CUBLASLT_EPILOGUE_DEFAULT
                                        : x.gelu ? (bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU)
                                                 : (bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT);
    check(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue),
          "EPILOGUE");
    const cudaDataType_t in = cuda_type(x.in_type), out = cuda_type(x.out_type);
    // W stored [N, K] row-major = column-major K x N (ld K), transposed; X^T column-major K x T.
    check(cublasLtMatrixLayoutCreate(&p->a, in, static_cast<uint64_t>(x.in_features), static_cast<uint64_t>(x.out_features),
                                     x.in_features),
          "layout A");
    check(cublasLtMatrixLayoutCreate(&p->b, in, static_cast<uint64_t>(x.in_features), static_cast<uint64_t>(x.tokens),
                                     x.in_features),
          "layout B");
    check(cublasLtMatrixLayoutCreate(&p->d, out, static_cast<uint64_t>(x.out_features), static_cast<uint64_t>(x.tokens),
                                     x.out_features),
          "layout D");
    Preference preference;
    const uint64_t workspace = static_cast<uint64_t>(workspace_bytes_);
    check(cublasLtMatmulPreferenceSetAttribute(preference.get(), CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace,
                                               sizeof workspace),
          "MAX_WORKSPACE_BYTES");
    // Split-K partial sums are reduced in the float32 compute type, never in place in a float16
    // output (the qkv and FFN outputs sum over 1024 and 4096 inputs).
    const uint32_t reduction = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
    check(cublasLtMatmulPreferenceSetAttribute(preference.get(), CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
                                               &reduction, sizeof reduction),
          "REDUCTION_SCHEME_MASK");
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(handle_, p->desc, p->a, p->b, p->d, p->d,
                                                                 preference.get(), 1, &result, &found);
    if (status == CUBLAS_STATUS_SUCCESS && found > 0) {
      p->algo = result.algo;
      if (!fused && (bias || x.gelu)) ++fallbacks_;  // a plain matmul has no epilogue to lose
      return *plans_.emplace(key, std::move(p)).first->second;
    }
    attempts.push_back({.epilogue = !fused   ? "none"
                                    : x.gelu ? (bias ? "bias + GELU" : "GELU")
                                             : (bias ? "bias" : "none"),
                        .status = cublasGetStatusName(status), .found = found});
  }
  throw Error(Error::Kind::kInternal, no_algorithm_message(x.tokens, x.in_features, x.out_features,
                                                           type_name(x.in_type), type_name(x.out_type), attempts));
}

void LtMatmul::run(const MatmulArgs& x, cudaStream_t stream) {
  if (x.tokens <= 0) return;
  Plan& p = plan_for(x);
  if (p.fused && x.bias != nullptr) {
    check(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &x.bias, sizeof x.bias),
          "BIAS_POINTER");
  }
  const float alpha = 1.f, beta = x.accumulate ? 1.f : 0.f;
  // C is D itself (in place, same layout) when accumulating; unread otherwise (beta 0).
  check(cublasLtMatmul(handle_, p.desc, &alpha, x.weight, p.a, x.input, p.b, &beta, x.output, p.d, x.output, p.d,
                       &p.algo, workspace_, static_cast<size_t>(workspace_bytes_), stream),
        "cublasLtMatmul");
  if (!p.fused && (x.bias != nullptr || x.gelu)) {
    launch_bias_activation(x.output, x.out_type, x.tokens, x.out_features, x.bias,
                           x.gelu ? Activation::kGeluErf : Activation::kNone, stream);
    check(cudaGetLastError(), "bias/activation kernel");
  }
}

}  // namespace rerankd::cuda
