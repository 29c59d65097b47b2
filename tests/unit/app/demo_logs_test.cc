// The demo reads the daemons' log lines: times, state changes, health-check verdicts.
#include "app/demo_logs.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>

namespace tandem::app::demo {
namespace {

TEST(DemoLogs, TimeOfALine) {
  std::tm tm{};
  tm.tm_year = 2026 - 1900;
  tm.tm_mon = 10;
  tm.tm_mday = 26;
  tm.tm_hour = 12;
  tm.tm_min = 3;
  tm.tm_sec = 4;
  tm.tm_isdst = -1;
  double want = static_cast<double>(std::mktime(&tm)) * 1000 + 56;
  auto t = log_time_ms("2026-11-26T12:03:04.056 tandem-vrrp[7] info: (VI_1) Entering ...");
  ASSERT_TRUE(t.has_value());
  EXPECT_DOUBLE_EQ(*t, want);
  EXPECT_FALSE(log_time_ms("demo-web web1: listening on 0.0.0.0:80"));
  EXPECT_FALSE(log_time_ms("2026-13-26T12:03:04.056 x"));
  EXPECT_FALSE(log_time_ms("2026-11-26T12:03:04 x"));
  EXPECT_FALSE(log_time_ms(""));
}

TEST(DemoLogs, StateChanges) {
  auto s = parse_state_line(
      "2026-11-26T12:03:04.056 tandem-vrrp[7] info: (VI_1) Entering MASTER STATE (preempting "
      "198.18.0.1 (priority 51 < ours 100))",
      "VI_1");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->state, "MASTER");
  EXPECT_EQ(s->reason, "preempting 198.18.0.1 (priority 51 < ours 100)");
  auto bare = parse_state_line("x: (VI_1) Entering BACKUP STATE", "VI_1");
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->state, "BACKUP");
  EXPECT_EQ(bare->reason, "");
  EXPECT_FALSE(parse_state_line("x: (VI_2) Entering BACKUP STATE (start)", "VI_1"));
  EXPECT_FALSE(parse_state_line("x: track_proxy lb: UP (listeners accept)", "VI_1"));
  EXPECT_FALSE(parse_state_line("x: (VI_1) Entering nothing", "VI_1"));
}

TEST(DemoLogs, HealthCheckVerdicts) {
  auto down = parse_check_line(
      "Server webs/web3 is DOWN, reason: Layer4 connection problem, info: \"Network is "
      "unreachable\", check duration: 0ms. 4 active and 0 backup servers left.");
  ASSERT_TRUE(down.has_value());
  EXPECT_EQ(down->name, "web3");
  EXPECT_EQ(down->verdict, "DOWN");
  EXPECT_EQ(down->reason, "Network is unreachable");
  auto up = parse_check_line(
      "Server webs/web1 is UP, reason: Layer7 check passed, code: 200, check duration: 0ms.");
  ASSERT_TRUE(up.has_value());
  EXPECT_EQ(up->name, "web1");
  EXPECT_EQ(up->verdict, "UP");
  EXPECT_EQ(up->reason, "Layer7 check passed");
  EXPECT_FALSE(parse_check_line("backend webs has no server available!"));
  EXPECT_FALSE(parse_check_line("Server without a slash is here"));
}

}  // namespace
}  // namespace tandem::app::demo
