// The worker's side of the master's hand-over: which endpoints a bind line names, and how
// inherited sockets turn binds into fd@N (real sockets on loopback, a real config file).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "app/lb_master.h"
#include "core/diagnostic.h"
#include "lb/config.h"

namespace tandem::app {
namespace {

lb::Bind bind_of(const std::string& host, uint16_t first, uint16_t last,
                 lb::Address::Kind kind = lb::Address::Kind::kIpv4) {
  lb::Bind b;
  b.address.kind = kind;
  b.address.host = host;
  b.address.port_first = first;
  b.address.port_last = last;
  return b;
}

TEST(BindEndpoints, KeysNameAddressPortAndV6only) {
  auto v4 = bind_endpoints(bind_of("127.0.0.1", 8080, 8080));
  ASSERT_TRUE(v4);
  ASSERT_EQ(v4->size(), 1u);
  EXPECT_EQ((*v4)[0].key, "127.0.0.1:8080");
  EXPECT_EQ((*v4)[0].addr.ss_family, AF_INET);

  auto any = bind_endpoints(bind_of("", 80, 80));
  ASSERT_TRUE(any);
  EXPECT_EQ((*any)[0].key, "0.0.0.0:80");

  lb::Bind v6 = bind_of("::", 443, 443, lb::Address::Kind::kIpv6);
  auto plain = bind_endpoints(v6);
  ASSERT_TRUE(plain);
  EXPECT_EQ((*plain)[0].key, "[::]:443");
  v6.v6only = true;
  EXPECT_EQ((*bind_endpoints(v6))[0].key, "[::]:443/v6only");
  v6.v6only = false;
  EXPECT_EQ((*bind_endpoints(v6))[0].key, "[::]:443/v4v6");
}

TEST(BindEndpoints, PortRangeGivesOnePerPort) {
  auto r = bind_endpoints(bind_of("127.0.0.1", 9000, 9002));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[2].key, "127.0.0.1:9002");
}

TEST(BindEndpoints, OtherKindsAreLeftToTheWorker) {
  auto unix_bind = bind_of("/run/x.sock", 0, 0, lb::Address::Kind::kUnix);
  auto r = bind_endpoints(unix_bind);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());
  auto bad = bind_endpoints(bind_of("not-an-ip", 80, 80));
  EXPECT_FALSE(bad);
}

class PrepareWorker : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           fmt::format("tandem-lb-master-test.{}", ::getpid());
    std::filesystem::create_directories(dir_);
    // A real listening socket on a port the kernel picks: the one the "master" passes.
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd_, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof a;
    ASSERT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = ntohs(a.sin_port);
  }
  void TearDown() override {
    ::unsetenv(kInheritedEnv);
    ::unsetenv(kReadyFdEnv);
    if (fd_ >= 0) ::close(fd_);
    std::filesystem::remove_all(dir_);
  }
  lb::Config load(const std::string& text) {
    auto path = dir_ / "lb.cfg";
    std::ofstream(path) << text;
    path_ = path.string();
    core::Diagnostics diags;
    lb::Config c = lb::load_config({path_}, diags);
    EXPECT_FALSE(diags.has_errors()) << diags.to_string();
    return c;
  }
  std::string config_text(uint16_t second_port) const {
    return fmt::format(
        "global\n    pidfile /run/x.pid\n    daemon\n"
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n"
        "    timeout server 1s\n"
        "frontend fe\n    bind 127.0.0.1:{}\n    bind 127.0.0.1:{} name second\n"
        "    default_backend be\n"
        "backend be\n    server s1 127.0.0.1:1\n",
        port_, second_port);
  }

  std::filesystem::path dir_;
  std::string path_;
  int fd_ = -1;
  uint16_t port_ = 0;
};

TEST_F(PrepareWorker, WithoutAMasterNothingChanges) {
  lb::Config c = load(config_text(port_));
  auto r = prepare_worker(c);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 0u);
  EXPECT_EQ(c.global.pidfile, "/run/x.pid");
  EXPECT_EQ(c.proxies[0].binds[0].address.kind, lb::Address::Kind::kIpv4);
}

TEST_F(PrepareWorker, InheritedSocketsBecomeFdBinds) {
  // Both binds on the same endpoint: one socket serves both lines.
  lb::Config c = load(config_text(port_));
  const std::string env = fmt::format("127.0.0.1:{}={}", port_, fd_);
  ::setenv(kInheritedEnv, env.c_str(), 1);
  auto r = prepare_worker(c);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, 2u);
  const lb::Proxy* fe = c.find_frontend("fe");
  ASSERT_NE(fe, nullptr);
  ASSERT_EQ(fe->binds.size(), 2u);
  EXPECT_EQ(fe->binds[0].address.kind, lb::Address::Kind::kFd);
  EXPECT_EQ(fe->binds[0].address.fd, fd_);
  EXPECT_EQ(fe->binds[1].name, "second");  // the bind's options stay
  // What the master does itself is not the worker's business.
  EXPECT_TRUE(c.global.pidfile.empty());
  EXPECT_FALSE(c.global.daemon);
  // The hand-over is read once, and the sockets are not passed on to scripts.
  EXPECT_EQ(std::getenv(kInheritedEnv), nullptr);
  EXPECT_TRUE(::fcntl(fd_, F_GETFD) & FD_CLOEXEC);
}

TEST_F(PrepareWorker, ABindTheMasterDidNotOpenIsAnError) {
  lb::Config c = load(config_text(static_cast<uint16_t>(port_ == 65535 ? 1 : port_ + 1)));
  const std::string env = fmt::format("127.0.0.1:{}={}", port_, fd_);
  ::setenv(kInheritedEnv, env.c_str(), 1);
  auto r = prepare_worker(c);
  ASSERT_FALSE(r);
  // The bind line, by file:line:col, and what to do.
  EXPECT_NE(r.error().to_string().find(path_ + ":11:"), std::string::npos) << r.error().to_string();
  EXPECT_NE(r.error().to_string().find("reload again"), std::string::npos);
}

TEST_F(PrepareWorker, MalformedHandOverIsAnError) {
  lb::Config c = load(config_text(port_));
  ::setenv(kInheritedEnv, "127.0.0.1:80", 1);
  EXPECT_FALSE(prepare_worker(c));
  ::setenv(kInheritedEnv, "127.0.0.1:80=x", 1);
  EXPECT_FALSE(prepare_worker(c));
}

TEST(DropPrivileges, NothingAskedNothingDone) {
  lb::Global g;
  EXPECT_TRUE(drop_privileges(g));
}

TEST(DropPrivileges, UnknownUserIsAnError) {
  lb::Global g;
  g.user = "tandem-no-such-user-here";
  auto r = drop_privileges(g);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().to_string().find("no such user"), std::string::npos);
}

}  // namespace
}  // namespace tandem::app
