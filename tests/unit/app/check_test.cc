#include "app/check.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace tandem::app {
namespace {

namespace fs = std::filesystem;

class CheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("tandem_check_" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "sys/net/ipv4");
    write("sys/net/ipv4/ip_nonlocal_bind", "0\n");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  static std::string node(const std::string& src, const std::string& peer, int prio,
                          const std::string& extra = "", int vrid = 51) {
    return "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id " +
           std::to_string(vrid) + "\n    priority " + std::to_string(prio) +
           "\n    advert_int 1\n    unicast_src_ip " + src + "\n    unicast_peer {\n        " +
           peer + "\n    }\n    virtual_ipaddress {\n        198.18.0.100/24\n    }\n" + extra +
           "}\n";
  }
  CheckOptions options(const std::string& a) {
    CheckOptions o;
    o.vrrp_config = a;
    o.sysctl_root = (dir_ / "sys").string();
    return o;
  }
  fs::path dir_;
};

TEST_F(CheckTest, AConsistentPairPasses) {
  auto o = options(write("a.conf", node("198.18.0.1", "198.18.0.2", 101)));
  o.peer_vrrp = write("b.conf", node("198.18.0.2", "198.18.0.1", 100));
  auto d = check_node(o);
  EXPECT_FALSE(d.has_errors()) << d.to_string();
  EXPECT_EQ(d.warning_count(), 0u) << d.to_string();
}

TEST_F(CheckTest, PeersThatDoNotListEachOtherAreErrors) {
  auto o = options(write("a.conf", node("198.18.0.1", "198.18.0.2", 101)));
  o.peer_vrrp = write("b.conf", node("198.18.0.2", "198.18.0.9", 100));
  auto d = check_node(o);
  // b lists .9, not a's .1.
  EXPECT_NE(d.to_string().find("VI_1: unicast_src_ip 198.18.0.1 is not among the other node's "
                               "unicast_peer"),
            std::string::npos)
      << d.to_string();
  o.peer_vrrp = write("c.conf", node("198.18.0.3", "198.18.0.1", 100));
  d = check_node(o);
  // c sends from .3, which a does not list.
  EXPECT_NE(d.to_string().find("the other node's unicast_src_ip 198.18.0.3 is not among this "
                               "node's unicast_peer"),
            std::string::npos)
      << d.to_string();
}

TEST_F(CheckTest, DifferentVridIntervalAndPriorityTiesAreReported) {
  auto o = options(write("a.conf", node("198.18.0.1", "198.18.0.2", 100)));
  o.peer_vrrp = write("b.conf", node("198.18.0.2", "198.18.0.1", 100, "", 52));
  auto d = check_node(o);
  EXPECT_NE(d.to_string().find("the other node has no instance with VRID 51"), std::string::npos);
  o.peer_vrrp = write("c.conf", node("198.18.0.2", "198.18.0.1", 100));
  d = check_node(o);
  EXPECT_NE(d.to_string().find("both nodes have priority 100"), std::string::npos);
  EXPECT_FALSE(d.has_errors());
}

TEST_F(CheckTest, BindingTheVipNeedsNonlocalBind) {
  auto o = options(write("a.conf", node("198.18.0.1", "198.18.0.2", 101)));
  o.lb_configs = {write("h.cfg",
                        "frontend fe\n    mode http\n    bind 198.18.0.100:80\n"
                        "    default_backend be\nbackend be\n    mode http\n"
                        "    server s1 198.18.1.1:80\n")};
  auto d = check_node(o);
  EXPECT_TRUE(d.has_errors());
  EXPECT_NE(d.to_string().find("h.cfg:3:5: error: frontend fe binds the virtual address "
                               "198.18.0.100, which the backup node does not have"),
            std::string::npos)
      << d.to_string();
  write("sys/net/ipv4/ip_nonlocal_bind", "1\n");
  d = check_node(o);
  EXPECT_FALSE(d.has_errors()) << d.to_string();
}

TEST_F(CheckTest, MissingScriptsAreErrors) {
  auto o =
      options(write("a.conf", node("198.18.0.1", "198.18.0.2", 101,
                                   "    notify_master " + (dir_ / "nope.sh").string() + "\n")));
  auto d = check_node(o);
  EXPECT_NE(d.to_string().find("nope.sh: no such file"), std::string::npos) << d.to_string();
}

TEST_F(CheckTest, TrackProxyMustProbeWhatTheProxyServes) {
  const std::string track =
      "track_proxy lb {\n    pidfile /run/other.pid\n    listen 127.0.0.1:8080\n"
      "    stats_socket /run/lb.sock\n    backend web\n}\n";
  auto o = options(write("a.conf", track + node("198.18.0.1", "198.18.0.2", 101,
                                                "    track_proxy {\n        lb\n    }\n")));
  o.lb_configs = {write("h.cfg",
                        "global\n    pidfile /run/lb.pid\nfrontend fe\n    mode http\n"
                        "    bind *:80\n    default_backend be\nbackend be\n    mode http\n"
                        "    server s1 198.18.1.1:80\n")};
  auto d = check_node(o);
  const std::string text = d.to_string();
  EXPECT_NE(text.find("a.conf:3:12: error: track_proxy lb probes 127.0.0.1:8080, which no "
                      "frontend"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("watches backend web, which the proxy's configuration does not have"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("asks the stats socket /run/lb.sock, which the proxy's configuration does "
                      "not open"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("reads the pid file /run/other.pid, but the proxy writes /run/lb.pid"),
            std::string::npos)
      << text;

  // The same watch over a configuration that serves it: nothing to say about track_proxy.
  o.lb_configs = {write("h2.cfg",
                        "global\n    pidfile /run/other.pid\n    stats socket /run/lb.sock\n"
                        "frontend fe\n    mode http\n    bind *:8080\n    default_backend web\n"
                        "backend web\n    mode http\n    server s1 198.18.1.1:80\n")};
  d = check_node(o);
  EXPECT_EQ(d.to_string().find("track_proxy"), std::string::npos) << d.to_string();
}

}  // namespace
}  // namespace tandem::app
