// HealthChecker on a real loop against fake servers on loopback (port 0): TCP and HTTP
// checks, time-outs, going DOWN after `fall` and back UP after `rise`.
#include "lb/health_check.h"

#include <gtest/gtest.h>

#include <asio.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <vector>

namespace tandem::lb {
namespace {

using namespace std::chrono_literals;
using health::CheckStatus;
using health::State;

// A server on 127.0.0.1:0 whose behaviour can change while the test runs.
class FakeServer {
 public:
  enum class Mode { kClose, kHttp, kSilent };

  explicit FakeServer(asio::io_context& io) : io_(io), acceptor_(io) {
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept();
  }

  uint16_t port() const { return port_; }
  void close() { acceptor_.close(); }
  void set_close() { mode_ = Mode::kClose; }
  void set_silent() { mode_ = Mode::kSilent; }
  void set_http(std::string response) {
    mode_ = Mode::kHttp;
    response_ = std::move(response);
  }
  const std::vector<std::string>& requests() const { return requests_; }

 private:
  struct Conn {
    explicit Conn(asio::io_context& io) : socket(io) {}
    asio::ip::tcp::socket socket;
    std::string in;
    std::array<char, 1024> buf{};
  };

  void accept() {
    auto c = std::make_shared<Conn>(io_);
    acceptor_.async_accept(c->socket, [this, c](const std::error_code& ec) {
      if (ec) return;
      if (mode_ == Mode::kClose) {
        c->socket.close();
      } else if (mode_ == Mode::kSilent) {
        held_.push_back(c);  // never answered
      } else {
        read(c, response_);
      }
      accept();
    });
  }

  void read(const std::shared_ptr<Conn>& c, std::string response) {
    c->socket.async_read_some(asio::buffer(c->buf), [this, c, response](const std::error_code& ec,
                                                                        size_t n) {
      if (ec) return;
      c->in.append(c->buf.data(), n);
      if (c->in.find("\r\n\r\n") == std::string::npos) return read(c, response);
      requests_.push_back(c->in);
      auto out = std::make_shared<std::string>(response);
      asio::async_write(c->socket, asio::buffer(*out), [c, out](const std::error_code&, size_t) {
        std::error_code ignored;
        c->socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        c->socket.close(ignored);
      });
    });
  }

  asio::io_context& io_;
  asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  Mode mode_ = Mode::kClose;
  std::string response_;
  std::vector<std::string> requests_;
  std::vector<std::shared_ptr<Conn>> held_;
};

std::string http_response(std::string status_line, std::string body = "") {
  return "HTTP/1.1 " + status_line + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

// A port nothing listens on: bound, then closed.
uint16_t closed_port(asio::io_context& io) {
  asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  uint16_t port = a.local_endpoint().port();
  a.close();
  return port;
}

// Durations differ run to run; the rest of the line must be haproxy's, byte for byte.
std::string without_duration(const std::string& line) {
  return std::regex_replace(line, std::regex("check duration: [0-9]+ms"), "check duration: Nms");
}

class HealthCheckTest : public ::testing::Test {
 protected:
  CheckedServer server(uint16_t port, uint32_t rise = 2, uint32_t fall = 2) {
    CheckedServer s;
    s.id = next_id_++;
    s.backend = "be";
    s.name = "s" + std::to_string(s.id);
    s.endpoint = asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port);
    s.params.rise = rise;
    s.params.fall = fall;
    s.params.inter = 50ms;
    s.params.fastinter = 30ms;
    s.params.downinter = 40ms;
    s.timeout_connect = 200ms;
    return s;
  }

  static HttpCheck http_check(std::optional<HttpCheck::Expect> expect = std::nullopt) {
    HttpCheck h;
    h.enabled = true;
    h.method = "GET";
    h.uri = "/health";
    h.version = "HTTP/1.1";
    h.headers = {{"Host", "x"}};
    h.expect = std::move(expect);
    return h;
  }

  void start(std::vector<CheckedServer> servers) {
    HealthChecker::Options o;
    o.on_result = [this](const CheckedServer& s, const health::CheckResult& r) {
      results_.push_back({s.id, r});
    };
    checker_ = std::make_unique<HealthChecker>(
        io_, clock_, std::move(servers),
        [this](const StateChange& c) {
          changes_.push_back({c.server.id, c.state, c.result, c.log_line, c.alert_line});
        },
        std::move(o));
    ASSERT_TRUE(checker_->start());
  }

  // Runs the loop until pred() holds or the time is up; every test stays well under 2 s.
  bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 1500ms) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= end) return false;
      io_.run_one_for(10ms);
    }
    return true;
  }

  size_t results_for(uint32_t id) const {
    size_t n = 0;
    for (const auto& r : results_) n += r.first == id;
    return n;
  }

  struct Change {
    uint32_t id;
    State state;
    health::CheckResult result;
    std::string line, alert;
  };

  asio::io_context io_;
  core::SteadyClock clock_{io_};
  std::unique_ptr<HealthChecker> checker_;
  std::vector<std::pair<uint32_t, health::CheckResult>> results_;
  std::vector<Change> changes_;
  uint32_t next_id_ = 1;
};

TEST_F(HealthCheckTest, ListeningServerStaysUp) {
  FakeServer srv(io_);
  start({server(srv.port())});
  ASSERT_TRUE(run_until([&] { return results_for(1) >= 4; }));
  EXPECT_TRUE(changes_.empty());
  EXPECT_EQ(checker_->health(1)->state(), State::kUp);
  EXPECT_EQ(results_.back().second.status, CheckStatus::kL4Ok);
  EXPECT_EQ(checker_->health(1)->health(), checker_->health(1)->max_health());
}

// A fully UP server goes DOWN after `fall` refused connects, with haproxy's line.
TEST_F(HealthCheckTest, ClosedPortGoesDownAfterFall) {
  auto srv = std::make_unique<FakeServer>(io_);
  start({server(srv->port(), 2, 3)});
  ASSERT_TRUE(run_until([&] { return results_for(1) >= 1; }));
  srv->close();
  size_t passes = results_.size();
  ASSERT_TRUE(run_until([&] { return !changes_.empty(); }));
  EXPECT_EQ(results_.size() - passes, 3u);  // fall
  const Change& c = changes_.front();
  EXPECT_EQ(c.state, State::kDown);
  EXPECT_EQ(c.result.status, CheckStatus::kL4Con);
  EXPECT_EQ(without_duration(c.line),
            "Server be/s1 is DOWN, reason: Layer4 connection problem, info: \"Connection "
            "refused\", check duration: Nms. 0 active and 0 backup servers left. 0 sessions "
            "active, 0 requeued, 0 remaining in queue.");
  EXPECT_EQ(c.alert, "backend be has no server available!");
}

// As haproxy: an unchecked server is UP with health == rise, so its first failure is enough.
TEST_F(HealthCheckTest, ClosedPortAtStartGoesDownOnFirstCheck) {
  FakeServer other(io_);
  start({server(closed_port(io_)), server(other.port())});
  ASSERT_TRUE(run_until([&] { return !changes_.empty(); }));
  EXPECT_EQ(results_for(1), 1u);
  EXPECT_EQ(without_duration(changes_[0].line),
            "Server be/s1 is DOWN, reason: Layer4 connection problem, info: \"Connection "
            "refused\", check duration: Nms. 1 active and 0 backup servers left. 0 sessions "
            "active, 0 requeued, 0 remaining in queue.");
  EXPECT_EQ(changes_[0].alert, "");
}

TEST_F(HealthCheckTest, Http500GoesDownWithWrongStatus) {
  FakeServer srv(io_);
  srv.set_http(http_response("500 Internal Server Error"));
  CheckedServer s = server(srv.port());
  s.http = http_check();
  start({s});
  ASSERT_TRUE(run_until([&] { return !changes_.empty(); }));
  EXPECT_EQ(changes_[0].result.status, CheckStatus::kL7Sts);
  EXPECT_EQ(without_duration(changes_[0].line),
            "Server be/s1 is DOWN, reason: Layer7 wrong status, code: 500, info: \"Internal "
            "Server Error\", check duration: Nms. 0 active and 0 backup servers left. 0 sessions "
            "active, 0 requeued, 0 remaining in queue.");
}

TEST_F(HealthCheckTest, Http200StaysUpAndSendsTheRequest) {
  FakeServer srv(io_);
  srv.set_http(http_response("200 OK", "fine"));
  CheckedServer s = server(srv.port());
  s.http = http_check();
  start({s});
  ASSERT_TRUE(run_until([&] { return results_for(1) >= 4; }));
  EXPECT_TRUE(changes_.empty());
  EXPECT_EQ(results_.back().second,
            (health::CheckResult{CheckStatus::kL7Ok, 200, "", results_.back().second.duration}));
  ASSERT_FALSE(srv.requests().empty());
  EXPECT_EQ(srv.requests()[0], "GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
}

TEST_F(HealthCheckTest, ExpectString) {
  FakeServer srv(io_);
  srv.set_http(http_response("200 OK", "all good here"));
  CheckedServer good = server(srv.port());
  good.http = http_check(HttpCheck::Expect{HttpCheck::Expect::Kind::kString, false, "good", {}});
  CheckedServer bad = server(srv.port());
  bad.http = http_check(HttpCheck::Expect{HttpCheck::Expect::Kind::kString, false, "bad", {}});
  start({good, bad});
  ASSERT_TRUE(run_until([&] { return !changes_.empty() && results_for(1) >= 3; }));
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].id, 2u);
  EXPECT_EQ(without_duration(changes_[0].line),
            "Server be/s2 is DOWN, reason: Layer7 invalid response, info: \"HTTP content check "
            "did not match\", check duration: Nms. 1 active and 0 backup servers left. 0 sessions "
            "active, 0 requeued, 0 remaining in queue.");
  EXPECT_EQ(checker_->health(1)->state(), State::kUp);
}

// `timeout check 100ms`: a server that accepts and never answers fails with L7TOUT in ~100ms.
TEST_F(HealthCheckTest, SilentServerTimesOut) {
  FakeServer srv(io_);
  srv.set_silent();
  CheckedServer s = server(srv.port());
  s.http = http_check();
  s.timeout_check = 100ms;
  start({s});
  ASSERT_TRUE(run_until([&] { return !changes_.empty(); }));
  const Change& c = changes_[0];
  EXPECT_EQ(c.result.status, CheckStatus::kL7Tout);
  EXPECT_GE(c.result.duration, 100ms);
  EXPECT_LT(c.result.duration, 400ms);
  EXPECT_EQ(without_duration(c.line),
            "Server be/s1 is DOWN, reason: Layer7 timeout, check duration: Nms. 0 active and 0 "
            "backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.");
}

// Without `timeout check`, inter bounds the whole check.
TEST_F(HealthCheckTest, SilentServerWithoutTimeoutCheckUsesInter) {
  FakeServer srv(io_);
  srv.set_silent();
  CheckedServer s = server(srv.port());
  s.http = http_check();
  start({s});
  ASSERT_TRUE(run_until([&] { return !changes_.empty(); }));
  EXPECT_EQ(changes_[0].result.status, CheckStatus::kL7Tout);
  EXPECT_GE(changes_[0].result.duration, 50ms);
  EXPECT_LT(changes_[0].result.duration, 300ms);
}

// A listener whose accept queue is full drops SYNs: the connect times out (L4TOUT) after
// min(timeout connect, inter) with `timeout check`, as haproxy's "check duration: 301ms".
TEST_F(HealthCheckTest, FullBacklogIsLayer4Timeout) {
  asio::ip::tcp::acceptor full(io_);
  asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  full.open(ep.protocol());
  full.bind(ep);
  full.listen(0);
  ep = full.local_endpoint();
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> fillers;
  for (int i = 0; i < 4; ++i) {
    fillers.push_back(std::make_unique<asio::ip::tcp::socket>(io_));
    fillers.back()->async_connect(ep, [](const std::error_code&) {});
  }
  run_until([] { return false; }, 20ms);
  CheckedServer s = server(ep.port());
  s.params.inter = 500ms;
  s.timeout_connect = 80ms;
  s.timeout_check = 1000ms;
  start({s});
  ASSERT_TRUE(run_until([&] { return !changes_.empty(); }));
  const Change& c = changes_[0];
  EXPECT_EQ(c.result.status, CheckStatus::kL4Tout);
  EXPECT_GE(c.result.duration, 80ms);
  EXPECT_LT(c.result.duration, 300ms);
  EXPECT_EQ(without_duration(c.line),
            "Server be/s1 is DOWN, reason: Layer4 timeout, check duration: Nms. 0 active and 0 "
            "backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.");
}

// A reset after connecting, before any answer: haproxy says "Socket error".
TEST_F(HealthCheckTest, ResetIsSocketError) {
  FakeServer srv(io_);
  srv.set_close();  // closes at once with the request unread: the kernel resets
  CheckedServer s = server(srv.port());
  s.http = http_check();
  start({s});
  ASSERT_TRUE(run_until([&] { return !changes_.empty(); }));
  // Depending on timing the close arrives as a reset or as an end of stream.
  CheckStatus st = changes_[0].result.status;
  EXPECT_TRUE(st == CheckStatus::kSockErr || st == CheckStatus::kL7Rsp) << changes_[0].line;
}

TEST_F(HealthCheckTest, RecoversAfterRise) {
  FakeServer srv(io_);
  srv.set_http(http_response("500 Internal Server Error"));
  CheckedServer s = server(srv.port(), 3, 2);
  s.http = http_check();
  start({s});
  ASSERT_TRUE(run_until([&] { return changes_.size() == 1; }));
  ASSERT_TRUE(run_until([&] { return results_for(1) >= 3; }));  // a few DOWN checks
  srv.set_http(http_response("200 OK"));
  size_t before = results_.size();
  ASSERT_TRUE(run_until([&] { return changes_.size() == 2; }));
  EXPECT_EQ(results_.size() - before, 3u);  // rise
  EXPECT_EQ(changes_[1].state, State::kUp);
  EXPECT_EQ(without_duration(changes_[1].line),
            "Server be/s1 is UP, reason: Layer7 check passed, code: 200, check duration: Nms. 1 "
            "active and 0 backup servers online. 0 sessions requeued, 0 total in queue.");
  EXPECT_EQ(checker_->health(1)->down_transitions(), 1u);
}

TEST_F(HealthCheckTest, BackupWording) {
  FakeServer srv(io_);
  CheckedServer a = server(closed_port(io_));
  CheckedServer b = server(srv.port());
  b.backup = true;
  start({a, b});
  ASSERT_TRUE(run_until([&] { return !changes_.empty(); }));
  EXPECT_EQ(without_duration(changes_[0].line),
            "Server be/s1 is DOWN, reason: Layer4 connection problem, info: \"Connection "
            "refused\", check duration: Nms. 0 active and 1 backup servers left. Running on "
            "backup. 0 sessions active, 0 requeued, 0 remaining in queue.");
}

TEST_F(HealthCheckTest, MaintenanceIsNotChecked) {
  FakeServer srv(io_);
  CheckedServer a = server(srv.port());
  a.params.disabled = true;
  CheckedServer b = server(srv.port());
  start({a, b});
  ASSERT_TRUE(run_until([&] { return results_for(2) >= 3; }));
  EXPECT_EQ(results_for(1), 0u);
  EXPECT_EQ(checker_->health(1)->state(), State::kMaint);
  checker_->set_maintenance(1, false);
  ASSERT_TRUE(run_until([&] { return results_for(1) >= 1; }));
  EXPECT_EQ(checker_->health(1)->state(), State::kUp);
  EXPECT_TRUE(changes_.empty());
}

TEST_F(HealthCheckTest, StopCancelsEverything) {
  FakeServer srv(io_);
  srv.set_silent();
  CheckedServer s = server(srv.port());
  s.http = http_check();
  s.timeout_check = 1000ms;
  start({s});
  run_until([] { return false; }, 60ms);  // a check is now waiting for its answer
  checker_->stop();
  size_t n = results_.size();
  run_until([] { return false; }, 150ms);
  EXPECT_EQ(results_.size(), n);
  checker_.reset();  // destroying with abandoned handlers pending is safe
  io_.poll();
}

TEST(HealthCheckConfigTest, CheckedServersFromBackend) {
  Proxy be;
  be.kind = Proxy::Kind::kBackend;
  be.name = "be";
  be.http_check.enabled = true;
  be.timeouts.check = std::chrono::milliseconds(300);
  Server s1;
  s1.name = "s1";
  s1.address.host = "127.0.0.1";
  s1.address.port_first = 8080;
  s1.params.check = true;
  s1.params.check_port = 9090;
  Server s2 = s1;
  s2.name = "s2";
  s2.params.check = false;
  Server s3 = s1;
  s3.name = "s3";
  s3.params.check_addr = "::1";
  s3.params.check_port.reset();
  be.servers = {s1, s2, s3};
  auto r = checked_servers(be, 10);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].id, 10u);
  EXPECT_EQ((*r)[0].endpoint.port(), 9090);
  EXPECT_TRUE((*r)[0].http);
  EXPECT_EQ((*r)[0].timeout_check, std::chrono::milliseconds(300));
  EXPECT_EQ((*r)[1].name, "s3");
  EXPECT_EQ((*r)[1].endpoint.address().to_string(), "::1");
  EXPECT_EQ((*r)[1].endpoint.port(), 8080);
  be.servers[0].address.host = "backend.example";
  be.servers[0].params.check_addr.reset();
  EXPECT_FALSE(checked_servers(be));
}

}  // namespace
}  // namespace tandem::lb
