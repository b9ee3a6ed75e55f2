// Engine benchmark (CPU, or CUDA with --device cuda): pairs/s, tokens/s and effective GFLOP/s of the forward pass over a grid of
// pair lengths and batch sizes, for each dtype, next to the oneDNN matmul ceiling at the model's own
// layer shapes measured in the same run. Prints a table, and JSON with --json. Not a test.
// --profile adds where each point's time goes, per backend op and weight shape.
//
//   rerankd_bench --model DIR [--device cpu|cuda] [--dtypes float32,bfloat16,int8] [--lengths 64,128,256,512] [--batches 1,8,32]
//                 [--profile] [--json FILE]
#include <CLI/CLI.hpp>
#include <dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "common/json_writer.h"
#include "common/process_stats.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/cpu_isa.h"
#include "kernels/backend_factory.h"
#include "kernels/cpu/cpu_topology.h"
#include "model/cross_encoder.h"
#include "tokenizer/load_tokenizer.h"
#include "profiling_backend.h"

namespace rerankd::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Median seconds of `run` over at least `min_reps` repetitions and `min_seconds` in all, after one warm-up.
template <typename F>
double median_seconds(F&& run, int min_reps, double min_seconds) {
  run();
  std::vector<double> times;
  const auto start = Clock::now();
  while (static_cast<int>(times.size()) < min_reps || seconds_since(start) < min_seconds) {
    const auto t = Clock::now();
    run();
    times.push_back(seconds_since(t));
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// One layer's matmuls as (K, N) at M tokens: an encoder's qkv, attention output, FFN up and down;
// a decoder's qkv (q may be wider than hidden, k and v narrower), o_proj, gate|up and down.
std::vector<std::pair<int64_t, int64_t>> layer_matmuls(const ModelConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  if (!c.decoder()) return {{H, 3 * H}, {H, H}, {H, I}, {I, H}};
  const int64_t Q = c.num_heads * c.head_dim(), KV = c.num_kv_heads * c.head_dim();
  return {{H, Q + 2 * KV}, {Q, H}, {H, 2 * I}, {I, H}};
}

// FLOPs of one forward pass: the layers' matmuls per token plus attention (QK^T and PV) per
// sequence, half of it where attention is causal. Embeddings, norms, softmax and the head are a
// rounding error and not counted.
double forward_flops(const ModelConfig& c, int64_t length, int64_t pairs) {
  double per_token = 0;
  for (auto [K, N] : layer_matmuls(c)) per_token += 2.0 * static_cast<double>(K * N);
  const double q_width = static_cast<double>(c.num_heads * c.head_dim());
  const double attention = (c.decoder() ? 2.0 : 4.0) * static_cast<double>(length * length) * q_width;
  const double per_layer = static_cast<double>(length * pairs) * per_token + static_cast<double>(pairs) * attention;
  return per_layer * static_cast<double>(c.num_layers);
}

// The matmul ceiling: the time oneDNN takes for one layer's four matmuls (qkv, attention output,
// FFN up, FFN down) at M tokens, as FLOP/s, in the given precision with prepacked weights.
double matmul_ceiling_gflops(const ModelConfig& c, const std::string& dtype, int64_t M) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  // The types the engine's encoder matmuls use: u8 x s8 -> s32 for int8, bf16 x bf16 -> f32 for bf16.
  dt src_t = dt::f32, wei_t = dt::f32, dst_t = dt::f32;
  if (dtype == "int8") src_t = dt::u8, wei_t = dt::s8, dst_t = dt::s32;
  if (dtype == "bfloat16") src_t = dt::bf16, wei_t = dt::bf16;
  double flops = 0, seconds = 0;
  for (auto [K, N] : layer_matmuls(c)) {
    dnnl::matmul::primitive_desc pd(
        dnnl::matmul::desc({{M, K}, src_t, tag::ab}, {{K, N}, wei_t, tag::any}, {{M, N}, dst_t, tag::ab}), engine);
    dnnl::memory src(pd.src_desc(), engine), wei(pd.weights_desc(), engine), dst(pd.dst_desc(), engine);
    std::memset(src.get_data_handle(), 1, pd.src_desc().get_size());
    std::memset(wei.get_data_handle(), 1, pd.weights_desc().get_size());
    dnnl::matmul mm(pd);
    seconds += median_seconds(
        [&] {
          mm.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
          stream.wait();
        },
        5, 0.5);
    flops += 2.0 * static_cast<double>(M * K * N);
  }
  return flops / seconds / 1e9;
}

// Per-op milliseconds per forward pass, largest first, as a table and into the point's JSON.
void report_profile(const ProfilingBackend& profiler, int64_t forwards, JsonWriter& json) {
  std::vector<std::pair<std::string, ProfilingBackend::OpTotal>> ops(profiler.totals().begin(),
                                                                     profiler.totals().end());
  std::sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  double total = 0;
  for (const auto& op : ops) total += op.second.seconds;
  json.key("ops").begin_array();
  for (const auto& [name, t] : ops) {
    const double ms = t.seconds * 1e3 / static_cast<double>(forwards);
    std::printf("%10s %-34s %5lld calls %9.1f ms %6.1f%%\n", "", name.c_str(),
                static_cast<long long>(t.calls / forwards), ms, 100 * t.seconds / total);
    json.begin_object().key("op").value(name).key("ms_per_forward").value(ms);
    json.key("calls_per_forward").value(t.calls / forwards).end_object();
  }
  json.end_array();
}

}  // namespace
}  // namespace rerankd::bench

int main(int argc, char** argv) try {
  using namespace rerankd;
  using namespace rerankd::bench;
  CLI::App app{"rerankd_bench: CPU forward-pass throughput against the matmul ceiling"};
  std::string model, json_path;
  std::vector<std::string> dtypes{"float32", "bfloat16", "int8"};
  std::vector<int64_t> lengths{64, 128, 256, 512}, batches{1, 8, 32};
  double min_seconds = 2.0;
  int threads = 0;
  bool profile = false;
  std::string device = "cpu";
  app.add_option("--model", model, "Model directory (a bge-reranker-v2-m3-shaped one for honest figures)")->required();
  app.add_option("--dtypes", dtypes, "Comma-separated dtypes")->delimiter(',')->capture_default_str();
  app.add_option("--lengths", lengths, "Pair lengths in tokens")->delimiter(',')->capture_default_str();
  app.add_option("--batches", batches, "Pairs per forward pass")->delimiter(',')->capture_default_str();
  app.add_option("--min-seconds", min_seconds, "Minimum measuring time per point")->capture_default_str();
  app.add_option("--threads", threads, "Compute threads (0 = physical cores)");
  app.add_option("--json", json_path, "Also write the results as JSON here");
  app.add_flag("--profile", profile, "Also break each point's time down by backend op");
  app.add_option("--device", device, "cpu, cuda or cuda:N (on CUDA: no oneDNN ceiling; GPU time, not host time)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  JsonWriter json;
  json.begin_object().key("model").value(model).key("isa").value(cpu::cpu_isa_name());
  const cpu::PrecisionChoice default_choice = cpu::choose_precision("auto");
  json.key("default_dtype").value(cpu::precision_name(default_choice.precision));
  json.key("default_reason").value(default_choice.reason);
  json.key("threads").value(threads > 0 ? threads : cpu::physical_cores()).key("results").begin_array();
  std::mt19937 rng(42);

  for (const std::string& dtype : dtypes) {
    const int64_t rss_before = resident_memory_bytes();
    MadeBackend made = make_backend({.device = device, .dtype = dtype, .threads = threads});
    Backend& made_backend = *made.backend;
    const bool on_cpu = made_backend.name() == "cpu";
    // The profiler only reads a clock around each op: ~170 calls a forward pass, noise-level (on the
    // CPU; a device backend's ops return before the device ran them).
    ProfilingBackend profiler(made_backend);
    Backend& backend = profile ? static_cast<Backend&>(profiler) : made_backend;
    const int64_t longest = *std::max_element(lengths.begin(), lengths.end());
    const int64_t most = *std::max_element(batches.begin(), batches.end());
    ModelConfig config = load_model_config(std::filesystem::path(model) / "config.json");
    // A decoder's head reads the answer tokens its tokenizer's recipe names.
    const AnswerTokens answer =
        config.decoder() ? load_tokenizer(model, config.family, read_tokenizer_files(model))->answer_tokens()
                         : AnswerTokens{};
    const std::unique_ptr<CrossEncoder> model_graph =
        load_cross_encoder(model, std::move(config), backend,
                           {.max_tokens = longest * most, .max_sequences = most, .max_sequence_length = longest},
                           answer);
    const int64_t rss = resident_memory_bytes();
    const ModelConfig& c = model_graph->config();
    const std::string precision = backend.precision();  // `auto` resolved
    const double ceiling = on_cpu ? matmul_ceiling_gflops(c, precision, 2048) : 0;
    std::printf("\n%s\n", made_backend.describe().c_str());
    std::printf("%s: matmul ceiling %.1f GFLOP/s at the model's layer shapes (M=2048); resident after load %lld MiB\n",
                precision.c_str(), ceiling, static_cast<long long>(rss >> 20));
    std::printf("%8s %6s %10s %11s %9s %9s %12s\n", "length", "batch", "pairs/s", "tokens/s", "GFLOP/s", "of ceil",
                "latency ms");
    std::uniform_int_distribution<int32_t> token(4, static_cast<int32_t>(std::min<int64_t>(c.vocab_size, 200000) - 1));
    for (int64_t length : lengths) {
      const int64_t L = std::min<int64_t>(length, c.max_sequence_length());
      for (int64_t pairs : batches) {
        PackedBatch batch(c.position_rule());
        for (int64_t p = 0; p < pairs; ++p) {
          std::vector<int32_t> ids(static_cast<size_t>(L));
          for (auto& id : ids) id = token(rng);
          ids.front() = 0;
          ids.back() = 2;
          batch.add(ids);
        }
        int64_t forwards = 0;
        const double t = median_seconds(
            [&] {
              if (forwards++ == 1) profiler.reset();  // after the warm-up: its one-time costs stay out
              model_graph->forward(batch);
            },
            2, min_seconds);
        const double gflops = forward_flops(c, L, pairs) / t / 1e9;
        std::printf("%8lld %6lld %10.2f %11.0f %9.1f %8.1f%% %12.1f\n", static_cast<long long>(L),
                    static_cast<long long>(pairs), static_cast<double>(pairs) / t,
                    static_cast<double>(L * pairs) / t, gflops, ceiling > 0 ? 100 * gflops / ceiling : 0.0, t * 1e3);
        std::fflush(stdout);
        json.begin_object().key("dtype").value(precision).key("length").value(L).key("batch").value(pairs);
        json.key("seconds").value(t).key("pairs_per_second").value(static_cast<double>(pairs) / t);
        json.key("tokens_per_second").value(static_cast<double>(L * pairs) / t).key("gflops").value(gflops);
        json.key("ceiling_gflops").value(ceiling).key("fraction_of_ceiling").value(ceiling > 0 ? gflops / ceiling : 0.0);
        json.key("resident_mib").value(rss >> 20).key("resident_mib_added").value((rss - rss_before) >> 20);
        if (profile) report_profile(profiler, forwards - 1, json);
        json.end_object();
      }
    }
  }
  json.end_array().end_object();
  if (!json_path.empty()) {
    std::ofstream(json_path) << json.str() << '\n';
  }
  return 0;
} catch (const std::exception& e) {  // a bad model directory or dtype: say so, no abort
  std::fprintf(stderr, "rerankd_bench: %s\n", e.what());
  return 1;
}
