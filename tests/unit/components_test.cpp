// Small pieces with exact expected outputs: the JSON writer, the metrics text.
#include <gtest/gtest.h>

#include <cmath>

#include "common/json_writer.h"
#include "common/metrics.h"

namespace rerankd {
namespace {

TEST(JsonWriter, EscapesAndSeparates) {
  JsonWriter w;
  w.begin_object().key("a").value("x\"y\\\n\x01").key("b").begin_array().value(1).value(2.5).value(true).null();
  w.end_array().key("nan").value(std::nan("")).end_object();
  EXPECT_EQ(w.str(), R"({"a":"x\"y\\\n\u0001","b":[1,2.5,true,null],"nan":null})");
}

TEST(JsonWriter, ReplacesIllFormedUtf8) {
  JsonWriter w;
  // Valid 2-, 3- and 4-byte sequences pass; a lone continuation byte, a truncated sequence, an
  // overlong form, a surrogate and a lead byte past U+10FFFF each become U+FFFD.
  w.value("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xbc|\x80|\xe2\x82|\xc0\xaf|\xed\xa0\x80|\xf5\x80\x80\x80|");
  EXPECT_EQ(w.str(), "\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xbc|\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd|"
                     "\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd\\ufffd|\"");
}

TEST(Metrics, RendersPrometheusText) {
  MetricsRegistry r;
  r.counter("t_requests_total", "Requests", {{"route", "/rerank"}, {"status", "200"}}).inc(3);
  r.gauge("t_depth", "Depth").set(2);
  auto& h = r.histogram("t_latency_seconds", "Latency", {0.1, 1});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  const std::string text = r.render();
  EXPECT_NE(text.find("# TYPE t_requests_total counter\nt_requests_total{route=\"/rerank\",status=\"200\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("t_depth 2\n"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_bucket{le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_count 3\n"), std::string::npos);
}

TEST(Metrics, LabelledGaugeCallbacksRenderOneSeriesEach) {
  MetricsRegistry r;
  const Labels a{{"model", "a"}}, b{{"model", "b\"q"}};
  r.gauge_callback("t_queue", "Queue", [] { return 1.0; }, a);
  r.gauge_callback("t_queue", "Queue", [] { return 2.0; }, b);
  r.counter("t_rejected_total", "Rejected", a + Labels{{"reason", "deadline"}}).inc();
  const std::string text = r.render();
  EXPECT_NE(text.find("t_queue{model=\"a\"} 1\nt_queue{model=\"b\\\"q\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_rejected_total{model=\"a\",reason=\"deadline\"} 1\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("# HELP t_queue"), text.rfind("# HELP t_queue"));  // one family, two series
}

}  // namespace
}  // namespace rerankd
