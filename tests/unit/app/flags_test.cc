#include "app/flags.h"

#include <gtest/gtest.h>

namespace tandem::app {
namespace {

TEST(LbFlags, TakesHaproxysSingleDashWords) {
  auto f = parse_lb_flags({"-f", "/etc/haproxy/haproxy.cfg", "-f", "/etc/haproxy/conf.d", "-db",
                           "-p", "/run/haproxy.pid", "-Ws", "-L", "lb1", "-c"});
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->config_paths,
            (std::vector<std::string>{"/etc/haproxy/haproxy.cfg", "/etc/haproxy/conf.d"}));
  EXPECT_TRUE(f->foreground);
  EXPECT_FALSE(f->debug);
  EXPECT_EQ(f->pid_file, "/run/haproxy.pid");
  EXPECT_TRUE(f->master_worker);
  EXPECT_TRUE(f->systemd_notify);
  EXPECT_EQ(f->local_name, "lb1");
  EXPECT_TRUE(f->check_only);
}

TEST(LbFlags, SoftStopTakesEveryFollowingPid) {
  auto f = parse_lb_flags({"-f", "a.cfg", "-sf", "101", "102", "-D", "-st", "7"});
  ASSERT_TRUE(f);
  EXPECT_EQ(f->soft_stop_pids, (std::vector<int>{101, 102}));
  EXPECT_EQ(f->hard_stop_pids, (std::vector<int>{7}));
  EXPECT_TRUE(f->daemon);
}

TEST(LbFlags, VersionLevelsAndConditionAndTrailingFiles) {
  auto f = parse_lb_flags({"-vv", "-cc", "defined(HOME)", "extra.cfg", "-fother.cfg"});
  ASSERT_TRUE(f);
  EXPECT_EQ(f->version_level, 2);
  EXPECT_EQ(f->condition, "defined(HOME)");
  EXPECT_EQ(f->config_paths, (std::vector<std::string>{"extra.cfg", "other.cfg"}));
}

TEST(LbFlags, ErrorsNameTheOption) {
  auto missing = parse_lb_flags({"-f"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "option '-f' needs an argument");
  auto unknown = parse_lb_flags({"-Z"});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message, "unknown option '-Z' (see tandem-lb -h)");
}

TEST(VrrpFlags, DefaultsAreKeepalivedsOwn) {
  auto f = parse_vrrp_flags({});
  ASSERT_TRUE(f);
  EXPECT_EQ(f->config_path, "/etc/keepalived/keepalived.conf");
  EXPECT_FALSE(f->dont_fork);
}

TEST(VrrpFlags, ShortLongBundledAndAttachedForms) {
  auto f =
      parse_vrrp_flags({"-nlD", "-f/etc/k.conf", "--pid=/run/k.pid", "--log-file", "/tmp/l", "-t"});
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_TRUE(f->dont_fork);
  EXPECT_TRUE(f->log_console);
  EXPECT_TRUE(f->log_detail);
  EXPECT_EQ(f->config_path, "/etc/k.conf");
  EXPECT_EQ(f->pid_file, "/run/k.pid");
  EXPECT_EQ(f->log_file, "/tmp/l");
  EXPECT_TRUE(f->config_test);
  auto g = parse_vrrp_flags({"--use-file", "/x.conf", "-n", "-f", "/y.conf"});
  ASSERT_TRUE(g);
  EXPECT_EQ(g->config_path, "/y.conf");
}

TEST(VrrpFlags, ControlSocketIsOurLongOnlyOption) {
  EXPECT_EQ(parse_vrrp_flags({}).value().control_socket, "/run/tandem-vrrp.sock");
  EXPECT_EQ(parse_vrrp_flags({"--control-socket", "/tmp/a.sock"}).value().control_socket,
            "/tmp/a.sock");
  EXPECT_EQ(parse_vrrp_flags({"--control-socket=/tmp/b.sock"}).value().control_socket,
            "/tmp/b.sock");
}

TEST(VrrpFlags, ErrorsNameTheOption) {
  EXPECT_EQ(parse_vrrp_flags({"--use-fil=x"}).error().message,
            "unknown option '--use-fil' (see tandem-vrrp --help)");
  EXPECT_EQ(parse_vrrp_flags({"-f"}).error().message, "option '-f' needs an argument");
  EXPECT_EQ(parse_vrrp_flags({"--dont-fork=yes"}).error().message,
            "option '--dont-fork' takes no argument");
  EXPECT_EQ(parse_vrrp_flags({"-x"}).error().message,
            "unknown option '-x' (see tandem-vrrp --help)");
  EXPECT_EQ(parse_vrrp_flags({"stray"}).error().message,
            "unexpected argument 'stray' (see tandem-vrrp --help)");
}

}  // namespace
}  // namespace tandem::app
