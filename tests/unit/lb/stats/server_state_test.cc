#include "lb/stats/server_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "lb/health.h"
#include "lb/stats/csv.h"
#include "sample_view.h"

namespace tandem::lb::stats {
namespace {

using testing::read_testdata;

StatsView two_servers() {
  StatsView v;
  ProxyView be;
  be.name = "be";
  be.kind = ProxyKind::kBackend;
  for (const char* name : {"s1", "s2"}) {
    ServerView s;
    s.name = name;
    s.weight = s.initial_weight = 10;
    be.servers.push_back(s);
  }
  v.proxies.push_back(be);
  return v;
}

TEST(ServerState, RoundTripOfOurOwnDump) {
  StatsView old = two_servers();
  old.proxies[0].servers[0].admin = AdminState::kMaint;
  old.proxies[0].servers[1].admin = AdminState::kDrain;
  old.proxies[0].servers[1].weight = 3;
  auto saved = parse_servers_state(render_servers_state(old));
  ASSERT_TRUE(saved) << saved.error().to_string();
  ASSERT_EQ(saved->size(), 2u);
  EXPECT_EQ((*saved)[0].backend, "be");
  EXPECT_EQ((*saved)[0].server, "s1");
  EXPECT_EQ((*saved)[0].admin, AdminState::kMaint);
  EXPECT_EQ((*saved)[1].admin, AdminState::kDrain);
  EXPECT_EQ((*saved)[1].weight, 3u);
  EXPECT_EQ((*saved)[1].initial_weight, 10u);

  auto changes = changes_to_restore(two_servers(), *saved);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_TRUE(changes[0].set_admin);
  EXPECT_EQ(changes[0].admin, AdminState::kMaint);
  EXPECT_FALSE(changes[0].set_weight);
  EXPECT_TRUE(changes[1].set_admin);
  EXPECT_EQ(changes[1].admin, AdminState::kDrain);
  EXPECT_TRUE(changes[1].set_weight);
  EXPECT_EQ(changes[1].weight, 3u);
}

TEST(ServerState, HaproxysOwnLinesAreRead) {
  // As haproxy 2.6 writes them: s1 in forced maintenance (1), s2 `disabled` in the
  // configuration (5: the file's state, not an operator's), s3 drained with weight 0 of 1.
  const std::string dump =
      "1\n"
      "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
      "srv_iweight srv_time_since_last_change srv_check_status srv_check_result "
      "srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id "
      "srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr "
      "srv_agent_port\n"
      "3 be 1 s1 127.0.0.1 0 1 1 1 12 1 0 0 14 0 0 0 - 8081 - 0 0 - - 0\n"
      "3 be 2 s2 127.0.0.1 0 5 1 1 12 1 0 0 14 0 0 0 - 8082 - 0 0 - - 0\n"
      "3 be 3 s3 127.0.0.1 2 8 0 1 12 1 0 0 14 0 0 0 - 8083 - 0 0 - - 0\n";
  auto saved = parse_servers_state(dump);
  ASSERT_TRUE(saved) << saved.error().to_string();
  ASSERT_EQ(saved->size(), 3u);
  EXPECT_EQ((*saved)[0].admin, AdminState::kMaint);
  EXPECT_EQ((*saved)[1].admin, AdminState::kMaint);  // 5 = FMAINT | CMAINT
  EXPECT_TRUE((*saved)[1].config_maint);
  EXPECT_FALSE((*saved)[0].config_maint);
  EXPECT_EQ((*saved)[2].admin, AdminState::kDrain);
  EXPECT_EQ((*saved)[2].weight, 0u);
}

TEST(ServerState, ConfigurationChangesWin) {
  StatsView old = two_servers();
  old.proxies[0].servers[0].weight = 3;
  auto saved = parse_servers_state(render_servers_state(old));
  ASSERT_TRUE(saved);
  // The new file gives s1 another weight: the operator's change of the old one is dropped.
  StatsView now = two_servers();
  now.proxies[0].servers[0].weight = now.proxies[0].servers[0].initial_weight = 20;
  EXPECT_TRUE(changes_to_restore(now, *saved).empty());
  // A server or backend gone from the file is skipped.
  StatsView gone = two_servers();
  gone.proxies[0].name = "other";
  EXPECT_TRUE(changes_to_restore(gone, *saved).empty());
  // A server disabled in the configuration alone is not an operator's state to restore.
  StatsView disabled = two_servers();
  disabled.proxies[0].servers[1].admin = AdminState::kMaint;
  disabled.proxies[0].servers[1].maint_from_config = true;
  auto from_config = parse_servers_state(render_servers_state(disabled));
  ASSERT_TRUE(from_config);
  EXPECT_TRUE((*from_config)[1].config_maint);
  EXPECT_TRUE(changes_to_restore(two_servers(), *from_config).empty());
}

TEST(ServerState, MalformedDumpsAreErrors) {
  EXPECT_FALSE(parse_servers_state(""));
  EXPECT_FALSE(parse_servers_state("2\n"));
  auto bad = parse_servers_state("1\n3 be 1 s1 127.0.0.1 0 x 1 1\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().to_string().find("line 2"), std::string::npos);
}

// A state file as haproxy writes it, for `be` with s1..s3.
constexpr std::string_view kHeader =
    "1\n"
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
    "srv_iweight srv_time_since_last_change srv_check_status srv_check_result "
    "srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id "
    "srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr "
    "srv_agent_port\n";

TEST(ServerStateFile, MalformedLinesAreSkippedWithFileAndLine) {
  const std::string text = std::string(kHeader) +
                           "3 be 1 s1 127.0.0.1 0 1 10 10 12 1 0 0 14 0 0 0 - 8081 - 0 0 - - 0\n"
                           "3 be 2 s2 127.0.0.1 2 x 10 10\n"
                           "\n"
                           "3 be 3\n"
                           "3 be 4 s4 127.0.0.1 7 0 10 10\n"
                           "3 be 5 s5 127.0.0.1 2 0 999 10\n"
                           "# a comment\n"
                           "3 be 6 s6 127.0.0.1 2 8 0 10\n";
  StateFile f = parse_state_file(text, "/run/st");
  ASSERT_EQ(f.servers.size(), 2u);
  EXPECT_EQ(f.servers[0].server, "s1");
  EXPECT_EQ(f.servers[0].admin, AdminState::kMaint);
  EXPECT_EQ(f.servers[0].op, OpState::kStopped);
  EXPECT_EQ(f.servers[0].address, "127.0.0.1");
  EXPECT_EQ(f.servers[0].port, 8081);
  EXPECT_EQ(f.servers[1].server, "s6");
  EXPECT_EQ(f.servers[1].admin, AdminState::kDrain);
  EXPECT_FALSE(f.servers[1].port);
  EXPECT_THAT(f.warnings,
              ::testing::ElementsAre(
                  "/run/st:4: malformed server line skipped: srv_admin_state 'x' is not a number "
                  "of 0..255",
                  "/run/st:6: malformed server line skipped: 3 fields, at least 9 expected",
                  "/run/st:7: malformed server line skipped: srv_op_state '7' is not 0..3",
                  "/run/st:8: malformed server line skipped: srv_uweight '999' is not 0..256"));
}

TEST(ServerStateFile, AFileOfAnotherVersionIsIgnoredWhole) {
  StateFile f = parse_state_file("2\n3 be 1 s1 127.0.0.1 0 1 10 10\n", "st");
  EXPECT_TRUE(f.servers.empty());
  EXPECT_THAT(f.warnings, ::testing::ElementsAre(
                              ::testing::StartsWith("st:1: not a version 1 server state file")));
  // haproxy reads the version from the very first line: a comment first is no version.
  f = parse_state_file("# be_id\n1\n3 be 1 s1 127.0.0.1 0 1 10 10\n", "st");
  EXPECT_TRUE(f.servers.empty());
  EXPECT_EQ(f.warnings.size(), 1u);
  f = parse_state_file("", "st");
  EXPECT_THAT(f.warnings, ::testing::ElementsAre("st: empty server state file"));
  // Only the version line and the header: nothing to apply, nothing to say.
  f = parse_state_file(kHeader, "st");
  EXPECT_TRUE(f.servers.empty());
  EXPECT_TRUE(f.warnings.empty());
}

StatsView three_servers() {
  StatsView v = two_servers();
  ServerView s3 = v.proxies[0].servers[0];
  s3.name = "s3";
  v.proxies[0].servers.push_back(s3);
  for (auto& s : v.proxies[0].servers) {
    s.host = "127.0.0.1";
    s.port = 8080;
  }
  return v;
}

TEST(ServerStateFile, AppliedAsHaproxyDoes) {
  StateFile f = parse_state_file(
      std::string(kHeader) +
          // s1: forced maintenance; s2: drained, weight 0 of 10; s3: weight 4 of 10.
          "3 be 1 s1 127.0.0.1 0 1 10 10 12 1 0 0 14 0 0 0 - 8080 - 0 0 - - 0\n"
          "3 be 2 s2 127.0.0.1 2 8 0 10 12 1 0 0 14 0 0 0 - 8080 - 0 0 - - 0\n"
          "3 be 3 s3 127.0.0.1 2 0 4 10 12 1 0 0 14 0 0 0 - 8080 - 0 0 - - 0\n"
          // Neither this backend nor this server exists any more.
          "4 gone 1 s1 127.0.0.1 0 1 10 10 12 1 0 0 14 0 0 0 - 8080 - 0 0 - - 0\n"
          "3 be 9 s9 127.0.0.1 0 1 10 10 12 1 0 0 14 0 0 0 - 8080 - 0 0 - - 0\n",
      "st");
  ASSERT_TRUE(f.warnings.empty());
  auto c = changes_to_restore(three_servers(), f.servers);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].server, "s1");
  EXPECT_TRUE(c[0].set_admin);
  EXPECT_EQ(c[0].admin, AdminState::kMaint);
  EXPECT_FALSE(c[0].set_weight);
  EXPECT_TRUE(c[0].note.empty());
  EXPECT_EQ(c[1].admin, AdminState::kDrain);
  EXPECT_TRUE(c[1].set_weight);
  EXPECT_EQ(c[1].weight, 0u);
  EXPECT_FALSE(c[2].set_admin);
  EXPECT_EQ(c[2].weight, 4u);
}

TEST(ServerStateFile, ConfigurationDisabledWinsWhenItChanged) {
  // Saved while `disabled` was in the configuration (5), now removed: the server is ready.
  StateFile was_disabled = parse_state_file(
      std::string(kHeader) + "3 be 1 s1 127.0.0.1 0 5 10 10 12 1 0 0 14 0 0 0 - 8080 - 0 0 - - 0\n",
      "st");
  EXPECT_TRUE(changes_to_restore(three_servers(), was_disabled.servers).empty());
  // Saved ready, now `disabled` in the configuration: it stays in maintenance.
  StateFile ready = parse_state_file(
      std::string(kHeader) + "3 be 1 s1 127.0.0.1 2 0 10 10 12 1 0 0 14 0 0 0 - 8080 - 0 0 - - 0\n",
      "st");
  StatsView disabled = three_servers();
  disabled.proxies[0].servers[0].admin = AdminState::kMaint;
  disabled.proxies[0].servers[0].maint_from_config = true;
  EXPECT_TRUE(changes_to_restore(disabled, ready.servers).empty());
}

TEST(ServerStateFile, ADrainFromAConfiguredWeightOfZeroEndsWithIt) {
  // Drained with a configured weight of 0; the configuration now says 10: not drained.
  StateFile zero = parse_state_file(
      std::string(kHeader) + "3 be 2 s2 127.0.0.1 2 8 0 0 12 1 0 0 14 0 0 0 - 8080 - 0 0 - - 0\n",
      "st");
  EXPECT_TRUE(changes_to_restore(three_servers(), zero.servers).empty());
  // Drained by an operator (configured weight 10): the drain stays whatever the weight now.
  StateFile forced = parse_state_file(
      std::string(kHeader) + "3 be 2 s2 127.0.0.1 2 8 10 10 12 1 0 0 14 0 0 0 - 8080 - 0 0 - - 0\n",
      "st");
  StatsView heavier = three_servers();
  heavier.proxies[0].servers[1].weight = heavier.proxies[0].servers[1].initial_weight = 50;
  auto c = changes_to_restore(heavier, forced.servers);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].admin, AdminState::kDrain);
  EXPECT_FALSE(c[0].set_weight);  // the configured weight changed: the new one stands
}

TEST(ServerStateFile, AChangedAddressIsReportedNotTaken) {
  StateFile f = parse_state_file(
      std::string(kHeader) + "3 be 1 s1 10.0.0.9 0 1 10 10 12 1 0 0 14 0 0 0 - 9000 - 0 0 - - 0\n",
      "st");
  auto c = changes_to_restore(three_servers(), f.servers);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].admin, AdminState::kMaint);  // the state is applied all the same
  EXPECT_EQ(c[0].note,
            "saved address 10.0.0.9:9000 differs from the configuration's 127.0.0.1:8080; the "
            "configuration's is kept");
}

TEST(ServerStateFile, ACheckedServerSavedDownStartsDown) {
  StatsView v = three_servers();
  v.proxies[0].servers[0].checked = true;  // s1 and s2 have checks, s3 not
  v.proxies[0].servers[1].checked = true;
  StateFile f = parse_state_file(
      std::string(kHeader) +
          // s1 DOWN by its checks; s2 DOWN because it was in maintenance; s3 DOWN, no checks.
          "3 be 1 s1 127.0.0.1 0 0 10 10 12 1 0 0 14 0 0 0 - 8080 - 0 0 - - 0\n"
          "3 be 2 s2 127.0.0.1 0 1 10 10 12 1 0 0 14 0 0 0 - 8080 - 0 0 - - 0\n"
          "3 be 3 s3 127.0.0.1 0 0 10 10 12 1 0 0 14 0 0 0 - 8080 - 0 0 - - 0\n",
      "st");
  auto c = changes_to_restore(v, f.servers);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].server, "s1");
  EXPECT_TRUE(c[0].start_down);
  EXPECT_FALSE(c[0].set_admin);
  EXPECT_EQ(c[1].server, "s2");
  EXPECT_FALSE(c[1].start_down);
  EXPECT_EQ(c[1].admin, AdminState::kMaint);
  // STARTING (1) and NOLB (3) are not DOWN.
  f = parse_state_file(
      std::string(kHeader) + "3 be 1 s1 127.0.0.1 1 0 10 10\n" + "3 be 2 s2 127.0.0.1 3 0 10 10\n",
      "st");
  EXPECT_TRUE(changes_to_restore(v, f.servers).empty());
}

TEST(ServerStateFile, HealthStartsDownAndRises) {
  health::Params params;
  params.rise = 2;
  params.fall = 3;
  health::ServerHealth h(params);
  h.start_down(core::TimePoint{});
  EXPECT_EQ(h.state(), health::State::kDown);
  EXPECT_EQ(h.health(), 0u);
  health::CheckResult ok;
  ok.status = health::CheckStatus::kL4Ok;
  EXPECT_EQ(h.record(ok, core::TimePoint{}), health::Change::kNone);
  EXPECT_EQ(h.record(ok, core::TimePoint{}), health::Change::kWentUp);
  // In maintenance it stays there.
  params.disabled = true;
  health::ServerHealth m(params);
  m.start_down(core::TimePoint{});
  EXPECT_EQ(m.state(), health::State::kMaint);
}

// testdata/haproxy_servers_state.txt is haproxy 2.6.12's `show servers state` for
//   backend be
//       server s1 127.0.0.1:8081 weight 10
//       server s2 127.0.0.1:8082 weight 10
//       server s3 127.0.0.1:8083 weight 10
//       server s4 127.0.0.1:8084 weight 10 disabled
//       server s5 127.0.0.1:9 weight 10 check inter 100ms fall 2   (nothing listens: DOWN)
//       server s6 127.0.0.1:8086 weight 0
// after "disable server be/s1", "set server be/s2 state drain", "set weight be/s2 0" and
// "set weight be/s3 4" on its CLI. The integration test lb_server_state_file captures again.
TEST(ServerStateFile, HaproxysCaptureAppliesAsHaproxyWould) {
  StateFile f = parse_state_file(read_testdata("haproxy_servers_state.txt"), "capture");
  ASSERT_TRUE(f.warnings.empty()) << f.warnings[0];
  ASSERT_EQ(f.servers.size(), 6u);
  StatsView v;
  ProxyView be;
  be.name = "be";
  be.kind = ProxyKind::kBackend;
  for (int i = 1; i <= 6; ++i) {
    ServerView s;
    s.name = "s" + std::to_string(i);
    s.host = "127.0.0.1";
    s.port = static_cast<uint16_t>(i == 5 ? 9 : 8080 + i);
    s.weight = s.initial_weight = i == 6 ? 0 : 10;
    if (i == 4) {
      s.admin = AdminState::kMaint;
      s.maint_from_config = true;
    }
    s.checked = i == 5;
    be.servers.push_back(s);
  }
  v.proxies.push_back(be);
  auto c = changes_to_restore(v, f.servers);
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0].server, "s1");
  EXPECT_EQ(c[0].admin, AdminState::kMaint);
  EXPECT_EQ(c[1].server, "s2");
  EXPECT_EQ(c[1].admin, AdminState::kDrain);
  EXPECT_EQ(c[1].weight, 0u);
  EXPECT_EQ(c[2].server, "s3");
  EXPECT_FALSE(c[2].set_admin);
  EXPECT_EQ(c[2].weight, 4u);
  EXPECT_EQ(c[3].server, "s5");
  EXPECT_TRUE(c[3].start_down);
  for (const auto& x : c) EXPECT_TRUE(x.note.empty()) << x.note;
}

TEST(ServerStateSource, TheFresherWins) {
  const FileInfo old_file{.found = true, .mtime_ns = 100};
  const FileInfo new_file{.found = true, .mtime_ns = 300};
  const FileInfo missing{};
  EXPECT_EQ(choose_state_source(false, std::nullopt, std::nullopt), StateSource::kNone);
  EXPECT_EQ(choose_state_source(false, std::nullopt, missing), StateSource::kNone);
  EXPECT_EQ(choose_state_source(false, std::nullopt, old_file), StateSource::kFile);
  EXPECT_EQ(choose_state_source(true, 200, std::nullopt), StateSource::kHandOver);
  EXPECT_EQ(choose_state_source(true, 200, missing), StateSource::kHandOver);
  EXPECT_EQ(choose_state_source(true, 200, old_file), StateSource::kHandOver);
  EXPECT_EQ(choose_state_source(true, 200, new_file), StateSource::kFile);
  EXPECT_EQ(choose_state_source(true, std::nullopt, new_file), StateSource::kHandOver);
}

TEST(ServerStateSource, TheHandOverCarriesItsTime) {
  StatsView v = two_servers();
  v.proxies[0].servers[0].admin = AdminState::kMaint;
  std::string dump = with_saved_time(render_servers_state(v), 1234567890123);
  EXPECT_EQ(saved_time(dump), 1234567890123);
  auto saved = parse_servers_state(dump);
  ASSERT_TRUE(saved) << saved.error().to_string();
  EXPECT_EQ(saved->size(), 2u);
  EXPECT_FALSE(saved_time(render_servers_state(v)));
}

}  // namespace
}  // namespace tandem::lb::stats
