// The backend factory (kernels/backend_factory.h): device strings, which dtypes each device takes,
// and the errors a user gets for a bad device or for CUDA in a build without it.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "common/error.h"
#include "engine/reranker.h"
#include "kernels/backend_factory.h"
#include "kernels/cuda/cuda_plan.h"
#include "test_data.h"

namespace rerankd {
namespace {

Error::Kind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no Error thrown";
  return Error::Kind::kInternal;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(BackendFactory, ParsesDeviceNames) {
  EXPECT_EQ(parse_device("cpu"), (DeviceName{DeviceName::Kind::kCpu, 0}));
  EXPECT_EQ(parse_device(" CPU "), (DeviceName{DeviceName::Kind::kCpu, 0}));
  EXPECT_EQ(parse_device("cuda"), (DeviceName{DeviceName::Kind::kCuda, 0}));
  EXPECT_EQ(parse_device("cuda:0"), (DeviceName{DeviceName::Kind::kCuda, 0}));
  EXPECT_EQ(parse_device("CUDA:3"), (DeviceName{DeviceName::Kind::kCuda, 3}));
  EXPECT_EQ(parse_device("cuda:12").to_string(), "cuda:12");
  EXPECT_EQ(parse_device("cuda").to_string(), "cuda:0");
  EXPECT_EQ(parse_device("cpu").to_string(), "cpu");
}

TEST(BackendFactory, RefusesMalformedDevicesNamingTheForms) {
  for (const char* bad : {"", "gpu", "cuda:", "cuda:-1", "cuda:+1", "cuda:x", "cuda:1x", "cuda:99999999999", "cpu:0",
                          "cuda0", "metal"}) {
    EXPECT_EQ(kind_of([&] { parse_device(bad); }), Error::Kind::kInvalidInput) << bad;
    const std::string m = message_of([&] { parse_device(bad); });
    EXPECT_NE(m.find("expected cpu, cuda or cuda:N"), std::string::npos) << m;
    std::string quoted = "'";  // built by appending: GCC 12's -Wrestrict misfires on "'" + std::string
    quoted += bad;
    quoted += '\'';
    EXPECT_NE(m.find(quoted), std::string::npos) << m;
  }
}

TEST(BackendFactory, MakesTheCpuBackend) {
  MadeBackend made = make_backend({.device = "cpu", .dtype = "float32", .threads = 1});
  ASSERT_NE(made.backend, nullptr);
  EXPECT_EQ(made.backend->name(), "cpu");
  EXPECT_EQ(made.backend->precision(), "float32");
  EXPECT_EQ(made.backend->threads(), 1);
  EXPECT_EQ(made.precision_reason, "requested");
  EXPECT_NE(made.backend->describe().find("cpu"), std::string::npos);
  // auto resolves to something concrete, with its reason.
  made = make_backend({.device = "cpu", .dtype = "auto"});
  EXPECT_NE(made.backend->precision(), "auto");
  EXPECT_GE(made.backend->threads(), 1);
  EXPECT_EQ(made.precision_reason.rfind("auto", 0), 0u) << made.precision_reason;
  // int8 is made, with the warning that it misses its accuracy budget.
  made = make_backend({.device = "cpu", .dtype = "int8", .threads = 1});
  EXPECT_EQ(made.backend->precision(), "int8");
  EXPECT_FALSE(made.warning.empty());
}

TEST(BackendFactory, EachDeviceRefusesTheDtypesItLacks) {
  EXPECT_EQ(kind_of([] { make_backend({.device = "cpu", .dtype = "float16"}); }), Error::Kind::kInvalidInput);
  EXPECT_NE(message_of([] { make_backend({.device = "cpu", .dtype = "float16"}); }).find("CUDA"), std::string::npos);
  EXPECT_EQ(kind_of([] { make_backend({.device = "cpu", .dtype = "fp8"}); }), Error::Kind::kInvalidInput);
  // The CUDA dtype is judged before the device is looked for, in every build.
  EXPECT_EQ(kind_of([] { make_backend({.device = "cuda", .dtype = "int8"}); }), Error::Kind::kInvalidInput);
  EXPECT_NE(message_of([] { make_backend({.device = "cuda", .dtype = "int8"}); }).find("CPU only"),
            std::string::npos);
  EXPECT_EQ(kind_of([] { make_backend({.device = "cuda:0", .dtype = "half"}); }), Error::Kind::kInvalidInput);
  for (const std::string& d : known_dtypes()) {
    EXPECT_NO_THROW(cuda::choose_precision(d == "int8" ? "auto" : d)) << d;
  }
}

TEST(BackendFactory, CudaPrecisionChoice) {
  EXPECT_EQ(cuda::choose_precision("auto").precision, cuda::CudaPrecision::kFloat16);
  EXPECT_EQ(cuda::choose_precision("float16").precision, cuda::CudaPrecision::kFloat16);
  EXPECT_EQ(cuda::choose_precision("bfloat16").precision, cuda::CudaPrecision::kBFloat16);
  EXPECT_EQ(cuda::choose_precision("float32").precision, cuda::CudaPrecision::kFloat32);
  EXPECT_STREQ(cuda::precision_name(cuda::CudaPrecision::kBFloat16), "bfloat16");
  EXPECT_EQ(cuda::element_bytes(cuda::CudaPrecision::kFloat32), 4);
  EXPECT_EQ(cuda::element_bytes(cuda::CudaPrecision::kFloat16), 2);
}

TEST(BackendFactory, CudaWithoutTheCudaBackendIsAClearError) {
  if (cuda_backend_built()) GTEST_SKIP() << "this build has the CUDA backend";
  for (const char* device : {"cuda", "cuda:0", "cuda:1"}) {
    EXPECT_EQ(kind_of([&] { make_backend({.device = device, .dtype = "auto"}); }), Error::Kind::kInvalidInput);
    const std::string m = message_of([&] { make_backend({.device = device, .dtype = "auto"}); });
    EXPECT_NE(m.find("built without the CUDA backend"), std::string::npos) << m;
    EXPECT_NE(m.find("-DRERANKD_CUDA=ON"), std::string::npos) << m;
  }
}

TEST(BackendFactory, RerankerReportsItsDevice) {
  RerankerOptions options;
  options.model_dir = testing::model_dir("tiny");
  options.dtype = "float32";
  options.threads = 1;
  Reranker reranker(options);
  EXPECT_EQ(reranker.device(), "cpu");
  EXPECT_EQ(reranker.compute_threads(), 1);
  EXPECT_EQ(reranker.precision(), "float32");

  options.device = "tpu";
  EXPECT_EQ(kind_of([&] { Reranker r(options); }), Error::Kind::kInvalidInput);
}

}  // namespace
}  // namespace rerankd
