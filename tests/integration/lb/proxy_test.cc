// The proxy run-time on loopback: fake upstreams in threads, raw clients, a real config.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/diagnostic.h"
#include "lb/config.h"
#include "lb/http1.h"
#include "lb/proxy/internal.h"
#include "lb/proxy/proxy.h"
#include "lb/rules.h"
#include "socket_util.h"

namespace tandem::lb::proxy {
namespace {

using namespace std::chrono_literals;
using namespace netutil;

// A fake upstream on 127.0.0.1: one thread accepting, one thread per connection.
class Upstream {
 public:
  using Handler = std::function<void(int fd)>;
  explicit Upstream(Handler h) : handler_(std::move(h)) {
    fd_ = loopback_listener();
    port_ = local_port(fd_);
    thread_ = std::thread([this] { accept_loop(); });
  }
  ~Upstream() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
    std::vector<std::thread> conns;
    {
      // The proxy may keep idle connections to us: end them rather than wait for time-outs.
      std::lock_guard lock(mu_);
      for (int c : fds_) ::shutdown(c, SHUT_RDWR);
      conns.swap(conns_);
    }
    for (auto& t : conns) t.join();
    for (int c : fds_) ::close(c);
  }
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      ++accepted_;
      set_timeouts(c);
      std::lock_guard lock(mu_);
      fds_.push_back(c);
      conns_.emplace_back([this, c] {
        handler_(c);
        ::shutdown(c, SHUT_RDWR);  // closed by the destructor: the number stays ours till then
      });
    }
  }
  Handler handler_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::thread> conns_;
  std::vector<int> fds_;
};

// An HTTP upstream: answers each request with `respond(request)`; records what it received.
struct HttpUpstream {
  using Respond = std::function<std::string(const Message&)>;
  explicit HttpUpstream(Respond r)
      : respond(std::move(r)), server([this](int fd) {
          std::string carry;
          for (;;) {
            Message m = read_message(fd, http1::Mode::kRequest, carry);
            if (!m.complete) break;
            {
              std::lock_guard lock(mu);
              requests.push_back(m);
            }
            std::string answer = respond(m);
            if (answer.empty() || !send_all(fd, answer)) break;
            if (!m.head.keep_alive) break;
          }
        }) {}
  std::vector<Message> seen() {
    std::lock_guard lock(mu);
    return requests;
  }
  Respond respond;
  std::mutex mu;
  std::vector<Message> requests;
  Upstream server;
};

std::string ok_response(std::string_view body, std::string_view extra = "") {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(extra) + "\r\n" + std::string(body);
}

class ProxyTest : public ::testing::Test {
 protected:
  void start(std::string text, uint32_t threads = 1,
             const std::function<void(RuntimeOptions&)>& tweak = {}) {
    int lfd = listening_socket();
    for (size_t at; (at = text.find("127.0.0.1:0\n")) != std::string::npos;) {
      text.replace(at, 11, "fd@" + std::to_string(lfd));
    }
    core::Diagnostics diags;
    config_ = load_config_text(text, diags);
    ASSERT_FALSE(diags.has_errors()) << diags.to_string();
    RuntimeOptions o;
    o.threads = threads;
    o.grace = 500ms;
    if (tweak) tweak(o);
    auto rt = Runtime::create(config_, o);
    ::close(lfd);
    ASSERT_TRUE(rt.has_value()) << rt.error().to_string();
    rt_ = std::move(*rt);
    rt_->start();
    port_ = rt_->port_of("fe");
    ASSERT_NE(port_, 0);
  }
  void stop() {
    if (rt_) {
      rt_->stop_now();
      rt_->join();
      rt_.reset();
    }
  }
  void TearDown() override { stop(); }
  // The first of /k0, /k1, ... whose answer (a server's name) is `name`; empty if none.
  std::string path_answered_by(std::string_view name) {
    for (int i = 0; i < 40; ++i) {
      const std::string path = "/k" + std::to_string(i);
      if (get("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n").body == name) return path;
    }
    return "";
  }
  // GET `path` from another thread: the body of the answer.
  std::future<std::string> ask_body(std::string path) {
    return std::async(std::launch::async, [this, path] {
      return get("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n").body;
    });
  }
  // ask_body(path), returned once `up` has the request (a slow upstream is then busy).
  std::future<std::string> occupy(HttpUpstream& up, std::string path) {
    const size_t seen = up.seen().size();
    auto answer = ask_body(std::move(path));
    for (int i = 0; i < 400 && up.seen().size() == seen; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return answer;
  }
  // One request on a fresh connection; the whole answer as received.
  Message get(std::string_view request, std::string_view method = "GET") {
    int fd = connect_to(port_);
    EXPECT_GE(fd, 0);
    send_all(fd, request);
    std::string carry;
    Message m = read_message(fd, http1::Mode::kResponse, carry, method);
    ::close(fd);
    return m;
  }

  Config config_;
  std::unique_ptr<Runtime> rt_;
  uint16_t port_ = 0;
};

std::string http_config(const std::vector<uint16_t>& ports, std::string_view extra = "",
                        std::string_view backend_extra = "") {
  std::string s =
      "defaults\n  mode http\n  timeout connect 500ms\n  timeout client 2s\n"
      "  timeout server 2s\n";
  s += "frontend fe\n  bind 127.0.0.1:0\n  default_backend be\n";
  s += extra;
  s += "backend be\n";
  s += backend_extra;
  for (size_t i = 0; i < ports.size(); ++i) {
    s += "  server s" + std::to_string(i + 1) + " 127.0.0.1:" + std::to_string(ports[i]) + "\n";
  }
  return s;
}

TEST_F(ProxyTest, TcpEchoBothWaysAndHalfClose) {
  Upstream echo([](int fd) {
    std::string all = recv_all(fd);  // until the client's half-close reaches us
    send_all(fd, "echo:" + all);
  });
  start(
      "defaults\n  mode tcp\n  timeout connect 500ms\n  timeout client 2s\n"
      "  timeout server 2s\nlisten fe\n  bind 127.0.0.1:0\n  server e 127.0.0.1:" +
      std::to_string(echo.port()) + "\n");
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "hello "));
  ASSERT_TRUE(send_all(fd, "world"));
  ::shutdown(fd, SHUT_WR);
  EXPECT_EQ(recv_all(fd), "echo:hello world");
  ::close(fd);
}

TEST_F(ProxyTest, HttpGetContentLengthAndChunked) {
  HttpUpstream up([](const Message& m) {
    if (m.head.target == "/chunked") {
      return std::string(
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n "
          "world\r\n0\r\n\r\n");
    }
    return ok_response("plain body");
  });
  start(http_config({up.server.port()}));
  Message a = get("GET /cl HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(a.complete);
  EXPECT_EQ(a.head.status, 200);
  EXPECT_EQ(a.body, "plain body");
  Message b = get("GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(b.complete);
  EXPECT_TRUE(b.head.chunked);
  EXPECT_EQ(b.body, "hello world");
  // An HTTP/1.0 client gets the chunked body plain, ended by close.
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET /chunked HTTP/1.0\r\n\r\n"));
  std::string raw = recv_all(fd);
  ::close(fd);
  EXPECT_EQ(raw.find("chunked"), std::string::npos) << raw;
  EXPECT_EQ(raw.substr(raw.size() - 11), "hello world");
  auto snap = rt_->snapshot();
  EXPECT_EQ(snap.find("fe")->frontend.http_requests, 3u);
  EXPECT_EQ(snap.find("be")->servers.at(0).counters.http_requests, 3u);
}

TEST_F(ProxyTest, OneMegabyteStreamedBothWays) {
  const std::string big(1 << 20, 'x');
  HttpUpstream up([&](const Message& m) {
    // Echo the request body back, chunked when it came chunked.
    if (m.head.chunked) {
      std::string out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
      http1::append_chunk(out, m.body);
      http1::append_last_chunk(out);
      return out;
    }
    return ok_response(m.body);
  });
  start(http_config({up.server.port()}));
  Message a = get("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(big.size()) +
                  "\r\n\r\n" + big);
  ASSERT_TRUE(a.complete);
  EXPECT_EQ(a.body.size(), big.size());
  EXPECT_EQ(a.body, big);
  std::string chunked = "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (size_t i = 0; i < big.size(); i += 100000) {
    http1::append_chunk(chunked, std::string_view(big).substr(i, 100000));
  }
  http1::append_last_chunk(chunked);
  Message b = get(chunked);
  ASSERT_TRUE(b.complete);
  EXPECT_EQ(b.body, big);
}

// A client that reads slowly through a small receive window: the proxy's first write takes
// only part of the response and the rest waits for room; the body arrives whole and in
// order, every byte counted once, and then the proxy's close (Connection: close).
TEST_F(ProxyTest, SlowReaderGetsTheWholeResponseThenTheClose) {
  std::string big(4u << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 23);
  HttpUpstream up([&](const Message&) { return ok_response(big); });
  start(http_config({up.server.port()}));
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  const int small = 4096;
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
  const timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port_);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_TRUE(send_all(fd, "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::this_thread::sleep_for(300ms);  // the upstream has answered; the proxy is stuck
  std::string carry;
  Message m = read_message(fd, http1::Mode::kResponse, carry);
  ASSERT_TRUE(m.complete);
  EXPECT_EQ(m.head.status, 200);
  EXPECT_TRUE(m.body == big) << "body differs (" << m.body.size() << " bytes)";
  char byte;
  EXPECT_EQ(::recv(fd, &byte, 1, 0), 0);  // the proxy closed after the last byte
  ::close(fd);
  auto snap = rt_->snapshot();
  const uint64_t out = snap.find("fe")->frontend.bytes_out;
  EXPECT_GT(out, big.size());
  EXPECT_LT(out, big.size() + 512);  // the body once, plus one response head
}

TEST_F(ProxyTest, KeepAliveAndPipelinedRequestsInOrder) {
  HttpUpstream up([](const Message& m) { return ok_response("you asked " + m.head.target); });
  start(http_config({up.server.port()}));
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  std::string carry;
  ASSERT_TRUE(send_all(fd, "GET /one HTTP/1.1\r\nHost: x\r\n\r\n"));
  Message a = read_message(fd, http1::Mode::kResponse, carry);
  EXPECT_EQ(a.body, "you asked /one");
  EXPECT_FALSE(a.eof);
  ASSERT_TRUE(send_all(fd, "GET /two HTTP/1.1\r\nHost: x\r\n\r\n"));
  Message b = read_message(fd, http1::Mode::kResponse, carry);
  EXPECT_EQ(b.body, "you asked /two");
  // Three at once: answered one after another, in order.
  ASSERT_TRUE(send_all(fd,
                       "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  EXPECT_EQ(read_message(fd, http1::Mode::kResponse, carry).body, "you asked /a");
  EXPECT_EQ(read_message(fd, http1::Mode::kResponse, carry).body, "you asked /b");
  Message c = read_message(fd, http1::Mode::kResponse, carry);
  EXPECT_EQ(c.body, "you asked /c");
  EXPECT_FALSE(c.head.keep_alive);
  ::close(fd);
}

TEST_F(ProxyTest, RoundRobinAcrossThree) {
  HttpUpstream u1([](const Message&) { return ok_response("1"); });
  HttpUpstream u2([](const Message&) { return ok_response("2"); });
  HttpUpstream u3([](const Message&) { return ok_response("3"); });
  start(http_config({u1.server.port(), u2.server.port(), u3.server.port()}, "",
                    "  balance roundrobin\n"));
  std::string seq;
  for (int i = 0; i < 6; ++i) seq += get("GET / HTTP/1.1\r\nHost: x\r\n\r\n").body;
  EXPECT_EQ(seq, "123123");
}

// The buffer pool keeps what a steady load cycles through (no map/unmap per connection)
// and gives back at the first trim after a period without use what a burst left beyond kKeep.
TEST(BufferPool, KeepsASteadyLoadsBuffersAndReturnsABurstsLeftovers) {
  using detail::BufferPool;
  BufferPool pool;
  int excess_calls = 0;
  pool.on_excess = [&] { ++excess_calls; };
  constexpr size_t kSize = 16384;
  const size_t burst = BufferPool::kKeep + 36;
  std::vector<char*> held;
  for (size_t i = 0; i < burst; ++i) held.push_back(pool.get(kSize));
  for (char* p : held) {
    p[0] = 'x';  // writable memory
    p[kSize - 1] = 'y';
    pool.put(p);
  }
  held.clear();
  EXPECT_EQ(pool.free_count(), burst);
  EXPECT_EQ(excess_calls, 36);
  // A steady load taking up to `burst` at a time keeps all of them across trims.
  for (int period = 0; period < 3; ++period) {
    for (size_t i = 0; i < burst; ++i) held.push_back(pool.get(kSize));
    for (char* p : held) pool.put(p);
    held.clear();
    EXPECT_TRUE(pool.trim());
    EXPECT_EQ(pool.free_count(), burst) << period;
  }
  // Then nothing for a whole period: the next trim returns the extra ones.
  EXPECT_FALSE(pool.trim());
  EXPECT_EQ(pool.free_count(), BufferPool::kKeep);
  // A period that used only some of them keeps those.
  for (size_t i = 0; i < 10; ++i) held.push_back(pool.get(kSize));
  for (char* p : held) pool.put(p);
  EXPECT_FALSE(pool.trim());
  EXPECT_EQ(pool.free_count(), BufferPool::kKeep);
}

// unix@PATH and abns@NAME listeners (haproxy's forms: the abstract name padded to the whole
// sun_path): requests are served, the socket file gets its mode, a unix client has no
// X-Forwarded-For, and a second start replaces a stale socket file.
int connect_unix(const std::string& name, bool abstract) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  socklen_t len = sizeof sun;
  if (abstract) {
    std::memcpy(sun.sun_path + 1, name.data(), name.size());
  } else {
    std::memcpy(sun.sun_path, name.data(), name.size());
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + 1);
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sun), len) != 0) {
    ::close(fd);
    return -1;
  }
  set_timeouts(fd);
  return fd;
}

TEST_F(ProxyTest, UnixAndAbstractListeners) {
  std::vector<std::string> xff;
  std::mutex mu;
  HttpUpstream up([&](const Message& m) {
    const http1::Header* h = http1::find_header(m.head.headers, "X-Forwarded-For");
    std::lock_guard lock(mu);
    xff.push_back(h ? h->value : "-");
    return ok_response("u");
  });
  const std::string path = std::filesystem::temp_directory_path() /
                           ("tandem-proxy-test-" + std::to_string(::getpid()) + ".sock");
  const std::string abns = "tandem-proxy-test-" + std::to_string(::getpid());
  const std::string binds =
      "  bind unix@" + path + " mode 600\n  bind abns@" + abns + "\n  option forwardfor\n";
  for (int round = 0; round < 2; ++round) {  // the second start finds the first's socket file
    SCOPED_TRACE(round);
    start(http_config({up.server.port()}, binds));
    struct stat st {};
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    for (bool abstract : {false, true}) {
      int fd = connect_unix(abstract ? abns : path, abstract);
      ASSERT_GE(fd, 0) << (abstract ? "abns@" : "unix@");
      ASSERT_TRUE(
          send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      std::string carry;
      EXPECT_EQ(read_message(fd, http1::Mode::kResponse, carry).body, "u");
      EXPECT_EQ(read_message(fd, http1::Mode::kResponse, carry).body, "u");
      ::close(fd);
    }
    // The IP listener still has its X-Forwarded-For.
    EXPECT_EQ(get("GET / HTTP/1.1\r\nHost: x\r\n\r\n").body, "u");
    stop();
  }
  std::lock_guard lock(mu);
  ASSERT_EQ(xff.size(), 10u);
  for (size_t i = 0; i < xff.size(); ++i) EXPECT_EQ(xff[i], i % 5 == 4 ? "127.0.0.1" : "-") << i;
  std::filesystem::remove(path);
}

// Backups serve only when no active server is up: the first one alone, or all of them in
// turn with `option allbackups`.
TEST_F(ProxyTest, BackupsTakeOverFirstOnlyOrAllInTurn) {
  HttpUpstream b1([](const Message&) { return ok_response("a"); });
  HttpUpstream b2([](const Message&) { return ok_response("b"); });
  for (bool all : {false, true}) {
    SCOPED_TRACE(all ? "allbackups" : "first backup");
    std::string be = all ? "  option allbackups\n" : "";
    be += "  server s1 127.0.0.1:1 disabled\n  server b1 127.0.0.1:" +
          std::to_string(b1.server.port()) +
          " backup\n  server b2 127.0.0.1:" + std::to_string(b2.server.port()) + " backup\n";
    start(http_config({}, "", be));
    std::string seq;
    for (int i = 0; i < 4; ++i) seq += get("GET / HTTP/1.1\r\nHost: x\r\n\r\n").body;
    EXPECT_EQ(seq, all ? "abab" : "aaaa");
    stop();
  }
}

// Sockets in TIME_WAIT whose remote end is 127.0.0.1:port (/proc/net/tcp, state 06).
// Sockets towards 127.0.0.1:port in a TCP state of /proc/net/tcp ("01" established, "06"
// TIME_WAIT).
size_t sockets_towards(uint16_t port, std::string_view tcp_state) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // the header
  size_t n = 0;
  char want[16];
  std::snprintf(want, sizeof want, "0100007F:%04X", port);
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string sl, local, remote, state;
    f >> sl >> local >> remote >> state;
    if (remote == want && state == tcp_state) ++n;
  }
  return n;
}
size_t time_wait_towards(uint16_t port) {
  return sockets_towards(port, "06");
}
size_t open_towards(uint16_t port) {
  return sockets_towards(port, "01");
}

// haproxy's rule for idle server connections: kept while in use + idle stays within the
// recent peak. One new client after another (each request the first of its connection, so
// none can take an idle one) leaves one or two idle, not one per client.
TEST_F(ProxyTest, IdleServerConnectionsStayWithinTheNeed) {
  HttpUpstream up([](const Message&) { return ok_response("ok"); });
  start(http_config({up.server.port()}));
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(get("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").body, "ok") << i;
  }
  EXPECT_LE(open_towards(up.server.port()), 2u);
}

// After a burst, every pool-purge-delay closes half of the idle connections beyond the
// estimated need, and the estimate decays: all of them are gone after a few periods.
TEST_F(ProxyTest, IdleServerConnectionsArePurgedAfterABurst) {
  HttpUpstream up([](const Message&) {
    std::this_thread::sleep_for(100ms);  // the ten requests overlap
    return ok_response("ok");
  });
  start(http_config({up.server.port()}, "", "  default-server pool-purge-delay 50ms\n"));
  std::vector<std::thread> clients;
  for (int i = 0; i < 10; ++i) {
    clients.emplace_back([&] { EXPECT_EQ(get("GET / HTTP/1.1\r\nHost: x\r\n\r\n").body, "ok"); });
  }
  for (auto& c : clients) c.join();
  const size_t kept = open_towards(up.server.port());
  EXPECT_GE(kept, 5u);  // the peak was ten: most are kept for the next burst
  EXPECT_LE(kept, 10u);
  // The upstream ends a connection idle for 2 s itself: the proxy must be quicker.
  size_t left = kept;
  for (int i = 0; i < 30 && left > 0; ++i) {
    std::this_thread::sleep_for(50ms);
    left = open_towards(up.server.port());
  }
  EXPECT_EQ(left, 0u);
}

// Clean server connections beyond what the idle list keeps are reset, as haproxy does, not
// closed: no TIME_WAIT piles up towards the servers when every client makes one request.
TEST_F(ProxyTest, ServerConnectionsNotKeptAreResetWithoutTimeWait) {
  HttpUpstream up([](const Message&) { return ok_response("ok"); });
  start(http_config({up.server.port()}));
  const size_t before = time_wait_towards(up.server.port());
  const size_t n = detail::kMaxIdlePerServer + 60;
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(get("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").body, "ok") << i;
  }
  // Without the reset, each of the last 60 would wait in TIME_WAIT for a minute.
  EXPECT_LE(time_wait_towards(up.server.port()), before + 5);
}

// haproxy shares a backend's balancer between its threads: with two threads and many new
// connections (each lands on either thread), the rotation stays strict.
TEST_F(ProxyTest, RoundRobinIsOneRotationAcrossThreads) {
  std::vector<std::unique_ptr<HttpUpstream>> ups;
  std::vector<uint16_t> ports;
  for (int i = 1; i <= 5; ++i) {
    ups.push_back(std::make_unique<HttpUpstream>(
        [i](const Message&) { return ok_response(std::to_string(i)); }));
    ports.push_back(ups.back()->server.port());
  }
  start(http_config(ports, "", "  balance roundrobin\n"), 2);
  std::string seq;
  for (int i = 0; i < 40; ++i) seq += get("GET / HTTP/1.1\r\nHost: x\r\n\r\n").body;
  std::string want;
  for (int i = 0; i < 8; ++i) want += "12345";
  EXPECT_EQ(seq, want);
}

// The runtime API's changes: drain and maint take a server out of the rotation, a weight
// reshapes it, maxconn and the states show in snapshots.
TEST_F(ProxyTest, AdminStateWeightAndMaxconnApplyToEveryThread) {
  HttpUpstream u1([](const Message&) { return ok_response("1"); });
  HttpUpstream u2([](const Message&) { return ok_response("2"); });
  start(http_config({u1.server.port(), u2.server.port()}, "", "  balance roundrobin\n"), 2);
  auto run = [&](int n) {
    std::string seq;
    for (int i = 0; i < n; ++i) seq += get("GET / HTTP/1.1\r\nHost: x\r\n\r\n").body;
    return seq;
  };
  EXPECT_FALSE(rt_->set_server_admin("be", "nope", ServerAdmin::kDrain));
  ASSERT_TRUE(rt_->set_server_admin("be", "s1", ServerAdmin::kDrain));
  EXPECT_EQ(run(4), "2222");
  EXPECT_EQ(rt_->server_state("be", "s1")->admin, ServerAdmin::kDrain);
  ASSERT_TRUE(rt_->set_server_admin("be", "s2", ServerAdmin::kMaint));
  EXPECT_EQ(get("GET / HTTP/1.1\r\nHost: x\r\n\r\n").head.status, 503);
  ASSERT_TRUE(rt_->set_server_admin("be", "s1", ServerAdmin::kReady));
  ASSERT_TRUE(rt_->set_server_admin("be", "s2", ServerAdmin::kReady));
  ASSERT_TRUE(rt_->set_server_weight("be", "s1", 0));
  EXPECT_EQ(run(3), "222");
  ASSERT_TRUE(rt_->set_server_weight("be", "s1", 3));
  std::string seq = run(8);
  EXPECT_EQ(std::count(seq.begin(), seq.end(), '1'), 6) << seq;
  EXPECT_FALSE(rt_->set_server_weight("be", "s1", 257));
  ASSERT_TRUE(rt_->set_server_maxconn("be", "s2", 7));
  auto snap = rt_->snapshot();
  const auto& servers = snap.find("be")->servers;
  ASSERT_EQ(servers.size(), 2u);
  EXPECT_EQ(servers[0].weight, 3u);
  EXPECT_EQ(servers[1].maxconn, 7u);
  EXPECT_EQ(servers[1].admin, ServerAdmin::kReady);
  EXPECT_TRUE(servers[1].up);
}

// shutdown sessions server: a long request to the server is cut.
TEST_F(ProxyTest, ShutdownSessionsOfAServerClosesThem) {
  std::atomic<bool> release{false};
  HttpUpstream slow([&](const Message&) {
    for (int i = 0; i < 200 && !release; ++i) std::this_thread::sleep_for(10ms);
    return ok_response("late");
  });
  start(http_config({slow.server.port()}, "", ""), 2);
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (int i = 0; i < 100 && slow.seen().empty(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(slow.seen().size(), 1u);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(rt_->shutdown_server_sessions("be", "s1"));
  std::string got = recv_all(fd);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(got.find("late"), std::string::npos);
  release = true;
  ::close(fd);
}

TEST_F(ProxyTest, DeadServerIsRetriedElsewhereWithRedispatch) {
  HttpUpstream live([](const Message&) { return ok_response("live"); });
  start(http_config({free_port(), live.server.port()}, "", "  retries 1\n  option redispatch\n"));
  for (int i = 0; i < 4; ++i) {
    Message m = get("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(m.head.status, 200);
    EXPECT_EQ(m.body, "live");
  }
  auto snap = rt_->snapshot();
  EXPECT_GE(snap.find("be")->servers.at(0).counters.connect_errors, 2u);
  EXPECT_GE(snap.find("be")->backend.redispatches, 2u);
}

// The proxy's own 503 keeps the connection of a client that read its request whole and
// wants keep-alive (as haproxy 2.6); one that asked to close is closed.
TEST_F(ProxyTest, AllServersDownIs503AndTheClientConnectionStays) {
  start(http_config({free_port(), free_port()}, "", "  retries 1\n"));
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd,
                       "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::string carry;
  Message one = read_message(fd, http1::Mode::kResponse, carry);
  EXPECT_EQ(one.head.status, 503);
  EXPECT_NE(one.body.find("No server is available"), std::string::npos);
  EXPECT_TRUE(one.head.keep_alive);
  EXPECT_EQ(http1::find_header(one.head.headers, "Connection"), nullptr);
  Message two = read_message(fd, http1::Mode::kResponse, carry);
  EXPECT_EQ(two.head.status, 503);
  EXPECT_FALSE(two.head.keep_alive);
  EXPECT_EQ(carry + recv_all(fd), "");
  ::close(fd);
}

TEST_F(ProxyTest, MalformedResponseIs502) {
  HttpUpstream up([](const Message&) { return std::string("HTTP/1.1 2OO Fine\r\n\r\n"); });
  start(http_config({up.server.port()}));
  Message m = get("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(m.head.status, 502);
}

TEST_F(ProxyTest, BadRequestIs400AndNothingReachesTheServer) {
  HttpUpstream up([](const Message&) { return ok_response("no"); });
  start(http_config({up.server.port()}));
  Message m =
      get("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
          "0\r\n\r\n");
  EXPECT_EQ(m.head.status, 400);
  EXPECT_NE(m.body.find("Your browser sent an invalid request."), std::string::npos);
  EXPECT_EQ(up.server.accepted(), 0);
  auto snap = rt_->snapshot();
  EXPECT_EQ(snap.find("fe")->frontend.rejected[static_cast<size_t>(http1::RejectReason::kClAndTe)],
            1u);
}

TEST_F(ProxyTest, SlowServerIs504AfterTimeoutServer) {
  HttpUpstream up([](const Message&) {
    std::this_thread::sleep_for(600ms);  // the upstream is slow on purpose
    return ok_response("late");
  });
  std::string cfg = http_config({up.server.port()});
  cfg.replace(cfg.find("timeout server 2s"), 17, "timeout server 200ms");
  start(cfg);
  auto t0 = std::chrono::steady_clock::now();
  Message m = get("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(m.head.status, 504);
  EXPECT_LT(took, 550ms);
  EXPECT_GE(took, 190ms);
}

TEST_F(ProxyTest, ForwardedForAddedAndHopByHopRemoved) {
  HttpUpstream up([](const Message&) {
    return ok_response(
        "x", "Keep-Alive: timeout=5\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\n");
  });
  start(http_config({up.server.port()}, "  option forwardfor\n"));
  Message m =
      get("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Drop\r\nX-Drop: y\r\n"
          "Keep-Alive: 300\r\nTE: trailers\r\nProxy-Connection: x\r\n\r\n");
  ASSERT_EQ(m.head.status, 200);
  EXPECT_EQ(http1::find_header(m.head.headers, "X-Secret"), nullptr);
  EXPECT_EQ(http1::find_header(m.head.headers, "Keep-Alive"), nullptr);
  auto seen = up.seen();
  ASSERT_EQ(seen.size(), 1u);
  const auto& h = seen[0].head.headers;
  const http1::Header* xff = http1::find_header(h, "X-Forwarded-For");
  ASSERT_NE(xff, nullptr);
  EXPECT_EQ(xff->value, "127.0.0.1");
  for (std::string_view gone : {"X-Drop", "Keep-Alive", "TE", "Proxy-Connection"}) {
    EXPECT_EQ(http1::find_header(h, gone), nullptr) << gone;
  }
}

TEST_F(ProxyTest, WebSocketUpgradeBecomesATunnel) {
  Upstream ws([](int fd) {
    std::string carry;
    Message m = read_message(fd, http1::Mode::kRequest, carry);
    if (!m.head.upgrade) return;
    send_all(
        fd,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    char buf[256];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) send_all(fd, "ws:" + std::string(buf, static_cast<size_t>(n)));
  });
  start(http_config({ws.port()}, "", "  timeout tunnel 2s\n"));
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd,
                       "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"));
  std::string carry;
  http1::Parser p(http1::Mode::kResponse);
  Message m = read_message(fd, http1::Mode::kResponse, carry);
  EXPECT_EQ(m.head.status, 101);
  ASSERT_TRUE(send_all(fd, "frame"));
  std::string got = carry;
  char buf[256];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n > 0) got.append(buf, static_cast<size_t>(n));
  EXPECT_EQ(got, "ws:frame");
  ::close(fd);
}

// CONNECT: the server's 2xx opens a tunnel both ways under `timeout tunnel` (as haproxy 2.6),
// framing fields of that 2xx are dropped; a refusal is an ordinary response and the next
// request on the connection is HTTP again.
TEST_F(ProxyTest, ConnectTwoHundredOpensATunnel) {
  Upstream up([](int fd) {
    std::string carry;
    for (;;) {
      Message m = read_message(fd, http1::Mode::kRequest, carry);
      if (m.head.method.empty()) return;
      if (m.head.target == "denied.example:443") {
        send_all(fd, "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno");
        continue;
      }
      send_all(fd, "HTTP/1.1 200 Connection established\r\nContent-Length: 0\r\n\r\n");
      std::string got = carry;
      char buf[256];
      while (got.size() < 5) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return;
        got.append(buf, static_cast<size_t>(n));
      }
      send_all(fd, "tls:" + got);
      return;
    }
  });
  start(http_config({up.port()}, "", "  timeout tunnel 2s\n"));

  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(
      send_all(fd, "CONNECT denied.example:443 HTTP/1.1\r\nHost: denied.example:443\r\n\r\n"));
  std::string carry;
  Message no = read_message(fd, http1::Mode::kResponse, carry, "CONNECT");
  EXPECT_EQ(no.head.status, 403);
  EXPECT_EQ(no.body, "no");
  ::close(fd);

  fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "CONNECT ok.example:443 HTTP/1.1\r\nHost: ok.example:443\r\n\r\n"));
  carry.clear();
  Message yes = read_message(fd, http1::Mode::kResponse, carry, "CONNECT");
  EXPECT_EQ(yes.head.status, 200);
  EXPECT_EQ(http1::find_header(yes.head.headers, "Content-Length"), nullptr);
  // Not HTTP any more: these bytes go through as they are.
  ASSERT_TRUE(send_all(fd, "\x16\x03\x01zz"));
  std::string got = carry;
  char buf[256];
  while (got.size() < 9) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(got, "tls:\x16\x03\x01zz");
  ::close(fd);
}

// A 101 to a request without Upgrade would make the client believe the protocol switched
// while the proxy still reads HTTP: it is a 502 (as from haproxy 2.6), counted as a bad
// response, and the connection to that server is not kept.
TEST_F(ProxyTest, UnaskedSwitchingProtocolsIs502) {
  HttpUpstream up([](const Message&) {
    return std::string(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  });
  start(http_config({up.server.port()}));
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string carry;
  Message one = read_message(fd, http1::Mode::kResponse, carry);
  EXPECT_EQ(one.head.status, 502);
  EXPECT_TRUE(one.head.keep_alive);  // the client connection stays, as with haproxy 2.6
  Message two = read_message(fd, http1::Mode::kResponse, carry);
  EXPECT_EQ(two.head.status, 502);
  ::close(fd);
  auto snap = rt_->snapshot();
  EXPECT_EQ(snap.find("be")->backend.response_errors, 2u);
}

// A connection that sends nothing at all until `timeout http-request` gets a 408 (haproxy
// 2.6 without `option http-ignore-probes`), where an idle keep-alive one is closed quietly.
TEST_F(ProxyTest, SilentNewConnectionGets408) {
  HttpUpstream up([](const Message&) { return ok_response("ok"); });
  start(http_config({up.server.port()}, "  timeout http-request 200ms\n"));
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  auto t0 = std::chrono::steady_clock::now();
  std::string carry;
  Message m = read_message(fd, http1::Mode::kResponse, carry);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(m.head.status, 408);
  EXPECT_GE(took, 190ms);
  EXPECT_LT(took, 1500ms);
  ::close(fd);
  EXPECT_EQ(up.server.accepted(), 0);
}

// `option httpclose` in a backend closes the server side only: the client connection
// follows the frontend's mode, so a pipeline goes on (haproxy 2.6 does the same).
TEST_F(ProxyTest, BackendHttpcloseKeepsTheClientConnection) {
  HttpUpstream up([](const Message& r) { return ok_response(r.head.target); });
  start(http_config({up.server.port()}, "", "  option httpclose\n"));
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string carry;
  Message one = read_message(fd, http1::Mode::kResponse, carry);
  EXPECT_EQ(one.body, "/1");
  EXPECT_TRUE(one.head.keep_alive);
  Message two = read_message(fd, http1::Mode::kResponse, carry);
  EXPECT_EQ(two.body, "/2");
  ::close(fd);
  for (const Message& r : up.seen()) {
    const http1::Header* c = http1::find_header(r.head.headers, "Connection");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->value, "close");
  }
}

TEST_F(ProxyTest, MaxconnPausesAccepting) {
  Upstream hold([](int fd) { recv_all(fd); });  // holds connections until the client leaves
  start(
      "global\n  maxconn 2\ndefaults\n  mode tcp\n  timeout connect 500ms\n"
      "  timeout client 2s\n  timeout server 2s\nlisten fe\n  bind 127.0.0.1:0\n"
      "  server h 127.0.0.1:" +
      std::to_string(hold.port()) + "\n");
  int a = connect_to(port_);
  int b = connect_to(port_);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  // Wait (bounded) until both reached the upstream, then a third must wait in the backlog.
  for (int i = 0; i < 200 && hold.accepted() < 2; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(hold.accepted(), 2);
  int c = connect_to(port_);  // the kernel completes the handshake; the proxy does not accept
  ASSERT_GE(c, 0);
  std::this_thread::sleep_for(150ms);  // a window in which nothing may happen
  EXPECT_EQ(hold.accepted(), 2);
  ::close(a);
  for (int i = 0; i < 200 && hold.accepted() < 3; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(hold.accepted(), 3);
  ::close(b);
  ::close(c);
}

// Descriptors registered in this process's epoll sets ("tfd:" lines of their fdinfo).
size_t epoll_registrations() {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    if (std::filesystem::read_symlink(e.path(), ec).string() != "anon_inode:[eventpoll]") continue;
    std::ifstream info("/proc/self/fdinfo/" + e.path().filename().string());
    for (std::string line; std::getline(info, line);) n += line.rfind("tfd:", 0) == 0 ? 1 : 0;
  }
  return n;
}

// An upstream's handler: reads one request, thinks for `delay`, answers 200 "late".
std::function<void(int)> answer_late(std::chrono::milliseconds delay) {
  return [delay](int fd) {
    set_timeouts(fd, 5000ms);
    std::string carry;
    Message m = read_message(fd, http1::Mode::kRequest, carry);
    std::this_thread::sleep_for(delay);
    if (m.complete) send_all(fd, ok_response("late"));
  };
}

// A client whose request came with its connection is served without its socket joining
// the loop's epoll set (as haproxy reads first): while the server thinks, only the server
// connection is registered; a client that makes the proxy wait for its bytes joins.
TEST_F(ProxyTest, ClientSocketJoinsTheEpollSetOnlyToWait) {
  Upstream slow(answer_late(300ms));
  start(http_config({slow.port()}), 1);
  std::this_thread::sleep_for(50ms);  // the listeners settle in
  // The proxy may accept before the request is sent (a busy machine): that client waits,
  // and joins, rightly. So a few tries; one where the bytes came first is enough.
  std::string carry;
  bool only_server = false;
  for (int attempt = 0; attempt < 5 && !only_server; ++attempt) {
    const size_t before = epoll_registrations();
    int fd = connect_to(port_);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    std::this_thread::sleep_for(150ms);  // read, sent on, the server thinking
    const size_t during = epoll_registrations();
    EXPECT_GE(during, before + 1);
    only_server = during == before + 1;  // the server connection only
    carry.clear();
    Message m = read_message(fd, http1::Mode::kResponse, carry);
    EXPECT_EQ(m.head.status, 200);
    EXPECT_EQ(m.body, "late");
    ::close(fd);
    std::this_thread::sleep_for(100ms);  // the session ends, its server connection kept
  }
  EXPECT_TRUE(only_server);

  // A client that connects and waits before sending: its socket joins to wait.
  const size_t before_idle = epoll_registrations();
  int idle = connect_to(port_);
  ASSERT_GE(idle, 0);
  std::this_thread::sleep_for(150ms);
  EXPECT_GE(epoll_registrations(), before_idle + 1);
  ASSERT_TRUE(send_all(idle, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  Message m2 = read_message(idle, http1::Mode::kResponse, carry);
  EXPECT_EQ(m2.body, "late");
  ::close(idle);
}

TEST_F(ProxyTest, ServerConnectionsAreReusedAfterTheFirstRequest) {
  HttpUpstream up([](const Message& m) { return ok_response(m.head.target); });
  start(http_config({up.server.port()}));
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  std::string carry;
  for (std::string path : {"/1", "/2", "/3"}) {
    ASSERT_TRUE(send_all(fd, "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_EQ(read_message(fd, http1::Mode::kResponse, carry).body, path);
  }
  ::close(fd);
  EXPECT_EQ(up.server.accepted(), 1);
  // What the server saw carried no "Connection: close".
  for (const Message& m : up.seen()) EXPECT_TRUE(m.head.keep_alive);
  auto snap = rt_->snapshot();
  EXPECT_EQ(snap.find("be")->backend.reused, 2u);  // tandem_connection_reuse_hits_total
  EXPECT_EQ(snap.find("be")->servers[0].counters.reused, 2u);
}

TEST_F(ProxyTest, IdleConnectionClosedByTheServerIsReplaced) {
  // Answers one request per connection and leaves without saying so.
  Upstream once([](int fd) {
    std::string carry;
    Message m = read_message(fd, http1::Mode::kRequest, carry);
    if (m.complete) send_all(fd, ok_response("once"));
  });
  start(http_config({once.port()}));
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  std::string carry;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    Message m = read_message(fd, http1::Mode::kResponse, carry);
    EXPECT_EQ(m.head.status, 200);
    EXPECT_EQ(m.body, "once");
  }
  ::close(fd);
  EXPECT_EQ(once.accepted(), 3);
}

TEST_F(ProxyTest, ExpectContinueIsForwardedBothWays) {
  Upstream up([](int fd) {
    char buf[4096];
    std::string got;
    while (got.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      got.append(buf, static_cast<size_t>(n));
    }
    if (got.find("Expect: 100-continue") == std::string::npos) return;
    send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n");
    std::string carry = got.substr(got.find("\r\n\r\n") + 4);
    while (carry.size() < 5) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      carry.append(buf, static_cast<size_t>(n));
    }
    send_all(fd, ok_response("got " + carry));
  });
  start(http_config({up.port()}));
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd,
                       "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                       "Expect: 100-continue\r\n\r\n"));
  char buf[256];
  std::string interim;
  while (interim.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    interim.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(interim.rfind("HTTP/1.1 100 Continue\r\n", 0), 0u) << interim;
  ASSERT_TRUE(send_all(fd, "hello"));
  std::string carry = interim.substr(interim.find("\r\n\r\n") + 4);
  Message m = read_message(fd, http1::Mode::kResponse, carry, "POST");
  EXPECT_EQ(m.head.status, 200);
  EXPECT_EQ(m.body, "got hello");
  ::close(fd);
}

TEST_F(ProxyTest, GracefulStopLetsARunningRequestFinish) {
  HttpUpstream up([](const Message& m) {
    if (m.head.target == "/slow") std::this_thread::sleep_for(200ms);  // still running at stop
    return ok_response("finished " + m.head.target);
  });
  start(http_config({up.server.port()}));
  int idle = connect_to(port_);  // a keep-alive client between requests: closed by the stop
  ASSERT_GE(idle, 0);
  std::string carry_idle;
  ASSERT_TRUE(send_all(idle, "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(read_message(idle, http1::Mode::kResponse, carry_idle).body, "finished /fast");
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (int i = 0; i < 1000 && up.seen().size() < 2; ++i) std::this_thread::sleep_for(2ms);
  ASSERT_EQ(up.seen().size(), 2u);  // the slow request is at the upstream now
  std::promise<void> done;
  auto stopped = done.get_future();
  rt_->stop_gracefully([&] { done.set_value(); });
  std::string carry;
  Message m = read_message(fd, http1::Mode::kResponse, carry);
  EXPECT_EQ(m.body, "finished /slow");
  EXPECT_FALSE(m.head.keep_alive);  // stopping: the answer says close
  EXPECT_EQ(stopped.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(recv_all(idle), "");  // closed without an answer
  ::close(fd);
  ::close(idle);
}

TEST_F(ProxyTest, HeadTimeoutIs408AndIdleKeepAliveIsClosed) {
  HttpUpstream up([](const Message&) { return ok_response("ok"); });
  start(http_config({up.server.port()},
                    "  timeout http-request 200ms\n  timeout http-keep-alive 100ms\n"));
  // A head that never ends: 408 after `timeout http-request`.
  int slow = connect_to(port_);
  ASSERT_GE(slow, 0);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(send_all(slow, "GET / HTTP/1.1\r\nHost: x\r\n"));
  std::string carry;
  Message m = read_message(slow, http1::Mode::kResponse, carry);
  EXPECT_EQ(m.head.status, 408);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 190ms);
  ::close(slow);
  // Between requests: closed quietly after `timeout http-keep-alive`.
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string c2;
  EXPECT_EQ(read_message(fd, http1::Mode::kResponse, c2).body, "ok");
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(recv_all(fd), "");
  auto idle_for = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(idle_for, 90ms);
  EXPECT_LT(idle_for, 190ms);
  ::close(fd);
}

TEST_F(ProxyTest, ServerMarkedDownGetsNoTraffic) {
  HttpUpstream u1([](const Message&) { return ok_response("1"); });
  HttpUpstream u2([](const Message&) { return ok_response("2"); });
  start(http_config({u1.server.port(), u2.server.port()}));
  EXPECT_FALSE(rt_->set_server_up("be", "nope", false));
  ASSERT_TRUE(rt_->set_server_up("be", "s1", false));
  std::string seq;
  for (int i = 0; i < 4; ++i) seq += get("GET / HTTP/1.1\r\nHost: x\r\n\r\n").body;
  EXPECT_EQ(seq, "2222");
  ASSERT_TRUE(rt_->set_server_up("be", "s2", false));
  EXPECT_EQ(get("GET / HTTP/1.1\r\nHost: x\r\n\r\n").head.status, 503);
  ASSERT_TRUE(rt_->set_server_up("be", "s1", true));
  EXPECT_EQ(get("GET / HTTP/1.1\r\nHost: x\r\n\r\n").body, "1");
}

TEST_F(ProxyTest, TwoThreadsServeAndStopGracefully) {
  HttpUpstream up([](const Message&) { return ok_response("ok"); });
  start(http_config({up.server.port()}), 2);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(get("GET / HTTP/1.1\r\nHost: x\r\n\r\n").body, "ok");
  std::promise<void> done;
  rt_->stop_gracefully([&] { done.set_value(); });
  EXPECT_EQ(done.get_future().wait_for(2s), std::future_status::ready);
  rt_->join();
  EXPECT_EQ(rt_->snapshot().find("fe")->frontend.sessions_total, 10u);
}

// ---- http-request / http-response rules ----

// The error text of a Runtime::create that must fail.
std::string create_error(std::string text, const std::function<void(RuntimeOptions&)>& tweak = {}) {
  // Nothing listens: the failures tested come before any bind.
  for (size_t at; (at = text.find("127.0.0.1:0\n")) != std::string::npos;)
    text.replace(at, 11, "127.0.0.1:" + std::to_string(free_port()));
  core::Diagnostics diags;
  Config config = load_config_text(text, diags);
  if (diags.has_errors()) return "config: " + diags.to_string();
  RuntimeOptions o;
  o.threads = 1;
  if (tweak) tweak(o);
  auto rt = Runtime::create(config, o);
  if (rt) return "";
  return rt.error().to_string();
}

TEST_F(ProxyTest, DeniedRequestNeverReachesTheServerAndGetsHaproxysPage) {
  HttpUpstream up([](const Message& m) { return ok_response("up " + m.head.target); });
  start(http_config({up.server.port()}, "  http-request deny if { path_beg /admin }\n"));
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET /admin/x HTTP/1.1\r\nHost: x\r\n\r\n"));
  // haproxy 2.6 keeps a keep-alive client after a deny: the page, then the next request.
  const std::string page(default_error_response(403));
  std::string got;
  char buf[4096];
  while (got.size() < page.size()) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(got, page);
  ASSERT_TRUE(send_all(fd, "GET /open HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::string carry;
  Message m = read_message(fd, http1::Mode::kResponse, carry);
  EXPECT_EQ(m.body, "up /open");
  ::close(fd);
  auto seen = up.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].head.target, "/open");
  // A client that asks to close gets haproxy's page with "connection: close".
  Message c = get("GET /admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(c.head.status, 403);
  EXPECT_FALSE(c.head.keep_alive);
  auto snap = rt_->snapshot();
  EXPECT_EQ(snap.find("fe")->frontend.denied_req, 2u);
  EXPECT_EQ(snap.find("fe")->frontend.http_status[4], 2u);
}

TEST_F(ProxyTest, RuleOrderFrontendBackendRequestAndResponse) {
  HttpUpstream up(
      [](const Message&) { return ok_response("x", "Server: secret/1.0\r\nX-Order: up\r\n"); });
  start(http_config({up.server.port()},
                    "  http-request set-header X-Req fe\n"
                    "  http-request del-header X-Drop\n"
                    "  http-request set-header X-Path %[path]\n"
                    "  http-response set-header X-Order \"%[hdr(X-Order)]-fe\"\n"
                    "  http-response del-header Server\n",
                    "  http-request set-header X-Req \"%[hdr(X-Req)]-be\"\n"
                    "  http-request add-header X-Added yes if { hdr(X-Req) fe-be }\n"
                    "  http-response set-header X-Order \"%[hdr(X-Order)]-be\"\n"));
  Message m = get("GET /p?q=1 HTTP/1.1\r\nHost: x\r\nX-Drop: 1\r\nX-Req: client\r\n\r\n");
  ASSERT_EQ(m.head.status, 200);
  // Response: the backend's rules first, then the frontend's.
  const http1::Header* order = http1::find_header(m.head.headers, "X-Order");
  ASSERT_NE(order, nullptr);
  EXPECT_EQ(order->value, "up-be-fe");
  EXPECT_EQ(http1::find_header(m.head.headers, "Server"), nullptr);
  auto seen = up.seen();
  ASSERT_EQ(seen.size(), 1u);
  const auto& h = seen[0].head.headers;
  ASSERT_NE(http1::find_header(h, "X-Req"), nullptr);
  EXPECT_EQ(http1::find_header(h, "X-Req")->value, "fe-be");
  EXPECT_EQ(http1::count_headers(h, "X-Req"), 1u);
  ASSERT_NE(http1::find_header(h, "X-Added"), nullptr);
  EXPECT_EQ(http1::find_header(h, "X-Drop"), nullptr);
  ASSERT_NE(http1::find_header(h, "X-Path"), nullptr);
  EXPECT_EQ(http1::find_header(h, "X-Path")->value, "/p");
}

TEST_F(ProxyTest, ListenSectionRulesRunOnce) {
  HttpUpstream up([](const Message&) { return ok_response("x"); });
  start(
      "defaults\n  mode http\n  timeout connect 500ms\n  timeout client 2s\n"
      "  timeout server 2s\nlisten fe\n  bind 127.0.0.1:0\n"
      "  http-request add-header X-Once 1\n  http-response add-header X-Once 1\n"
      "  server s 127.0.0.1:" +
      std::to_string(up.server.port()) + "\n");
  Message m = get("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(http1::count_headers(m.head.headers, "X-Once"), 1u);
  auto seen = up.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(http1::count_headers(seen[0].head.headers, "X-Once"), 1u);
}

TEST_F(ProxyTest, RedirectAndReturnAnswerLocally) {
  HttpUpstream up([](const Message&) { return ok_response("up"); });
  start(http_config({up.server.port()},
                    "  http-request redirect location /new code 301 if { path /old }\n"
                    "  http-request redirect prefix https://example.test if { path /pre }\n"
                    "  http-request return status 200 content-type text/plain string hi "
                    "if { path /ret }\n"));
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  std::string carry;
  ASSERT_TRUE(send_all(fd, "GET /old HTTP/1.1\r\nHost: x\r\n\r\n"));
  Message a = read_message(fd, http1::Mode::kResponse, carry);
  EXPECT_EQ(a.head.status, 301);
  ASSERT_NE(http1::find_header(a.head.headers, "location"), nullptr);
  EXPECT_EQ(http1::find_header(a.head.headers, "location")->value, "/new");
  EXPECT_TRUE(a.head.keep_alive);
  ASSERT_TRUE(send_all(fd, "GET /pre HTTP/1.1\r\nHost: x\r\n\r\n"));
  Message b = read_message(fd, http1::Mode::kResponse, carry);
  EXPECT_EQ(b.head.status, 302);
  EXPECT_EQ(http1::find_header(b.head.headers, "location")->value, "https://example.test/pre");
  ASSERT_TRUE(send_all(fd, "GET /ret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::string raw = carry + recv_all(fd);
  EXPECT_EQ(raw,
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n"
            "connection: close\r\n\r\nhi");
  ::close(fd);
  EXPECT_EQ(up.server.accepted(), 0);
  EXPECT_EQ(rt_->snapshot().find("fe")->frontend.intercepted, 3u);
}

TEST_F(ProxyTest, ResponseDeniedIs502AndCounted) {
  HttpUpstream up([](const Message& m) {
    if (m.head.target == "/leak") return ok_response("secret", "X-Leak: 1\r\n");
    return ok_response("fine");
  });
  start(http_config({up.server.port()}, "",
                    "  http-response deny if { res.hdr(X-Leak) -m found }\n"));
  Message m = get("GET /leak HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(m.head.status, 502);
  EXPECT_EQ(m.body.find("secret"), std::string::npos);
  EXPECT_EQ(get("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").body, "fine");
  auto snap = rt_->snapshot();
  EXPECT_EQ(snap.find("be")->backend.denied_resp, 1u);
  EXPECT_EQ(snap.find("fe")->frontend.denied_resp, 1u);
}

TEST_F(ProxyTest, UseBackendConditionsWithoutAHook) {
  HttpUpstream one([](const Message&) { return ok_response("one"); });
  HttpUpstream two([](const Message&) { return ok_response("two"); });
  start(
      "defaults\n  mode http\n  timeout connect 500ms\n  timeout client 2s\n"
      "  timeout server 2s\nfrontend fe\n  bind 127.0.0.1:0\n"
      "  http-request set-header X-Route two if { path_beg /via-rule }\n"
      "  use_backend b2 if { hdr(X-Route) two }\n  default_backend b1\n"
      "backend b1\n  server s 127.0.0.1:" +
      std::to_string(one.server.port()) +
      "\nbackend b2\n  server s 127.0.0.1:" + std::to_string(two.server.port()) + "\n");
  EXPECT_EQ(get("GET / HTTP/1.1\r\nHost: x\r\n\r\n").body, "one");
  EXPECT_EQ(get("GET / HTTP/1.1\r\nHost: x\r\nX-Route: two\r\n\r\n").body, "two");
  // use_backend sees what the frontend's rules wrote.
  EXPECT_EQ(get("GET /via-rule HTTP/1.1\r\nHost: x\r\n\r\n").body, "two");
}

TEST_F(ProxyTest, UseServiceGoesToTheHookOrIsRefusedAtStart) {
  const std::string cfg =
      "defaults\n  mode http\n  timeout connect 500ms\n  timeout client 2s\n"
      "  timeout server 2s\nfrontend fe\n  bind 127.0.0.1:0\n"
      "  http-request use-service prometheus-exporter if { path /metrics }\n"
      "  default_backend be\nbackend be\n  server s 127.0.0.1:1\n";
  std::string err = create_error(cfg);
  EXPECT_NE(err.find("use-service prometheus-exporter is not available"), std::string::npos) << err;
  std::string seen_service;
  start(cfg, 1, [&](RuntimeOptions& o) {
    o.service = [&](std::string_view service, const RequestContext& ctx) {
      seen_service = std::string(service) + " " + (ctx.head ? ctx.head->target : "");
      return std::optional<std::string>(
          "HTTP/1.1 200 OK\r\ncontent-length: 7\r\ncontent-type: text/plain\r\n\r\nmetrics");
    };
  });
  Message m = get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(m.head.status, 200);
  EXPECT_EQ(m.body, "metrics");
  EXPECT_EQ(seen_service, "prometheus-exporter /metrics");
}

TEST_F(ProxyTest, DeniedUploadIsDrainedNotReset) {
  HttpUpstream up([](const Message&) { return ok_response("up"); });
  start(http_config({up.server.port()}, "  http-request deny if { path /deny }\n"));
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  // A slow upload: the head and a first part of the body, the 403 comes back at once...
  ASSERT_TRUE(
      send_all(fd, "POST /deny HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nfirst"));
  std::string carry;
  Message m = read_message(fd, http1::Mode::kResponse, carry, "POST");
  EXPECT_EQ(m.head.status, 403);
  EXPECT_FALSE(m.head.keep_alive);
  // ...and the rest keeps going out: the proxy reads and drops it for a moment rather than
  // closing on unread bytes (a reset, which can destroy an answer still in flight).
  const std::string part(1000, 'b');
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(20ms);
    EXPECT_TRUE(send_all(fd, part)) << "part " << i << ": " << std::strerror(errno);
  }
  ::close(fd);
  EXPECT_EQ(up.server.accepted(), 0);
}

// ---- errorfile ----

std::string temp_file(const std::string& name, const std::string& content) {
  auto path = std::filesystem::temp_directory_path() /
              ("tandem-proxy-test-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream f(path, std::ios::binary);
  f << content;
  return path.string();
}

TEST_F(ProxyTest, ErrorfilesAreSentAsTheyAre) {
  const std::string e503 =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n"
      "Connection: close\r\n\r\nbackend!\n";
  const std::string e403 =
      "HTTP/1.0 403 Forbidden\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\nnope\n";
  const std::string p503 = temp_file("503.http", e503);
  const std::string p403 = temp_file("403.http", e403);
  start(http_config({free_port()},
                    "  errorfile 403 " + p403 + "\n  http-request deny if { path /deny }\n",
                    "  retries 0\n  errorfile 503 " + p503 + "\n"));
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET /deny HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(recv_all(fd), e403);  // and the connection closes after an errorfile
  ::close(fd);
  fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(recv_all(fd), e503);
  ::close(fd);
  std::filesystem::remove(p503);
  std::filesystem::remove(p403);
}

TEST_F(ProxyTest, ErrorfileLargerThanABufferIsAStartError) {
  const std::string big = temp_file("big.http", "HTTP/1.1 503 X\r\n\r\n" + std::string(20000, 'x'));
  std::string err = create_error(
      "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n"
      "frontend fe\n  bind 127.0.0.1:0\n  errorfile 503 " +
      big +
      "\n  default_backend be\n"
      "backend be\n  server s 127.0.0.1:1\n");
  EXPECT_NE(err.find(".cfg:8:17: errorfile 503"), std::string::npos) << err;
  EXPECT_NE(err.find("more than tune.bufsize (16384)"), std::string::npos) << err;
  std::filesystem::remove(big);
}

// ---- traffic logs ----

// A unix datagram socket standing in for syslog.
class SyslogSocket {
 public:
  SyslogSocket() {
    path_ = (std::filesystem::temp_directory_path() /
             ("tandem-log-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++)))
                .string();
    std::filesystem::remove(path_);
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path_.c_str(), path_.size() + 1);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    set_timeouts(fd_, 1000ms);
  }
  ~SyslogSocket() {
    ::close(fd_);
    std::filesystem::remove(path_);
  }
  const std::string& path() const { return path_; }
  // The next datagram, or "" after a second.
  std::string next() {
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }

 private:
  static inline int counter_ = 0;
  std::string path_;
  int fd_ = -1;
};

// Masks what changes from run to run: the syslog date, the pid, the request date.
std::string mask_dates(std::string line) {
  line =
      std::regex_replace(line, std::regex(R"(^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d )"), "<$1>DATE ");
  line = std::regex_replace(line, std::regex(R"(haproxy\[\d+\]: )"), "haproxy[PID]: ");
  return std::regex_replace(line, std::regex(R"(\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\])"),
                            "[RDATE]");
}

TEST_F(ProxyTest, HttplogLinePerRequestToSyslog) {
  SyslogSocket syslog;
  HttpUpstream up([](const Message&) {
    std::this_thread::sleep_for(60ms);  // a visible Tr
    return ok_response("hello");
  });
  start("global\n  log " + syslog.path() + " local0\n" +
        http_config({up.server.port()},
                    "  log global\n  option httplog\n  http-request deny if { path /deny }\n"));
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  const uint16_t cport = local_port(fd);
  ASSERT_TRUE(send_all(fd, "GET /x?y=1 HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string carry;
  Message m = read_message(fd, http1::Mode::kResponse, carry);
  ASSERT_EQ(m.body, "hello");
  std::string line = mask_dates(syslog.next());
  std::smatch t;
  ASSERT_TRUE(std::regex_search(line, t, std::regex(R"( (\d+)/(\d+)/(\d+)/(\d+)/(\d+) 200 )")))
      << line;
  EXPECT_GE(std::stoi(t[4]), 50);               // Tr: the server's 60 ms
  EXPECT_GE(std::stoi(t[5]), std::stoi(t[4]));  // Ta covers it
  line = std::regex_replace(line, std::regex(R"( \d+/\d+/\d+/\d+/\d+ 200 )"), " T 200 ",
                            std::regex_constants::format_first_only);
  // The bytes: what the client received, headers included.
  const std::string bytes =
      std::to_string(std::string("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello").size());
  EXPECT_EQ(line, "<134>DATE haproxy[PID]: 127.0.0.1:" + std::to_string(cport) +
                      " [RDATE] fe be/s1 T 200 " + bytes +
                      " - - ---- 1/1/0/0/0 0/0 \"GET /x?y=1 HTTP/1.1\"\n");
  // A denied request on the same connection: haproxy's PR-- line. %B counts the bytes sent
  // (haproxy 2.6 prints 3 more for its own answers: its internal message size).
  ASSERT_TRUE(send_all(fd, "GET /deny HTTP/1.1\r\nHost: x\r\n\r\n"));
  Message d = read_message(fd, http1::Mode::kResponse, carry);
  ASSERT_EQ(d.head.status, 403);
  std::string denied = std::regex_replace(mask_dates(syslog.next()),
                                          std::regex(R"( \d+/-1/-1/-1/\d+ )"), " T/-1/-1/-1/T ");
  EXPECT_EQ(denied, "<134>DATE haproxy[PID]: 127.0.0.1:" + std::to_string(cport) +
                        " [RDATE] fe fe/<NOSRV> T/-1/-1/-1/T 403 " +
                        std::to_string(default_error_response(403).size()) +
                        " - - PR-- 1/1/0/0/0 0/0 \"GET /deny HTTP/1.1\"\n");
  ::close(fd);
}

TEST_F(ProxyTest, TcplogDontlognullAndConnectLines) {
  SyslogSocket syslog;
  Upstream echo([](int fd) { send_all(fd, "echo:" + recv_all(fd)); });
  start(
      "defaults\n  mode tcp\n  timeout connect 500ms\n  timeout client 2s\n"
      "  timeout server 2s\nlisten fe\n  bind 127.0.0.1:0\n  log " +
      syslog.path() +
      " local1 info\n  option tcplog\n  option dontlognull\n"
      "  server e 127.0.0.1:" +
      std::to_string(echo.port()) + "\n");
  int quiet = connect_to(port_);  // sends nothing: no line under dontlognull
  ASSERT_GE(quiet, 0);
  ::shutdown(quiet, SHUT_WR);
  EXPECT_EQ(recv_all(quiet), "echo:");
  ::close(quiet);
  // The counts in the next line are the process's: let the first session end.
  for (int i = 0; i < 200 && rt_->snapshot().find("fe")->frontend.sessions_current > 0; ++i)
    std::this_thread::sleep_for(2ms);
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  const uint16_t cport = local_port(fd);
  ASSERT_TRUE(send_all(fd, "ping"));
  ::shutdown(fd, SHUT_WR);
  EXPECT_EQ(recv_all(fd), "echo:ping");
  ::close(fd);
  std::string line = mask_dates(syslog.next());
  line = std::regex_replace(line, std::regex(R"( \d+/\d+/\d+ 9 )"), " T 9 ",
                            std::regex_constants::format_first_only);
  // local1.info: <142>; %B is what went to the client (9 bytes).
  EXPECT_EQ(line, "<142>DATE haproxy[PID]: 127.0.0.1:" + std::to_string(cport) +
                      " [RDATE] fe fe/e T 9 -- 1/1/0/0/0 0/0\n");
}

// Sends this process's stdout (`log stdout`) to a file until text() gives it back.
class StdoutCapture {
 public:
  StdoutCapture()
      : path_(std::filesystem::temp_directory_path() /
              ("tandem-proxy-test-stdout-" + std::to_string(::getpid()))) {
    int file = ::open(path_.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
    std::fflush(stdout);
    saved_ = ::dup(STDOUT_FILENO);
    if (file >= 0) {
      ::dup2(file, STDOUT_FILENO);
      ::close(file);
    }
  }
  ~StdoutCapture() { restore(); }
  // What was written meanwhile (call once the writers have stopped).
  std::string text() {
    restore();
    std::ifstream in(path_);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::filesystem::remove(path_);
    return all;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stdout);
    ::dup2(saved_, STDOUT_FILENO);
    ::close(saved_);
    saved_ = -1;
  }
  std::filesystem::path path_;
  int saved_ = -1;
};

TEST_F(ProxyTest, DefaultFormatLogsConnectFromToAStdoutFile) {
  StdoutCapture out;
  HttpUpstream up([](const Message&) { return ok_response("ok"); });
  start(http_config({up.server.port()}, "  log stdout format raw local0\n"));
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  const uint16_t cport = local_port(fd);
  ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::string carry;
  EXPECT_EQ(read_message(fd, http1::Mode::kResponse, carry).body, "ok");
  ::close(fd);
  stop();
  EXPECT_EQ(out.text(), "Connect from 127.0.0.1:" + std::to_string(cport) +
                            " to 127.0.0.1:" + std::to_string(port_) + " (fe/HTTP)\n");
}

// haproxy logs a unix socket client as "unix" and the number of its listener (unix:2 for
// the second bind line of the frontend).
TEST_F(ProxyTest, UnixClientLogsAsUnixAndItsListener) {
  const std::string sock = std::filesystem::temp_directory_path() /
                           ("tandem-proxy-test-log-" + std::to_string(::getpid()) + ".sock");
  StdoutCapture out;
  HttpUpstream up([](const Message&) { return ok_response("ok"); });
  start(
      http_config({up.server.port()},
                  "  bind unix@" + sock + "\n  log stdout format raw local0\n  option httplog\n"));
  int fd = connect_unix(sock, false);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET /u HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::string carry;
  EXPECT_EQ(read_message(fd, http1::Mode::kResponse, carry).body, "ok");
  ::close(fd);
  stop();
  const std::string text = out.text();
  std::filesystem::remove(sock);
  EXPECT_EQ(text.rfind("unix:2 [", 0), 0u) << text;
  EXPECT_NE(text.find(" fe be/s1 "), std::string::npos) << text;
  EXPECT_NE(text.find("\"GET /u HTTP/1.1\""), std::string::npos) << text;
}

TEST_F(ProxyTest, NoLogTargetMeansNoLine) {
  HttpUpstream up([](const Message&) { return ok_response("ok"); });
  std::vector<std::string> lines;
  std::mutex mu;
  start(http_config({up.server.port()}, "  option httplog\n"), 1, [&](RuntimeOptions& o) {
    o.on_request = [&](const logfmt::SessionLog& s) {
      std::lock_guard lock(mu);
      lines.push_back(s.server + " " + std::to_string(s.status));
    };
  });
  EXPECT_EQ(get("GET / HTTP/1.1\r\nHost: x\r\n\r\n").body, "ok");
  for (int i = 0; i < 100; ++i) {
    {
      std::lock_guard lock(mu);
      if (!lines.empty()) break;
    }
    std::this_thread::sleep_for(5ms);
  }
  std::lock_guard lock(mu);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "s1 200");
}

// ---- server maxconn across threads and the queue ----

struct Concurrency {
  std::atomic<int> now{0}, max{0};
  void enter() {
    int n = ++now;
    int m = max.load();
    while (n > m && !max.compare_exchange_weak(m, n)) {
    }
  }
  void leave() { --now; }
};

TEST_F(ProxyTest, FullServerQueuesThenServesAndMaxqueueGives503) {
  Concurrency c;
  HttpUpstream up([&](const Message& m) {
    c.enter();
    std::this_thread::sleep_for(300ms);  // holds the only slot
    c.leave();
    return ok_response("served " + m.head.target);
  });
  std::mutex mu;
  std::map<std::string, logfmt::SessionLog> logs;  // by request line
  start(http_config({}, "",
                    "  timeout queue 3s\n  server s1 127.0.0.1:" +
                        std::to_string(up.server.port()) + " maxconn 1 maxqueue 1\n"),
        2, [&](RuntimeOptions& o) {
          o.on_request = [&](const logfmt::SessionLog& l) {
            std::lock_guard lock(mu);
            logs[l.request_line.value_or("")] = l;
          };
        });
  auto t0 = std::chrono::steady_clock::now();
  auto ask = [&](std::string path) {
    return std::async(std::launch::async, [this, path] {
      Message m = get("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
      return std::make_pair(m, std::chrono::steady_clock::now());
    });
  };
  auto a = ask("/a");
  for (int i = 0; i < 400 && up.seen().empty(); ++i) std::this_thread::sleep_for(2ms);
  ASSERT_EQ(up.seen().size(), 1u);
  auto b = ask("/b");
  for (int i = 0; i < 400 && rt_->snapshot().find("be")->backend.queue_current == 0; ++i)
    std::this_thread::sleep_for(2ms);
  EXPECT_EQ(rt_->snapshot().find("be")->backend.queue_current, 1u);
  auto c3 = ask("/c");  // past maxqueue: 503 at once
  auto [mc, tc] = c3.get();
  EXPECT_EQ(mc.head.status, 503);
  EXPECT_LT(tc - t0, 250ms);
  auto [ma, ta] = a.get();
  auto [mb, tb] = b.get();
  EXPECT_EQ(ma.body, "served /a");
  EXPECT_EQ(mb.body, "served /b");
  EXPECT_GE(tb - t0, 550ms);   // waited for /a's slot
  EXPECT_EQ(c.max.load(), 1);  // maxconn 1 held across the two threads
  auto snap = rt_->snapshot();
  EXPECT_EQ(snap.find("be")->backend.queue_max, 1u);
  EXPECT_EQ(snap.find("be")->backend.queue_current, 0u);
  // The log facts: /b's Tw is its time in the queue; /c never got a slot. They are logged
  // once the answer is out, so the client may be first.
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard lock(mu);
      if (logs.size() == 3) break;
    }
    std::this_thread::sleep_for(5ms);
  }
  std::lock_guard lock(mu);
  ASSERT_EQ(logs.count("GET /b HTTP/1.1"), 1u);
  ASSERT_EQ(logs.count("GET /c HTTP/1.1"), 1u);
  const auto& lb = logs["GET /b HTTP/1.1"];
  EXPECT_GE(lb.t_queue, 200);
  EXPECT_EQ(lb.termination.http(), "----");
  EXPECT_EQ(lb.server, "s1");
  const auto& lc = logs["GET /c HTTP/1.1"];
  EXPECT_EQ(lc.status, 503);
  EXPECT_EQ(lc.termination.http(), "SQ--");
  EXPECT_EQ(lc.t_connect, -1);
}

// A hashed request whose server is full waits in that server's own queue, as haproxy's, and
// never moves to a server with room: `balance uri` keeps its key on s1 while s2 is idle.
// Other keys pass meanwhile; the server's queue shows in the stats and in the log (%sq).
// Two upstreams that answer their own name after `delay`, behind `balance uri` with
// maxconn 1 each: the set-up of the per-server queue tests.
struct SlowUriPair {
  explicit SlowUriPair(std::chrono::milliseconds delay)
      : s1(make("s1", delay)), s2(make("s2", delay)) {}
  static std::unique_ptr<HttpUpstream> make(std::string name, std::chrono::milliseconds delay) {
    return std::make_unique<HttpUpstream>([name, delay](const Message&) {
      std::this_thread::sleep_for(delay);
      return ok_response(name);
    });
  }
  std::string backend(std::string_view extra) const {
    return "  balance uri\n  timeout queue 3s\n" + std::string(extra) +
           "  server s1 127.0.0.1:" + std::to_string(s1->server.port()) + " maxconn 1\n" +
           "  server s2 127.0.0.1:" + std::to_string(s2->server.port()) + " maxconn 1\n";
  }
  std::unique_ptr<HttpUpstream> s1, s2;
};

TEST_F(ProxyTest, HashedRequestQueuesForItsOwnServer) {
  SlowUriPair pair(300ms);
  std::mutex mu;
  std::map<std::string, logfmt::SessionLog> logs;  // by request line
  start(http_config({}, "", pair.backend("")), 2, [&](RuntimeOptions& o) {
    o.on_request = [&](const logfmt::SessionLog& l) {
      std::lock_guard lock(mu);
      logs[l.request_line.value_or("")] = l;
    };
  });
  // A key of each server (the map is fixed).
  const std::string k1 = path_answered_by("s1"), k2 = path_answered_by("s2");
  ASSERT_FALSE(k1.empty());
  ASSERT_FALSE(k2.empty());
  auto a = occupy(*pair.s1, k1);
  auto b = ask_body(k1 + "?again");  // the same key: the query string is not hashed
  ServerSnapshot s1;
  for (int i = 0; i < 400; ++i) {
    s1 = rt_->snapshot().find("be")->servers.at(0);
    if (s1.counters.queue_current == 1) break;
    std::this_thread::sleep_for(2ms);
  }
  EXPECT_EQ(s1.counters.queue_current, 1u);
  EXPECT_EQ(rt_->snapshot().find("be")->backend.queue_current, 0u);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(ask_body(k2).get(), "s2");  // another key is not held up
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 450ms);
  EXPECT_EQ(a.get(), "s1");
  EXPECT_EQ(b.get(), "s1");  // waited for s1 rather than going to the idle s2
  auto snap = rt_->snapshot();
  EXPECT_EQ(snap.find("be")->servers.at(0).counters.queue_max, 1u);
  EXPECT_EQ(snap.find("be")->servers.at(0).counters.queue_current, 0u);
  EXPECT_EQ(snap.find("be")->backend.queue_max, 0u);
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard lock(mu);
      if (logs.count("GET " + k1 + "?again HTTP/1.1") == 1) break;
    }
    std::this_thread::sleep_for(5ms);
  }
  std::lock_guard lock(mu);
  ASSERT_EQ(logs.count("GET " + k1 + "?again HTTP/1.1"), 1u);
  EXPECT_GE(logs["GET " + k1 + "?again HTTP/1.1"].t_queue, 150);
  EXPECT_EQ(logs["GET " + k1 + "?again HTTP/1.1"].server, "s1");
}

// With `option redispatch`, requests waiting for a server that goes into maintenance (or
// down) choose again, as haproxy's redistribution: the key's next server serves it at once.
TEST_F(ProxyTest, QueuedForAServerThatLeavesRedispatches) {
  SlowUriPair pair(400ms);
  start(http_config({}, "", pair.backend("  option redispatch\n")));
  const std::string k1 = path_answered_by("s1");
  ASSERT_FALSE(k1.empty());
  auto a = occupy(*pair.s1, k1);
  auto b = ask_body(k1);
  for (int i = 0; i < 400; ++i) {
    if (rt_->snapshot().find("be")->servers.at(0).counters.queue_current == 1) break;
    std::this_thread::sleep_for(2ms);
  }
  ASSERT_EQ(rt_->snapshot().find("be")->servers.at(0).counters.queue_current, 1u);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(rt_->set_server_admin("be", "s1", ServerAdmin::kMaint));
  EXPECT_EQ(b.get(), "s2");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2000ms);  // well before the queue time-out
  EXPECT_EQ(a.get(), "s1");
  EXPECT_EQ(rt_->snapshot().find("be")->servers.at(0).counters.queue_current, 0u);
}

TEST_F(ProxyTest, QueueTimeoutGives503) {
  HttpUpstream up([&](const Message&) {
    std::this_thread::sleep_for(400ms);
    return ok_response("slow");
  });
  start(http_config({}, "",
                    "  timeout queue 100ms\n  server s1 127.0.0.1:" +
                        std::to_string(up.server.port()) + " maxconn 1\n"));
  auto a =
      std::async(std::launch::async, [this] { return get("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"); });
  for (int i = 0; i < 400 && up.seen().empty(); ++i) std::this_thread::sleep_for(2ms);
  auto t0 = std::chrono::steady_clock::now();
  Message b = get("GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(b.head.status, 503);
  EXPECT_GE(waited, 90ms);
  EXPECT_LT(waited, 350ms);
  EXPECT_EQ(a.get().body, "slow");
  EXPECT_EQ(rt_->snapshot().find("be")->backend.queue_timeouts, 1u);
  EXPECT_EQ(up.seen().size(), 1u);
}

TEST_F(ProxyTest, GracefulStopStillServesTheQueue) {
  HttpUpstream up([&](const Message& m) {
    std::this_thread::sleep_for(200ms);
    return ok_response("served " + m.head.target);
  });
  start(http_config({}, "",
                    "  timeout queue 3s\n  server s1 127.0.0.1:" +
                        std::to_string(up.server.port()) + " maxconn 1\n"));
  auto a =
      std::async(std::launch::async, [this] { return get("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"); });
  for (int i = 0; i < 400 && up.seen().empty(); ++i) std::this_thread::sleep_for(2ms);
  auto b =
      std::async(std::launch::async, [this] { return get("GET /b HTTP/1.1\r\nHost: x\r\n\r\n"); });
  for (int i = 0; i < 400 && rt_->snapshot().find("be")->backend.queue_current == 0; ++i)
    std::this_thread::sleep_for(2ms);
  ASSERT_EQ(rt_->snapshot().find("be")->backend.queue_current, 1u);
  std::promise<void> done;
  rt_->stop_gracefully([&] { done.set_value(); });
  EXPECT_EQ(a.get().body, "served /a");
  EXPECT_EQ(b.get().body, "served /b");  // the queued request still had its turn
  EXPECT_EQ(done.get_future().wait_for(2s), std::future_status::ready);
}

TEST_F(ProxyTest, ServerMaxconnIsGlobalAcrossThreads) {
  Concurrency c;
  HttpUpstream up([&](const Message&) {
    c.enter();
    std::this_thread::sleep_for(40ms);
    c.leave();
    return ok_response("ok");
  });
  start(http_config({}, "",
                    "  timeout queue 5s\n  server s1 127.0.0.1:" +
                        std::to_string(up.server.port()) + " maxconn 2\n"),
        2);
  std::vector<std::future<Message>> all;
  for (int i = 0; i < 8; ++i) {
    all.push_back(std::async(std::launch::async,
                             [this] { return get("GET / HTTP/1.1\r\nHost: x\r\n\r\n"); }));
  }
  for (auto& f : all) EXPECT_EQ(f.get().body, "ok");
  EXPECT_EQ(c.max.load(), 2);
}

// ---- TCP: splice and copy ----

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// The process's CPU seconds over `wall` of waiting here.
double cpu_over(std::chrono::milliseconds wall) {
  const double before = cpu_seconds();
  std::this_thread::sleep_for(wall);
  return cpu_seconds() - before;
}

// global busy-polling, as haproxy: an idle proxy thread polls without a pause, until a
// graceful stop; by default (and with 'no busy-polling') an idle one sleeps.
TEST_F(ProxyTest, BusyPollingSpinsWhileIdleAndStopsWhenLeaving) {
  Upstream slow(answer_late(400ms));
  start(http_config({slow.port()}));
  EXPECT_LT(cpu_over(200ms), 0.03);
  stop();
  start("global\n  no busy-polling\n" + http_config({slow.port()}));
  EXPECT_LT(cpu_over(200ms), 0.03);
  stop();
  start("global\n  busy-polling\n" + http_config({slow.port()}));
  EXPECT_GT(cpu_over(200ms), 0.06);
  // A request in flight keeps the leaving thread alive past the stop.
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::this_thread::sleep_for(50ms);
  std::promise<void> done;
  rt_->stop_gracefully([&] { done.set_value(); });
  std::this_thread::sleep_for(20ms);
  EXPECT_LT(cpu_over(200ms), 0.03);
  std::string carry;
  EXPECT_EQ(read_message(fd, http1::Mode::kResponse, carry).body, "late");
  ::close(fd);
  EXPECT_EQ(done.get_future().wait_for(2s), std::future_status::ready);
}

// A TCP listener in front of one server, 10 s time-outs; `options` go in its defaults
// (e.g. "option splice-auto"), `global` in a global section.
std::string tcp_listen_config(uint16_t server_port, std::string_view options = {},
                              std::string_view global = {}) {
  std::string cfg;
  if (!global.empty()) cfg += "global\n  " + std::string(global) + "\n";
  cfg +=
      "defaults\n  mode tcp\n  timeout connect 500ms\n  timeout client 10s\n"
      "  timeout server 10s\n";
  if (!options.empty()) cfg += "  " + std::string(options) + "\n";
  return cfg +
         "listen fe\n  bind 127.0.0.1:0\n  server e 127.0.0.1:" + std::to_string(server_port) +
         "\n";
}

// Segments of ours the peer has not acknowledged yet, 10 ms after the last was sent.
uint32_t unacked_after_10ms(int fd) {
  std::this_thread::sleep_for(10ms);
  tcp_info ti{};
  socklen_t len = sizeof ti;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return 0;
  return ti.tcpi_unacked;
}

// Whether a client's first bytes through `port` were still unacknowledged 10 ms after they
// were sent, in any of `tries` new connections (a client thread held up past the kernel's
// delayed ACK, at least 40 ms, on a busy machine sees it come: one try where it was still
// held is enough; an ACK sent at once is never held). The server answers after 200 ms.
bool first_ack_held(uint16_t port, std::string_view bytes, bool http, int tries) {
  bool held = false;
  for (int attempt = 0; attempt < tries && !held; ++attempt) {
    int fd = connect_to(port);
    if (fd < 0) return false;
    if (!send_all(fd, bytes)) return false;
    held = unacked_after_10ms(fd) > 0;
    if (http) {
      std::string carry;
      EXPECT_EQ(read_message(fd, http1::Mode::kResponse, carry).body, "late");
    } else {
      char c[8];
      EXPECT_EQ(::recv(fd, c, sizeof c, MSG_WAITALL), 4);
    }
    ::close(fd);
  }
  return held;
}

// option tcp-smart-accept, as haproxy: by default an HTTP frontend acknowledges a request
// with its response rather than with a packet of its own at once, a TCP frontend at once;
// the option forces either.
TEST_F(ProxyTest, TcpSmartAcceptHoldsTheFirstAckForTheAnswer) {
  Upstream slow_http(answer_late(200ms));
  Upstream slow_tcp([](int fd) {
    set_timeouts(fd, 5000ms);
    char c[64];
    if (::recv(fd, c, sizeof c, 0) > 0) std::this_thread::sleep_for(200ms);
    send_all(fd, "late");
  });
  const std::string get = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  start(http_config({slow_http.port()}));
  EXPECT_TRUE(first_ack_held(port_, get, true, 5));
  stop();
  start(http_config({slow_http.port()}, "  no option tcp-smart-accept\n"));
  EXPECT_FALSE(first_ack_held(port_, get, true, 1));
  stop();
  start(tcp_listen_config(slow_tcp.port()));
  EXPECT_FALSE(first_ack_held(port_, "hello", false, 1));
  stop();
  start(tcp_listen_config(slow_tcp.port(), "option tcp-smart-accept"));
  EXPECT_TRUE(first_ack_held(port_, "hello", false, 5));
}

// option tcp-smart-connect: the request takes the place of the handshake's last ACK, so the
// server's side of a new connection has seen two segments when the request is there (the
// SYN, the request), not three.
TEST_F(ProxyTest, TcpSmartConnectSendsTheRequestInPlaceOfTheHandshakeAck) {
  std::atomic<uint32_t> segs{0};
  Upstream up([&segs](int fd) {
    set_timeouts(fd, 5000ms);
    std::string carry;
    Message m = read_message(fd, http1::Mode::kRequest, carry);
    // glibc's struct tcp_info stops before tcpi_segs_in (Linux 4.2): read it at its offset
    // in the kernel's struct, which only ever grows at the end.
    constexpr size_t kSegsIn = 140;
    unsigned char ti[256] = {};
    socklen_t len = sizeof ti;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &len) == 0 && len >= kSegsIn + 4) {
      uint32_t n = 0;
      std::memcpy(&n, ti + kSegsIn, sizeof n);
      segs = n;
    }
    if (m.complete) send_all(fd, ok_response("late"));
  });
  const std::string get = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  for (bool smart : {false, true}) {
    stop();
    start(http_config({up.port()}, "", smart ? "  option tcp-smart-connect\n" : ""));
    int fd = connect_to(port_);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(send_all(fd, get));
    std::string carry;
    EXPECT_EQ(read_message(fd, http1::Mode::kResponse, carry).body, "late");
    ::close(fd);
    EXPECT_EQ(segs.load(), smart ? 2u : 3u) << (smart ? "smart" : "plain");
  }
}

// How a TCP session moves each direction's bytes, as haproxy decides: copied by default,
// spliced per `option splice-*`, never spliced under global `nosplice`.
struct SpliceCase {
  const char* name;
  std::string_view options, global;
  bool in, out;  // client-to-server, server-to-client bytes spliced
};
constexpr SpliceCase kSpliceCases[] = {
    {"copy (default)", "", "", false, false},
    {"splice-auto", "option splice-auto", "", true, true},
    {"splice-request", "option splice-request", "", true, false},
    {"splice-response", "option splice-response", "", false, true},
    {"nosplice", "option splice-auto", "nosplice", false, false},
};

TEST_F(ProxyTest, TcpLargeTransferSpliceAndCopy) {
  constexpr size_t kSize = 64u << 20;
  // Counts what comes until the half-close, then answers with as many bytes.
  Upstream sink([](int fd) {
    set_timeouts(fd, 10000ms);
    size_t got = 0;
    char buf[1 << 16];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) got += static_cast<size_t>(n);
    std::memset(buf, 'r', sizeof buf);
    for (size_t sent = 0; sent < got;) {
      ssize_t n = ::send(fd, buf, std::min(sizeof buf, got - sent), MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  });
  for (const SpliceCase& sc : kSpliceCases) {
    start(tcp_listen_config(sink.port(), sc.options, sc.global), 1);
    int fd = connect_to(port_);
    ASSERT_GE(fd, 0);
    set_timeouts(fd, 10000ms);
    auto t0 = std::chrono::steady_clock::now();
    const double cpu0 = cpu_seconds();
    std::thread writer([fd] {
      std::string block(1 << 16, 'q');
      for (size_t sent = 0; sent < kSize;) {
        ssize_t n = ::send(fd, block.data(), std::min(block.size(), kSize - sent), MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
      }
      ::shutdown(fd, SHUT_WR);
    });
    size_t back = 0;
    bool all_r = true;
    char buf[1 << 16];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) {
      back += static_cast<size_t>(n);
      if (all_r && std::string_view(buf, static_cast<size_t>(n)).find_first_not_of('r') !=
                       std::string_view::npos)
        all_r = false;
    }
    writer.join();
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    const double cpu = cpu_seconds() - cpu0;
    ::close(fd);
    EXPECT_EQ(back, kSize) << sc.name;
    EXPECT_TRUE(all_r);
    auto snap = rt_->snapshot();
    const proxy::Counters& fe = snap.find("fe")->frontend;
    EXPECT_EQ(fe.bytes_in, kSize);
    EXPECT_EQ(fe.bytes_out, kSize);
    EXPECT_EQ(fe.spliced_in, sc.in ? kSize : 0) << sc.name;
    EXPECT_EQ(fe.spliced_out, sc.out ? kSize : 0) << sc.name;
    // The process's CPU time covers the test's client and upstream too (the same in both
    // runs): the difference is the proxy's.
    std::printf("[ measure  ] %s: 2 x %zu MiB through the proxy in %lld ms, %.0f ms CPU\n", sc.name,
                kSize >> 20, static_cast<long long>(ms), cpu * 1000);
    rt_->stop_now();
    rt_->join();
    rt_.reset();
  }
}

// One thread, a tunnel moving bytes as fast as both ends allow, and another client's small
// exchanges on the same thread: the bulk direction yields after each 256 KiB, so the small
// exchanges wait for a turn, not for the transfer's end. With splice and with copying.
TEST_F(ProxyTest, BulkTunnelLeavesOtherConnectionsTheirTurn) {
  constexpr size_t kSize = 512u << 20;
  Upstream up([](int fd) {
    set_timeouts(fd, 10000ms);
    char cmd = 0;
    if (::recv(fd, &cmd, 1, 0) != 1) return;
    if (cmd == 'B') {  // bulk: kSize bytes, as fast as the proxy takes them
      std::string block(1 << 16, 'b');
      for (size_t sent = 0; sent < kSize;) {
        ssize_t n = ::send(fd, block.data(), std::min(block.size(), kSize - sent), MSG_NOSIGNAL);
        if (n <= 0) return;
        sent += static_cast<size_t>(n);
      }
      return;
    }
    for (char c; ::recv(fd, &c, 1, 0) == 1;) {  // ping: each byte echoed
      if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) return;
    }
  });
  for (bool splice : {true, false}) {
    start(tcp_listen_config(up.port(), splice ? "option splice-auto" : ""), 1);
    int ping = connect_to(port_);
    ASSERT_GE(ping, 0);
    ASSERT_TRUE(send_all(ping, "P"));
    char c = 0;
    ASSERT_TRUE(send_all(ping, "x"));
    ASSERT_EQ(::recv(ping, &c, 1, 0), 1);  // the ping path is up before the bulk starts
    int bulk = connect_to(port_);
    ASSERT_GE(bulk, 0);
    set_timeouts(bulk, 10000ms);
    std::atomic<bool> done{false};
    std::thread reader([&] {
      ASSERT_TRUE(send_all(bulk, "B"));
      char buf[1 << 16];
      size_t got = 0;
      for (ssize_t n; got < kSize && (n = ::recv(bulk, buf, sizeof buf, 0)) > 0;)
        got += static_cast<size_t>(n);
      done = true;
    });
    std::this_thread::sleep_for(20ms);  // the transfer is under way
    auto worst = std::chrono::steady_clock::duration::zero();
    int exchanges = 0;
    for (; exchanges < 20 && !done; ++exchanges) {
      const auto t0 = std::chrono::steady_clock::now();
      ASSERT_TRUE(send_all(ping, "x"));
      ASSERT_EQ(::recv(ping, &c, 1, 0), 1);
      worst = std::max(worst, std::chrono::steady_clock::now() - t0);
    }
    const bool overlapped = !done;
    reader.join();
    ::close(bulk);
    ::close(ping);
    std::printf("[ measure  ] %s: %d exchanges during the transfer, worst %lld us\n",
                splice ? "splice" : "copy", exchanges,
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::microseconds>(worst).count()));
    if (overlapped) {
      EXPECT_LT(worst, 50ms) << (splice ? "splice" : "copy");
    }
    rt_->stop_now();
    rt_->join();
    rt_.reset();
  }
}

// Past the proxy's idle shedding (20-40 ms without bytes: buffers, coroutines and the parser
// of a keep-alive connection go, a one-byte wait stays): see session.cc.
constexpr auto kParked = 150ms;

TEST_F(ProxyTest, ParkedKeepAliveConnectionsWakeWithTheirWholeRequests) {
  HttpUpstream up([](const Message& m) { return ok_response(m.head.target + ":" + m.body); });
  start(http_config({up.server.port()}, "  timeout http-keep-alive 5s\n"));
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  std::string carry;
  ASSERT_TRUE(send_all(fd, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(read_message(fd, http1::Mode::kResponse, carry).body, "/1:");
  // A head split across idle gaps, each longer than the shedding delay.
  std::this_thread::sleep_for(kParked);
  ASSERT_TRUE(send_all(fd, "G"));
  std::this_thread::sleep_for(kParked);
  ASSERT_TRUE(send_all(fd, "ET /2 HTTP/1.1\r\nHo"));
  std::this_thread::sleep_for(kParked);
  ASSERT_TRUE(send_all(fd, "st: x\r\n\r\n"));
  EXPECT_EQ(read_message(fd, http1::Mode::kResponse, carry).body, "/2:");
  // Pipelined requests, one with a body that comes after a gap, woken from a park.
  std::this_thread::sleep_for(kParked);
  ASSERT_TRUE(send_all(fd,
                       "GET /3 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "POST /4 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhe"));
  std::this_thread::sleep_for(kParked);
  ASSERT_TRUE(send_all(fd, "llo"));
  EXPECT_EQ(read_message(fd, http1::Mode::kResponse, carry).body, "/3:");
  Message post = read_message(fd, http1::Mode::kResponse, carry, "POST");
  EXPECT_EQ(post.body, "/4:hello");
  EXPECT_FALSE(post.eof);
  ::close(fd);
  auto seen = up.seen();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[1].head.target, "/2");
  EXPECT_EQ(seen[3].body, "hello");
}

TEST_F(ProxyTest, ParkedConnectionsCloseAtTheKeepAliveTimeoutAndOnAGracefulStop) {
  HttpUpstream up([](const Message& m) { return ok_response(m.head.target); });
  start(http_config({up.server.port()}, "  timeout http-keep-alive 400ms\n"));
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  set_timeouts(fd, 3000ms);
  std::string carry;
  ASSERT_TRUE(send_all(fd, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(read_message(fd, http1::Mode::kResponse, carry).body, "/a");
  const auto idle_from = std::chrono::steady_clock::now();
  EXPECT_EQ(recv_all(fd), "");  // closed by the proxy, without an answer
  const auto idle = std::chrono::steady_clock::now() - idle_from;
  EXPECT_GE(idle, 350ms);
  EXPECT_LE(idle, 1500ms);
  ::close(fd);

  // A parked connection does not hold a graceful stop back.
  int parked = connect_to(port_);
  ASSERT_GE(parked, 0);
  ASSERT_TRUE(send_all(parked, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string carry2;
  EXPECT_EQ(read_message(parked, http1::Mode::kResponse, carry2).body, "/b");
  std::this_thread::sleep_for(kParked);
  std::promise<void> done;
  auto stopped = done.get_future();
  rt_->stop_gracefully([&] { done.set_value(); });
  EXPECT_EQ(stopped.wait_for(1s), std::future_status::ready);
  EXPECT_EQ(recv_all(parked), "");
  ::close(parked);
}

}  // namespace
}  // namespace tandem::lb::proxy
