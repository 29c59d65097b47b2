#include "lb/stats/server_state.h"

#include <gtest/gtest.h>

#include "lb/stats/csv.h"

namespace tandem::lb::stats {
namespace {

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

}  // namespace
}  // namespace tandem::lb::stats
