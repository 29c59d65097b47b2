// A StatsView in the same state as Debian's haproxy 2.6 right after it started with
// testdata/haproxy.cfg (the state testdata/show_stat.csv shows), and a fake AdminTarget.
#pragma once

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "lb/stats/admin_api.h"
#include "lb/stats/view.h"

namespace tandem::lb::stats::testing {

inline std::string read_testdata(const std::string& name) {
  // Beside this header, wherever the build runs.
  std::ifstream in(std::filesystem::path(__FILE__).parent_path() / "testdata" / name,
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline ServerView server(std::string name, uint32_t id, uint32_t weight = 1) {
  ServerView s;
  s.name = std::move(name);
  s.id = id;
  s.host = "127.0.0.1";
  s.port = 9;
  s.address = "127.0.0.1:9";
  s.weight = s.initial_weight = weight;
  return s;
}

inline StatsView sample_view() {
  StatsView v;
  v.process.version = "0.1.0";
  v.process.pid = 4242;
  v.process.nbthread = 2;
  v.process.maxconn = v.process.hard_maxconn = 1000;

  ProxyView fe;
  fe.name = "fe";
  fe.id = 2;
  fe.kind = ProxyKind::kFrontend;
  fe.maxconn = 1000;
  v.proxies.push_back(fe);

  ProxyView be;
  be.name = "be";
  be.id = 3;
  be.kind = ProxyKind::kBackend;
  be.fullconn = 100;
  be.algorithm = "roundrobin";
  ServerView s1 = server("s1", 1);
  s1.checked = true;
  s1.op = OpState::kStopped;
  s1.health = 0;
  s1.check_failures = 1;
  s1.check_downs = 1;
  s1.last_check =
      CheckInfo{"L4CON", std::nullopt, 0, "Layer4 connection problem", "Connection refused", false};
  ServerView s2 = server("s2", 2, 50);
  s2.admin = AdminState::kMaint;
  s2.maint_from_config = true;
  ServerView s3 = server("s3", 3);
  s3.backup = true;
  be.servers = {s1, s2, s3};
  v.proxies.push_back(be);

  ProxyView li;
  li.name = "li";
  li.id = 4;
  li.kind = ProxyKind::kListen;
  li.maxconn = 1000;
  li.fullconn = 100;
  li.algorithm = "roundrobin";
  li.servers = {server("l1", 1)};
  v.proxies.push_back(li);

  ProxyView tc;
  tc.name = "tc";
  tc.id = 5;
  tc.kind = ProxyKind::kListen;
  tc.mode = "tcp";
  tc.maxconn = 1000;
  tc.fullconn = 100;
  tc.algorithm = "leastconn";
  ServerView t1 = server("t1", 1);
  t1.checked = true;
  t1.rise = 3;
  t1.fall = 2;
  t1.health = 3;
  t1.maxconn = 30;
  t1.maxqueue = 5;
  ServerView t2 = server("t2", 2, 0);
  t2.backup = true;
  tc.servers = {t1, t2};
  v.proxies.push_back(tc);
  return v;
}

// Keeps a StatsView and applies the runtime API's changes to it, recording each call.
class FakeTarget : public AdminTarget {
 public:
  explicit FakeTarget(StatsView v) : view_(std::move(v)) {}
  StatsView view() override { return view_; }
  core::Result<void> set_admin_state(std::string_view b, std::string_view s,
                                     AdminState state) override {
    log_ += fmt::format("state {}/{} {};", b, s, to_string(state));
    find(b, s).admin = state;
    return {};
  }
  core::Result<void> set_weight(std::string_view b, std::string_view s, uint32_t w) override {
    log_ += fmt::format("weight {}/{} {};", b, s, w);
    find(b, s).weight = w;
    return {};
  }
  core::Result<void> set_maxconn(std::string_view b, std::string_view s, uint32_t m) override {
    log_ += fmt::format("maxconn {}/{} {};", b, s, m);
    find(b, s).maxconn = m;
    return {};
  }
  core::Result<void> shutdown_sessions(std::string_view b, std::string_view s) override {
    log_ += fmt::format("shutdown {}/{};", b, s);
    if (fail_shutdown_) return core::fail("shutdown failed\n");
    return {};
  }
  const std::string& log() const { return log_; }
  StatsView& state() { return view_; }
  void fail_shutdown() { fail_shutdown_ = true; }

 private:
  ServerView& find(std::string_view b, std::string_view s) {
    return *view_.find_proxy(b)->find_server(s);
  }
  StatsView view_;
  std::string log_;
  bool fail_shutdown_ = false;
};

}  // namespace tandem::lb::stats::testing
