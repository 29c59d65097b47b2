#include "vrrp/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "doc_check.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <fmt/format.h>

#include "unit/conf/test_util.h"

namespace tandem::vrrp {
namespace {

using conf::testing::brief;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

using tandem::testing::source_root;

struct Run {
  Config cfg;
  core::Diagnostics diags;
  std::vector<std::string> lines() const { return brief(diags); }
  std::string hint(size_t i) const { return diags.all().at(i).hint; }
};

Run run(std::string_view text) {
  Run r;
  conf::IncludeOptions opts;
  opts.follow = false;
  auto nodes =
      conf::parse_keepalived(text, std::make_shared<const std::string>("k.conf"), r.diags, opts);
  r.cfg = build_config(nodes, r.diags);
  return r;
}

IpAddress ip(std::string_view s) {
  return IpAddress::parse(s).value();
}

// A valid instance body to which a test adds a line or two.
std::string instance(std::string_view extra, std::string_view name = "V", int vrid = 51) {
  return fmt::format(
      "vrrp_instance {} {{\n  interface eth0\n  virtual_router_id {}\n"
      "  virtual_ipaddress {{\n    198.18.0.100/24\n  }}\n{}}}\n",
      name, vrid, extra);
}

// ---------------------------------------------------------------------------------------------
// The classic pair: both files parse cleanly. keepalived -t on them: only its own warnings
// about the missing interface and script user on this machine.

TEST(VrrpConfig, ClassicNodeAParsesWithoutDiagnostics) {
  core::Diagnostics diags;
  Config c =
      load_config((source_root() / "examples/classic/node-a.keepalived.conf").string(), diags);
  ASSERT_TRUE(diags.empty()) << diags.to_string();
  EXPECT_EQ(c.global.router_id, "lb-a");
  EXPECT_EQ(c.global.script_user, "root");
  EXPECT_FALSE(c.global.script_group);
  EXPECT_TRUE(c.global.enable_script_security);
  ASSERT_EQ(c.scripts.size(), 1u);
  const VrrpScript& s = c.scripts[0];
  EXPECT_EQ(s.name, "chk_haproxy");
  EXPECT_THAT(s.script.argv, ElementsAre("/usr/bin/killall", "-0", "haproxy"));
  EXPECT_EQ(s.interval, seconds(2));
  EXPECT_EQ(s.timeout, seconds(2));
  EXPECT_EQ(s.weight, 2);
  ASSERT_EQ(c.instances.size(), 1u);
  const Instance& i = c.instances[0];
  EXPECT_EQ(i.name, "VI_1");
  EXPECT_EQ(i.interface, "eth0");
  EXPECT_TRUE(i.start_as_master);
  EXPECT_EQ(i.vrid, 51);
  EXPECT_EQ(i.priority, 101);
  EXPECT_EQ(i.version, 2);
  EXPECT_EQ(i.advert_interval, seconds(1));
  EXPECT_EQ(i.src_ip, ip("198.18.0.1"));
  EXPECT_THAT(i.unicast_peers, ElementsAre(ip("198.18.0.2")));
  EXPECT_TRUE(i.unicast);
  EXPECT_EQ(i.auth_type, AuthType::kPass);
  EXPECT_EQ(i.auth_pass, "s3cret");
  ASSERT_EQ(i.vips.size(), 1u);
  EXPECT_EQ(i.vips[0].address, ip("198.18.0.100"));
  EXPECT_EQ(i.vips[0].prefix_len, 24);
  EXPECT_EQ(i.vips[0].dev, "eth0");
  ASSERT_EQ(i.track_scripts.size(), 1u);
  EXPECT_EQ(i.track_scripts[0].name, "chk_haproxy");
  EXPECT_FALSE(i.track_scripts[0].weight);
  ASSERT_TRUE(i.notify.master);
  EXPECT_THAT(i.notify.master->argv, ElementsAre("/etc/keepalived/master.sh"));
  EXPECT_FALSE(i.notify.master->user);

  FsmConfig f = fsm_config(i, ip("198.18.0.9"));
  EXPECT_EQ(f.version, 2);
  EXPECT_EQ(f.priority, 101);
  EXPECT_EQ(f.advert_interval, seconds(1));
  EXPECT_TRUE(f.preempt);
  EXPECT_TRUE(f.start_as_master);
  EXPECT_EQ(f.primary, ip("198.18.0.1"));  // unicast_src_ip beats the interface's address
}

TEST(VrrpConfig, ClassicNodeBParsesWithoutDiagnostics) {
  core::Diagnostics diags;
  Config c =
      load_config((source_root() / "examples/classic/node-b.keepalived.conf").string(), diags);
  ASSERT_TRUE(diags.empty()) << diags.to_string();
  ASSERT_EQ(c.instances.size(), 1u);
  const Instance& i = c.instances[0];
  EXPECT_FALSE(i.start_as_master);
  EXPECT_EQ(i.priority, 100);
  EXPECT_EQ(i.src_ip, ip("198.18.0.2"));
  EXPECT_THAT(i.unicast_peers, ElementsAre(ip("198.18.0.1")));
  EXPECT_EQ(c.global.router_id, "lb-b");
}

// ---------------------------------------------------------------------------------------------
// Defaults, each as keepalived.conf(5) and keepalived 2.2.7's parser give it.

TEST(VrrpConfig, DefaultsMatchKeepalived) {
  auto r = run("vrrp_script s {\n script /bin/true\n}\n" + instance(""));
  ASSERT_TRUE(r.diags.empty()) << r.diags.to_string();
  const GlobalDefs& g = r.cfg.global;
  EXPECT_EQ(g.router_id, "");
  EXPECT_FALSE(g.script_user);
  EXPECT_FALSE(g.enable_script_security);
  EXPECT_EQ(g.vrrp_version, 2);
  EXPECT_EQ(g.vrrp_mcast_group4, ip("224.0.0.18"));
  EXPECT_EQ(g.vrrp_mcast_group6, ip("ff02::12"));
  EXPECT_EQ(g.vrrp_garp_master_delay, seconds(5));
  EXPECT_EQ(g.vrrp_garp_master_repeat, 5u);
  EXPECT_EQ(g.vrrp_garp_master_refresh, seconds(0));
  EXPECT_EQ(g.vrrp_garp_master_refresh_repeat, 1u);
  EXPECT_EQ(g.vrrp_garp_interval, seconds(0));
  EXPECT_EQ(g.vrrp_startup_delay, seconds(0));
  EXPECT_FALSE(g.v3_checksum_as_v2);

  const VrrpScript& s = r.cfg.scripts.at(0);
  EXPECT_EQ(s.interval, seconds(1));
  EXPECT_EQ(s.timeout, seconds(1));
  EXPECT_EQ(s.weight, 0);
  EXPECT_FALSE(s.weight_reverse);
  EXPECT_EQ(s.rise, 1);
  EXPECT_EQ(s.fall, 1);
  EXPECT_FALSE(s.init_fail);

  const Instance& i = r.cfg.instances.at(0);
  EXPECT_EQ(i.priority, 100);
  EXPECT_FALSE(i.start_as_master);
  EXPECT_EQ(i.version, 2);
  EXPECT_EQ(i.family, Family::kIpv4);
  EXPECT_EQ(i.advert_interval, seconds(1));
  EXPECT_TRUE(i.preempt);
  EXPECT_EQ(i.preempt_delay, seconds(0));
  EXPECT_FALSE(i.unicast);
  EXPECT_FALSE(i.src_ip);
  EXPECT_EQ(i.mcast_group, ip("224.0.0.18"));
  EXPECT_EQ(i.auth_type, AuthType::kNone);
  EXPECT_FALSE(i.check_unicast_src);
  EXPECT_FALSE(i.v3_checksum_as_v2);
  EXPECT_EQ(i.garp_master_delay, seconds(5));
  EXPECT_EQ(i.garp_master_repeat, 5u);
  EXPECT_EQ(i.garp_master_refresh, seconds(0));
  EXPECT_EQ(i.garp_master_refresh_repeat, 1u);
  EXPECT_EQ(i.garp_lower_prio_delay, seconds(5));
  EXPECT_EQ(i.garp_lower_prio_repeat, 5u);
  EXPECT_EQ(i.vips.at(0).prefix_len, 24);
  EXPECT_EQ(i.vips.at(0).scope, Scope::kGlobal);
  EXPECT_EQ(i.where.line, 4u);
}

TEST(VrrpConfig, ScriptTimeoutDefaultsToItsInterval) {
  auto r = run("vrrp_script s {\n script /bin/true\n interval 7\n}\n");
  ASSERT_TRUE(r.diags.empty()) << r.diags.to_string();
  EXPECT_EQ(r.cfg.scripts.at(0).timeout, seconds(7));
}

TEST(VrrpConfig, StateMasterWithoutPriorityIsTheAddressOwner) {
  // keepalived: "If no priority has been set, derive it from the initial state".
  auto r = run(instance("  state MASTER\n"));
  ASSERT_TRUE(r.diags.empty()) << r.diags.to_string();
  EXPECT_EQ(r.cfg.instances[0].priority, 255);
  EXPECT_TRUE(r.cfg.instances[0].start_as_master);
  auto owner = run(instance("  priority 255\n"));
  EXPECT_TRUE(owner.cfg.instances[0].start_as_master);
}

TEST(VrrpConfig, GlobalGarpSettingsAreInstanceDefaults) {
  auto r =
      run("global_defs {\n vrrp_garp_master_delay 1\n vrrp_garp_master_repeat 2\n"
          " vrrp_garp_lower_prio_repeat 7\n}\n" +
          instance("  garp_master_repeat 9\n"));
  ASSERT_TRUE(r.diags.empty()) << r.diags.to_string();
  const Instance& i = r.cfg.instances[0];
  EXPECT_EQ(i.garp_master_delay, seconds(1));
  EXPECT_EQ(i.garp_master_repeat, 9u);
  EXPECT_EQ(i.garp_lower_prio_delay, seconds(1));  // follows vrrp_garp_master_delay
  EXPECT_EQ(i.garp_lower_prio_repeat, 7u);
}

// ---------------------------------------------------------------------------------------------
// A full-featured configuration. keepalived -t (2.2.7) on the same text: no complaint but
// "Unknown keyword 'v3_checksum_as_v2'" (it came in 2.2.8), the missing user and eth1 of this
// machine, and "cannot track route 192.0.2.0/24 with no interface specified".

const char* kFull = R"(global_defs {
  router_id lb-full
  script_user tandem tandem
  enable_script_security
  vrrp_version 3
  vrrp_garp_master_delay 2
  vrrp_garp_master_repeat 3
  vrrp_garp_master_refresh 60
  vrrp_garp_master_refresh_repeat 2
  vrrp_garp_interval 0.001
  vrrp_gna_interval 0.002
  vrrp_startup_delay 1.5
  vrrp_check_unicast_src
}
vrrp_script chk_proxy {
  script "/usr/local/bin/check 'two words' -q"
  interval 2
  timeout 3
  weight -20 reverse
  rise 2
  fall 3
  user nobody nogroup
  init_fail
}
vrrp_track_process haproxy {
  process haproxy
  weight 10
  quorum 2
  delay 0.5
}
vrrp_track_file maint {
  file "/run/tandem/maint"
  weight -5
  init_file 0 overwrite
}
vrrp_instance V6 {
  interface eth0
  state BACKUP
  virtual_router_id 60
  priority 150
  advert_int 0.1
  nopreempt
  virtual_ipaddress {
    fe80::60/64 dev eth0
    2001:db8::60/64 dev eth0 scope global
  }
  virtual_ipaddress_excluded {
    198.18.0.60/24 dev eth0 label eth0:60
  }
  track_script {
    chk_proxy weight 5
  }
  track_interface {
    eth1 weight -10 reverse
  }
  track_file {
    maint
  }
  track_process {
    haproxy weight 3
  }
  notify_master "/etc/tandem/notify.sh master 'V 6'" tandem
  notify "/etc/tandem/any.sh" tandem tandem
}
vrrp_instance V4 {
  interface eth0
  virtual_router_id 61
  priority 120
  advert_int 0.05
  unicast_src_ip 198.18.0.1
  unicast_peer {
    198.18.0.2
    198.18.0.3
  }
  virtual_ipaddress {
    198.18.0.61/24
  }
  virtual_routes {
    10.0.0.0/8 via 198.18.0.254 dev eth0
    src 198.18.0.61 to 192.0.2.0/24 via 198.18.0.254 metric 5
  }
  v3_checksum_as_v2
}
vrrp_sync_group G {
  group {
    V6
    V4
  }
  notify_fault "/etc/tandem/group-fault.sh"
}
)";

TEST(VrrpConfig, FullFeaturedConfigParsesToExactValues) {
  auto r = run(kFull);
  ASSERT_TRUE(r.diags.empty()) << r.diags.to_string();
  const Config& c = r.cfg;
  EXPECT_EQ(c.global.script_user, "tandem");
  EXPECT_EQ(c.global.script_group, "tandem");
  EXPECT_EQ(c.global.vrrp_version, 3);
  EXPECT_EQ(c.global.vrrp_garp_interval, milliseconds(1));
  EXPECT_EQ(c.global.vrrp_gna_interval, milliseconds(2));
  EXPECT_EQ(c.global.vrrp_startup_delay, milliseconds(1500));

  const VrrpScript& s = c.scripts.at(0);
  EXPECT_THAT(s.script.argv, ElementsAre("/usr/local/bin/check", "two words", "-q"));
  EXPECT_EQ(s.script.user, "nobody");
  EXPECT_EQ(s.script.group, "nogroup");
  EXPECT_EQ(s.interval, seconds(2));
  EXPECT_EQ(s.timeout, seconds(3));
  EXPECT_EQ(s.weight, -20);
  EXPECT_TRUE(s.weight_reverse);
  EXPECT_EQ(s.rise, 2);
  EXPECT_EQ(s.fall, 3);
  EXPECT_TRUE(s.init_fail);

  const TrackProcess& p = c.track_processes.at(0);
  EXPECT_EQ(p.process, "haproxy");
  EXPECT_EQ(p.weight, 10);
  EXPECT_EQ(p.quorum, 2u);
  EXPECT_EQ(p.fork_delay, milliseconds(500));
  EXPECT_EQ(p.terminate_delay, milliseconds(500));
  EXPECT_FALSE(p.full_command);

  const TrackFile& f = c.track_files.at(0);
  EXPECT_EQ(f.path, "/run/tandem/maint");
  EXPECT_EQ(f.weight, -5);
  EXPECT_EQ(f.init_value, 0);
  EXPECT_TRUE(f.init_overwrite);

  const Instance& v6 = c.instances.at(0);
  EXPECT_EQ(v6.family, Family::kIpv6);
  EXPECT_EQ(v6.version, 3);
  EXPECT_EQ(v6.advert_interval, milliseconds(100));
  EXPECT_FALSE(v6.preempt);
  EXPECT_EQ(v6.mcast_group, ip("ff02::12"));
  EXPECT_TRUE(v6.check_unicast_src);  // the global default
  ASSERT_EQ(v6.vips.size(), 2u);
  EXPECT_EQ(v6.vips[0].address, ip("fe80::60"));
  EXPECT_EQ(v6.vips[1].prefix_len, 64);
  ASSERT_EQ(v6.excluded_vips.size(), 1u);
  EXPECT_EQ(v6.excluded_vips[0].label, "eth0:60");
  ASSERT_EQ(v6.track_scripts.size(), 1u);
  EXPECT_EQ(v6.track_scripts[0].weight, 5);
  ASSERT_EQ(v6.track_interfaces.size(), 1u);
  EXPECT_EQ(v6.track_interfaces[0].name, "eth1");
  EXPECT_EQ(v6.track_interfaces[0].weight, -10);
  EXPECT_TRUE(v6.track_interfaces[0].reverse);
  EXPECT_EQ(v6.track_files.at(0).name, "maint");
  EXPECT_EQ(v6.track_processes.at(0).weight, 3);
  ASSERT_TRUE(v6.notify.master);
  EXPECT_THAT(v6.notify.master->argv, ElementsAre("/etc/tandem/notify.sh", "master", "V 6"));
  EXPECT_EQ(v6.notify.master->user, "tandem");
  EXPECT_FALSE(v6.notify.master->group);
  ASSERT_TRUE(v6.notify.any);
  EXPECT_EQ(v6.notify.any->group, "tandem");
  EXPECT_EQ(v6.garp_master_delay, seconds(2));
  EXPECT_EQ(v6.garp_master_repeat, 3u);
  EXPECT_EQ(v6.garp_master_refresh, seconds(60));
  EXPECT_EQ(v6.garp_master_refresh_repeat, 2u);

  const Instance& v4 = c.instances.at(1);
  EXPECT_EQ(v4.version, 3);
  EXPECT_EQ(v4.advert_interval, milliseconds(50));
  EXPECT_TRUE(v4.v3_checksum_as_v2);
  EXPECT_THAT(v4.unicast_peers, ElementsAre(ip("198.18.0.2"), ip("198.18.0.3")));
  ASSERT_EQ(v4.routes.size(), 2u);
  EXPECT_EQ(v4.routes[0].destination, ip("10.0.0.0"));
  EXPECT_EQ(v4.routes[0].prefix_len, 8);
  EXPECT_EQ(v4.routes[0].via, ip("198.18.0.254"));
  EXPECT_EQ(v4.routes[0].dev, "eth0");
  EXPECT_EQ(v4.routes[1].src, ip("198.18.0.61"));
  EXPECT_EQ(v4.routes[1].destination, ip("192.0.2.0"));
  EXPECT_EQ(v4.routes[1].metric, 5u);

  const SyncGroup& g = c.sync_groups.at(0);
  EXPECT_THAT(g.members, ElementsAre("V6", "V4"));
  ASSERT_TRUE(g.notify.fault);
  EXPECT_THAT(g.notify.fault->argv, ElementsAre("/etc/tandem/group-fault.sh"));

  FsmConfig fc = fsm_config(v6, ip("fe80::1"));
  EXPECT_EQ(fc.version, 3);
  EXPECT_FALSE(fc.preempt);
  EXPECT_EQ(fc.primary, ip("fe80::1"));
}

// Every keyword of every table appears in this text, which must parse without an error.
const char* kEveryKeyword = R"(global_defs {
  router_id r
  script_user u g
  enable_script_security
  vrrp_version 2
  vrrp_mcast_group4 224.0.0.19
  vrrp_mcast_group6 ff02::13
  vrrp_garp_master_delay 1
  vrrp_garp_master_repeat 1
  vrrp_garp_master_refresh 1
  vrrp_garp_master_refresh_repeat 1
  vrrp_garp_lower_prio_delay 1
  vrrp_garp_lower_prio_repeat 1
  vrrp_garp_interval 0.1
  vrrp_gna_interval 0.1
  vrrp_min_garp on
  vrrp_startup_delay 1
  vrrp_check_unicast_src
  vrrp_skip_check_adv_addr
  v3_checksum_as_v2 no
  log_unknown_vrids
}
vrrp_script s {
  script /bin/true
  interval 1
  timeout 1
  weight 1
  rise 1
  fall 1
  user u
  init_fail
}
track_file f {
  file /tmp/f
  weight 1
  init_file
}
vrrp_track_file f2 {
  file /tmp/f2
}
vrrp_track_process p {
  process a b
  param_match partial
  weight 1
  quorum 1
  quorum_max 2
  delay 1
  fork_delay 1
  terminate_delay 1
  full_command
}
track_proxy lb {
  pidfile /run/haproxy.pid
  stats_socket /run/haproxy/admin.sock
  backend web api
  listen 127.0.0.1:80
  listen [::1]:8080
  interval 0.05
  timeout 0.02
  rise 2
  fall 3
  weight -50 reverse
}
vrrp_instance A {
  state BACKUP
  interface eth0
  virtual_router_id 1
  priority 1
  advert_int 1
  version 2
  nopreempt
  preempt
  preempt_delay 1
  unicast_src_ip 198.18.0.1
  mcast_src_ip 198.18.0.1
  unicast_peer {
    198.18.0.2
  }
  unicast_ttl 5
  check_unicast_src
  mcast_dst_ip 224.0.0.18
  v3_checksum_as_v2
  skip_check_adv_addr off
  dont_track_primary
  accept
  authentication {
    auth_type PASS
    auth_pass x
  }
  virtual_ipaddress {
    198.18.0.5/24 brd 198.18.0.255 dev eth0 scope global label eth0:5 no_track
  }
  virtual_ipaddress_excluded {
    2001:db8::5
  }
  virtual_routes {
    10.0.0.0/8 gw 198.18.0.254 table 10 no_track
  }
  track_interface {
    eth1
  }
  track_script {
    s
  }
  track_file {
    f
  }
  track_process {
    p
  }
  track_proxy {
    lb weight -20
  }
  notify_master /bin/m
  notify_backup /bin/b
  notify_fault /bin/f
  notify_stop /bin/s
  notify /bin/n
  notify_master_rx_lower_pri /bin/l
  garp_master_delay 1
  garp_master_repeat 1
  garp_master_refresh 1
  garp_master_refresh_repeat 1
  garp_lower_prio_delay 1
  garp_lower_prio_repeat 1
  debug 0
}
vrrp_instance B {
  interface eth0
  virtual_router_id 2
  no_virtual_ipaddress
}
vrrp_sync_group G {
  group {
    A B
  }
  track_interface {
    eth1
  }
  track_script {
    s weight 2 noreverse
  }
  track_file {
    f
  }
  track_process {
    p
  }
  notify_master /bin/m
  notify_backup /bin/b
  notify_fault /bin/f
  notify_stop /bin/s
  notify /bin/n
  sync_group_tracking_weight
}
)";

TEST(VrrpConfig, TrackProxyErrors) {
  auto r =
      run("track_proxy a {\n  interval 1\n}\n"
          "track_proxy b {\n  pidfile /x\n  process haproxy\n  listen 1.2.3.4\n}\n"
          "vrrp_instance V {\n  interface eth0\n  virtual_router_id 1\n"
          "  virtual_ipaddress {\n    198.18.0.5\n  }\n  track_proxy {\n    c\n  }\n}\n");
  const std::string all = r.diags.to_string();
  EXPECT_NE(all.find(":1:1: error: track_proxy 'a' watches nothing"), std::string::npos) << all;
  EXPECT_NE(all.find(":4:1: error: track_proxy 'b' has both pidfile and process"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find(":7:10: error: '1.2.3.4' is no address and port"), std::string::npos) << all;
  EXPECT_NE(all.find("track_proxy 'c' names no track_proxy"), std::string::npos) << all;
  auto r2 = run("track_proxy d {\n  backend be\n}\n");
  EXPECT_NE(r2.diags.to_string().find(":1:1: error: track_proxy 'd' names backends but no "
                                      "stats_socket"),
            std::string::npos)
      << r2.diags.to_string();
}

TEST(VrrpConfig, EveryKeywordParses) {
  auto r = run(kEveryKeyword);
  EXPECT_FALSE(r.diags.has_errors()) << r.diags.to_string();
  EXPECT_EQ(r.diags.warning_count(), 0u) << r.diags.to_string();
  ASSERT_EQ(r.cfg.instances.size(), 2u);
  EXPECT_EQ(r.cfg.global.vrrp_mcast_group4, ip("224.0.0.19"));
  // vrrp_min_garp: one message, no second burst.
  EXPECT_EQ(r.cfg.instances[1].garp_master_repeat, 1u);
  EXPECT_EQ(r.cfg.instances[1].garp_master_delay, seconds(0));
  EXPECT_FALSE(r.cfg.instances[0].v3_checksum_as_v2 == false);
  EXPECT_FALSE(r.cfg.instances[1].v3_checksum_as_v2);
  EXPECT_EQ(r.cfg.track_processes.at(0).param_match, ParamMatch::kPartial);
  EXPECT_THAT(r.cfg.track_processes.at(0).params, ElementsAre("b"));
  const TrackProxy& lb = r.cfg.track_proxies.at(0);
  EXPECT_EQ(lb.pidfile, "/run/haproxy.pid");
  EXPECT_EQ(lb.stats_socket, "/run/haproxy/admin.sock");
  EXPECT_THAT(lb.backends, ElementsAre("web", "api"));
  ASSERT_EQ(lb.listens.size(), 2u);
  EXPECT_EQ(lb.listens[1].address, ip("::1"));
  EXPECT_EQ(lb.listens[1].port, 8080);
  EXPECT_EQ(lb.interval, std::chrono::milliseconds(50));
  EXPECT_EQ(lb.timeout, std::chrono::milliseconds(20));
  EXPECT_EQ(lb.rise, 2u);
  EXPECT_EQ(lb.fall, 3u);
  EXPECT_EQ(lb.weight, -50);
  EXPECT_TRUE(lb.weight_reverse);
  EXPECT_EQ(r.cfg.instances[0].track_proxies.at(0).weight, -20);

  // Each supported keyword of the reference (rows with three cells) occurs in the text.
  std::istringstream md(keyword_reference_markdown());
  std::regex row(R"(^\| `([^`]+)` \|[^|]*\|[^|]*\|$)");
  std::string line;
  size_t checked = 0;
  while (std::getline(md, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, row)) continue;
    std::regex word("(^|\\s)" + m[1].str() + "(\\s|$)");
    EXPECT_TRUE(std::regex_search(std::string(kEveryKeyword), word)) << m[1];
    ++checked;
  }
  EXPECT_GT(checked, 90u);
}

// ---------------------------------------------------------------------------------------------
// Errors and warnings: exact text and position.

TEST(VrrpConfig, LoadBalancingBlocksAreRefusedWithAHint) {
  auto r = run("virtual_server 198.18.0.100 80 {\n}\nstatic_routes {\n}\n");
  EXPECT_THAT(r.lines(),
              ElementsAre("1:1: error: 'virtual_server' is not supported by tandem-vrrp",
                          "3:1: error: 'static_routes' is not supported by tandem-vrrp"));
  EXPECT_EQ(r.hint(0),
            "tandem-vrrp does VRRP only; put the load balancing in tandem-lb "
            "(haproxy.cfg)");
}

TEST(VrrpConfig, MisspelledUnicastPeerIsAnErrorNotMulticast) {
  // keepalived 2.2.7: "Unknown keyword 'unicst_peer'" and then runs multicast.
  auto r = run(instance("  unicst_peer {\n    198.18.0.2\n  }\n"));
  EXPECT_THAT(r.lines(), ElementsAre("7:3: error: unknown keyword 'unicst_peer' in vrrp_instance"));
  EXPECT_EQ(r.hint(0), "did you mean 'unicast_peer'?");
}

TEST(VrrpConfig, UnsupportedKeywordsSayWhy) {
  auto r =
      run("global_defs {\n  vrrp_strict\n  smtp_server 127.0.0.1\n}\n" + instance("  use_vmac\n"));
  EXPECT_THAT(r.lines(), ElementsAre("2:3: error: 'vrrp_strict' is not supported by tandem-vrrp",
                                     "3:3: error: 'smtp_server' is not supported by tandem-vrrp",
                                     "11:3: error: 'use_vmac' is not supported by tandem-vrrp"));
  EXPECT_EQ(r.hint(1), "tandem-vrrp sends no e-mail; send it from a notify script");
}

TEST(VrrpConfig, RangesOfVridPriorityAndWeights) {
  auto r =
      run("vrrp_script s {\n script /bin/true\n weight -254\n}\n"
          "vrrp_instance V {\n interface eth0\n virtual_router_id 256\n priority 0\n}\n");
  EXPECT_THAT(r.lines(), ElementsAre("3:9: error: weight -254 is out of range",
                                     "7:20: error: virtual_router_id 256 is out of range",
                                     "8:11: error: priority 0 is out of range",
                                     "5:1: error: vrrp_instance 'V' has no virtual_router_id",
                                     "5:1: warning: vrrp_instance 'V' has no virtual_ipaddress"));
  EXPECT_EQ(r.hint(0), "expected a whole number from -253 to 253");
  EXPECT_EQ(r.hint(1), "expected a whole number from 1 to 255");
}

TEST(VrrpConfig, MissingInterface) {
  auto r = run("vrrp_instance V {\n virtual_router_id 5\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n");
  EXPECT_THAT(r.lines(), ElementsAre("1:1: error: vrrp_instance 'V' has no interface"));
  // With unicast peers an interface is optional, but then each address needs its dev.
  auto u =
      run("vrrp_instance V {\n virtual_router_id 5\n unicast_peer {\n 10.0.0.2\n }\n"
          " virtual_ipaddress {\n 10.0.0.1\n 10.0.0.3 dev eth1\n }\n}\n");
  EXPECT_THAT(u.lines(),
              ElementsAre("7:2: error: virtual address 10.0.0.1 has no dev and the instance no "
                          "interface"));
}

TEST(VrrpConfig, EmptyUnicastPeerBlockIsAnError) {
  auto r = run(instance("  unicast_peer {\n  }\n"));
  EXPECT_THAT(r.lines(), ElementsAre("1:1: error: vrrp_instance 'V' has an empty unicast_peer "
                                     "block"));
  EXPECT_THAT(r.hint(0), ::testing::HasSubstr("makes the instance multicast"));
}

TEST(VrrpConfig, UnicastSourceFamilyMustMatch) {
  // keepalived 2.2.7 -t: "VRRP instance[V] and src address[2001:db8::1] MUST be of the same
  // family !!! Skipping..." when the source comes after an IPv4 peer.
  auto r = run(instance("  unicast_src_ip 2001:db8::1\n  unicast_peer {\n    198.18.0.2\n  }\n"));
  EXPECT_THAT(r.lines(),
              ElementsAre("7:18: error: source address 2001:db8::1 is IPv6 but the instance is "
                          "IPv4"));
}

TEST(VrrpConfig, IPv6ForcesVersion3) {
  auto r =
      run("vrrp_instance V {\n interface eth0\n virtual_router_id 5\n version 2\n"
          " virtual_ipaddress {\n fe80::1\n }\n}\n");
  EXPECT_THAT(r.lines(), ElementsAre("4:10: warning: vrrp_instance 'V' is IPv6, which needs VRRP "
                                     "version 3; using 3"));
  EXPECT_EQ(r.cfg.instances[0].version, 3);
  // Without an explicit version 2, silently 3, as keepalived.
  auto q =
      run("vrrp_instance V {\n interface eth0\n virtual_router_id 5\n"
          " virtual_ipaddress {\n fe80::1\n }\n}\n");
  EXPECT_TRUE(q.diags.empty()) << q.diags.to_string();
  EXPECT_EQ(q.cfg.instances[0].version, 3);
}

TEST(VrrpConfig, VirtualAddressesOfOneFamily) {
  // keepalived 2.2.7 -t: "(V): address family must match VRRP instance [2001:db8::1/64] -
  // ignoring".
  auto r =
      run("vrrp_instance V {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n"
          " 10.0.0.5/24\n 2001:db8::1/64\n }\n virtual_ipaddress_excluded {\n 2001:db8::2\n"
          " 10.0.0.6\n }\n}\n");
  EXPECT_THAT(r.lines(), ElementsAre("6:2: error: virtual address 2001:db8::1 is IPv6 but the "
                                     "instance's first one is IPv4"));
}

TEST(VrrpConfig, NopreemptWithStateMasterIsAWarningAndIgnored) {
  auto r = run(instance("  state MASTER\n  priority 150\n  nopreempt\n"));
  EXPECT_THAT(r.lines(), ElementsAre("1:1: warning: vrrp_instance 'V': nopreempt does not work "
                                     "with state MASTER; ignored"));
  EXPECT_TRUE(r.cfg.instances[0].preempt);
}

TEST(VrrpConfig, TrackReferencesMustNameDefinedObjects) {
  // keepalived 2.2.7 -t: "(V) track script nosuch not found, ignoring...".
  auto r = run("vrrp_script chk {\n script /bin/true\n}\n" +
               instance("  track_script {\n    nosuch\n    chk weight 300\n  }\n"));
  EXPECT_THAT(r.lines(), ElementsAre("12:16: error: weight 300 is out of range",
                                     "11:5: error: track_script 'nosuch' names no vrrp_script"));
  EXPECT_EQ(r.hint(1), "define it with 'vrrp_script nosuch { ... }'; defined: chk");
}

TEST(VrrpConfig, SyncGroupMembers) {
  auto r = run(instance("", "A") + instance("", "B", 52) +
               "vrrp_sync_group G1 {\n group {\n A C\n }\n}\n"
               "vrrp_sync_group G2 {\n group {\n A\n B\n }\n}\n");
  EXPECT_THAT(r.lines(),
              ElementsAre("15:1: error: vrrp_sync_group 'G1' names unknown vrrp_instance 'C'",
                          "20:1: error: vrrp_instance 'A' is in vrrp_sync_group 'G1' and 'G2'"));
}

TEST(VrrpConfig, AuthenticationRules) {
  // keepalived 2.2.7 -t: "Truncating auth_pass to 8 characters".
  auto r = run(instance("  authentication {\n    auth_type PASS\n    auth_pass 123456789\n  }\n"));
  EXPECT_THAT(r.lines(), ElementsAre("9:15: warning: auth_pass is longer than 8 characters; only "
                                     "'12345678' is used"));
  EXPECT_EQ(r.cfg.instances[0].auth_pass, "12345678");

  auto v3 =
      run(instance("  version 3\n  authentication {\n    auth_type PASS\n    auth_pass x\n"
                   "  }\n"));
  EXPECT_THAT(v3.lines(), ElementsAre("9:15: warning: vrrp_instance 'V' uses VRRP version 3, "
                                      "which has no authentication; it is ignored"));
  EXPECT_EQ(v3.cfg.instances[0].auth_type, AuthType::kNone);

  auto ah = run(instance("  authentication {\n    auth_type AH\n  }\n"));
  EXPECT_THAT(ah.lines(), ElementsAre("8:15: error: auth_type AH is not supported by tandem-vrrp"));

  auto nopass = run(instance("  authentication {\n    auth_type PASS\n  }\n"));
  EXPECT_THAT(nopass.lines(),
              ElementsAre("7:3: error: authentication has auth_type but no auth_pass"));
}

TEST(VrrpConfig, AdvertIntervalPerVersion) {
  auto v2 = run(instance("  advert_int 1.5\n"));
  EXPECT_THAT(v2.lines(),
              ElementsAre("7:14: error: advert_int 1.5 is not valid for VRRP version 2"));
  auto v3 = run(instance("  version 3\n  advert_int 0.015\n"));
  EXPECT_THAT(v3.lines(),
              ElementsAre("8:14: error: advert_int 0.015 is not valid for VRRP version 3"));
  auto big = run(instance("  version 3\n  advert_int 41\n"));
  EXPECT_THAT(big.lines(),
              ElementsAre("8:14: error: advert_int 41 is not valid for VRRP version 3"));
  auto ok = run(instance("  version 3\n  advert_int 40.95\n"));
  EXPECT_TRUE(ok.diags.empty()) << ok.diags.to_string();
  EXPECT_EQ(ok.cfg.instances[0].advert_interval, milliseconds(40950));
}

TEST(VrrpConfig, DuplicateVridOnOneInterface) {
  auto r = run(instance("", "A") + instance("", "B"));
  EXPECT_THAT(r.lines(),
              ElementsAre("8:1: error: vrrp_instance 'B' uses VRID 51 on eth0 like 'A'"));
  EXPECT_EQ(r.hint(0), "'A' is at k.conf:1:1; give one of them another virtual_router_id");
  // Unicast instances with disjoint peers may share a VRID, as keepalived allows.
  auto u = run(instance("  unicast_peer {\n    198.18.0.2\n  }\n", "A") +
               instance("  unicast_peer {\n    198.18.0.3\n  }\n", "B"));
  EXPECT_TRUE(u.diags.empty()) << u.diags.to_string();
}

TEST(VrrpConfig, NotifyScriptsSplitLikeKeepalived) {
  auto r = run(
      instance("  notify_master \"/bin/x  a 'b c'd\" alice staff\n  notify_backup /bin/y bob\n"));
  ASSERT_TRUE(r.diags.empty()) << r.diags.to_string();
  const auto& n = r.cfg.instances[0].notify;
  EXPECT_THAT(n.master->argv, ElementsAre("/bin/x", "a", "b cd"));
  EXPECT_EQ(n.master->user, "alice");
  EXPECT_EQ(n.master->group, "staff");
  EXPECT_EQ(n.backup->user, "bob");
  // keepalived: "notify_fault script already specified - ignoring"; here it is an error.
  auto bad = run(
      instance("  notify_master \"/bin/x 'a\"\n  notify_fault /bin/f\n  notify_fault /bin/g\n"));
  EXPECT_THAT(bad.lines(),
              ElementsAre("7:17: error: unterminated single quote in script '/bin/x 'a'",
                          "9:3: error: 'notify_fault' is given twice"));
  EXPECT_EQ(bad.hint(1), "the first one is at k.conf:8:16");
}

TEST(VrrpConfig, VirtualAddressAndRouteOptions) {
  auto r = run(
      instance("  virtual_ipaddress_excluded {\n    198.18.0.7/32 scope link peer 1.2.3.4\n"
               "    198.18.0.8 frob\n  }\n  virtual_routes {\n    blackhole 10.0.0.0/8\n  }\n"));
  EXPECT_THAT(r.lines(),
              ElementsAre("8:30: error: address option 'peer' is not supported by tandem-vrrp",
                          "9:16: error: unknown address option 'frob'",
                          "12:5: error: route option 'blackhole' is not supported by "
                          "tandem-vrrp"));
}

TEST(VrrpConfig, V3ChecksumAsV2GlobalDefaultAndInstanceOverride) {
  auto r = run("global_defs {\n v3_checksum_as_v2\n}\n" + instance("  version 3\n", "A") +
               instance("  version 3\n  v3_checksum_as_v2 off\n", "B", 52));
  ASSERT_TRUE(r.diags.empty()) << r.diags.to_string();
  EXPECT_TRUE(r.cfg.instances[0].v3_checksum_as_v2);
  EXPECT_FALSE(r.cfg.instances[1].v3_checksum_as_v2);
}

TEST(VrrpConfig, NoVirtualAddressesInVersion3IsAnError) {
  auto r = run("vrrp_instance V {\n interface eth0\n virtual_router_id 5\n version 3\n}\n");
  EXPECT_THAT(r.lines(), ElementsAre("1:1: error: vrrp_instance 'V' has no virtual_ipaddress"));
}

// ---------------------------------------------------------------------------------------------
// docs/vrrp.md embeds the generated keyword reference.
// To regenerate: TANDEM_REGEN_DOCS=1 ./vrrp_unit_test --gtest_filter='*KeywordReference*'

TEST(VrrpConfig, KeywordReferenceInDocsIsUpToDate) {
  tandem::testing::check_generated_section(
      source_root() / "docs/vrrp.md", keyword_reference_markdown(),
      "TANDEM_REGEN_DOCS=1 build/<dir>/tests/unit/vrrp/vrrp_unit_test "
      "--gtest_filter='*KeywordReference*'");
}

}  // namespace
}  // namespace tandem::vrrp
