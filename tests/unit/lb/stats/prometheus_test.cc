// The Prometheus text: haproxy 2.6 exporter names and types (captured), labels, promtool.
#include "lb/stats/prometheus.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "sample_view.h"

namespace tandem::lb::stats {
namespace {

using testing::read_testdata;
using testing::sample_view;

// name -> type, from the "# TYPE" lines.
std::map<std::string, std::string> types(const std::string& text) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while ((pos = text.find("# TYPE ", pos)) != std::string::npos) {
    const size_t eol = text.find('\n', pos);
    const std::string line = text.substr(pos + 7, eol - pos - 7);
    const size_t sp = line.find(' ');
    EXPECT_TRUE(out.emplace(line.substr(0, sp), line.substr(sp + 1)).second) << line;
    pos = eol;
  }
  return out;
}

TEST(StatsPrometheus, HaproxyNamesAndTypesAreHaproxys) {
  const auto theirs = types(read_testdata("metrics.txt"));
  ASSERT_GT(theirs.size(), 150u);
  const auto ours = types(render_prometheus(sample_view()));
  size_t haproxy = 0;
  for (const auto& [name, type] : ours) {
    if (name.starts_with("tandem_")) continue;
    ++haproxy;
    ASSERT_TRUE(theirs.count(name)) << name << " is not a haproxy 2.6 metric";
    EXPECT_EQ(theirs.at(name), type) << name;
  }
  // What dashboards for haproxy's exporter read most; docs/operations.md lists what is left.
  for (const char* name : {"haproxy_process_uptime_seconds",
                           "haproxy_process_current_connections",
                           "haproxy_frontend_current_sessions",
                           "haproxy_frontend_bytes_in_total",
                           "haproxy_frontend_bytes_out_total",
                           "haproxy_frontend_http_responses_total",
                           "haproxy_frontend_http_requests_total",
                           "haproxy_frontend_request_errors_total",
                           "haproxy_frontend_status",
                           "haproxy_backend_status",
                           "haproxy_backend_active_servers",
                           "haproxy_backend_current_queue",
                           "haproxy_backend_connection_errors_total",
                           "haproxy_backend_response_time_average_seconds",
                           "haproxy_server_status",
                           "haproxy_server_weight",
                           "haproxy_server_check_status",
                           "haproxy_server_check_duration_seconds",
                           "haproxy_server_current_sessions",
                           "haproxy_server_http_responses_total",
                           "haproxy_server_check_failures_total"}) {
    EXPECT_TRUE(ours.count(name)) << name;
  }
  EXPECT_GE(haproxy, 120u);
  EXPECT_EQ(ours.at("tandem_http_parser_rejections_total"), "counter");
  EXPECT_EQ(ours.at("tandem_connection_reuse_hits_total"), "counter");
  EXPECT_EQ(ours.at("tandem_spliced_bytes_total"), "counter");
}

TEST(StatsPrometheus, SamplesAndLabels) {
  StatsView v = sample_view();
  v.proxies[0].frontend.http_responses[2] = 7;
  v.proxies[0].rejects[static_cast<size_t>(http1::RejectReason::kBareLf)] = 3;
  v.proxies[1].servers[0].last_check->duration_ms = 1500;
  const std::string text = render_prometheus(v);
  for (const char* line : {
           "haproxy_frontend_http_responses_total{proxy=\"fe\",code=\"2xx\"} 7\n",
           "haproxy_server_status{proxy=\"be\",server=\"s1\",state=\"DOWN\"} 1\n",
           "haproxy_server_status{proxy=\"be\",server=\"s1\",state=\"UP\"} 0\n",
           "haproxy_server_status{proxy=\"be\",server=\"s2\",state=\"MAINT\"} 1\n",
           "haproxy_server_check_status{proxy=\"be\",server=\"s1\",state=\"L4CON\"} 1\n",
           "haproxy_server_check_duration_seconds{proxy=\"be\",server=\"s1\"} 1.500000\n",
           "haproxy_server_limit_sessions{proxy=\"be\",server=\"s1\"} NaN\n",
           "haproxy_server_limit_sessions{proxy=\"tc\",server=\"t1\"} 30\n",
           "haproxy_backend_status{proxy=\"be\",state=\"UP\"} 1\n",
           "haproxy_backend_agg_server_status{proxy=\"be\",state=\"MAINT\"} 1\n",
           "haproxy_frontend_status{proxy=\"fe\",state=\"UP\"} 1\n",
           "haproxy_process_nbthread 2\n",
           "tandem_http_parser_rejections_total{proxy=\"fe\",reason=\"bare_lf\"} 3\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
  // TCP proxies have no HTTP families; backends have no frontend ones.
  EXPECT_EQ(text.find("haproxy_frontend_http_requests_total{proxy=\"tc\"}"), std::string::npos);
  EXPECT_EQ(text.find("haproxy_frontend_current_sessions{proxy=\"be\"}"), std::string::npos);
  // Only these labels: parse each sample's {name="value",...}.
  const std::set<std::string> allowed = {"proxy", "server", "state", "code", "version", "reason"};
  size_t samples = 0;
  for (size_t pos = 0; pos < text.size();) {
    const size_t eol = text.find('\n', pos);
    const std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.starts_with('#')) continue;
    ++samples;
    const size_t open = line.find('{');
    if (open == std::string::npos) continue;
    size_t i = open + 1;
    while (line[i] != '}') {
      const size_t eq = line.find('=', i);
      ASSERT_NE(eq, std::string::npos) << line;
      EXPECT_TRUE(allowed.count(line.substr(i, eq - i))) << line;
      ASSERT_EQ(line[eq + 1], '"') << line;
      i = eq + 2;
      while (line[i] != '"') i += line[i] == '\\' ? 2 : 1;
      ++i;
      if (line[i] == ',') ++i;
    }
  }
  EXPECT_GT(samples, 300u);
}

TEST(StatsPrometheus, LabelValuesAreEscaped) {
  StatsView v = sample_view();
  v.proxies[0].name = "a\"b\\c";
  EXPECT_NE(render_prometheus(v).find("proxy=\"a\\\"b\\\\c\""), std::string::npos);
}

TEST(StatsPrometheus, PromtoolAcceptsTheOutput) {
  const char* promtool = "/usr/bin/promtool";
  if (!std::filesystem::exists(promtool)) {
    GTEST_SKIP() << "promtool missing (Debian package prometheus; scripts/install-deps)";
  }
  StatsView v = sample_view();
  v.proxies[1].servers[0].throttle_pct = 50;
  const auto path = std::filesystem::temp_directory_path() /
                    ("tandem-stats-metrics-" + std::to_string(::getpid()) + ".txt");
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    const std::string text = render_prometheus(v);
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
  const std::string out = path.string() + ".out";
  const std::string cmd =
      std::string(promtool) + " check metrics < " + path.string() + " > " + out + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::FILE* f = std::fopen(out.c_str(), "r");
  std::string report;
  if (f) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) report.append(buf, n);
    std::fclose(f);
  }
  std::filesystem::remove(path);
  std::filesystem::remove(out);
  EXPECT_EQ(rc, 0) << report;
  EXPECT_EQ(report, "");
}

}  // namespace
}  // namespace tandem::lb::stats
