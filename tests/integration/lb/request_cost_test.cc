// What the proxy's worker thread does per request on a kept connection, counted in this
// executable by replacing the global operator new and recv(2):
// - heap allocations: none once the connection is warm. What a request needs is recycled
//   (asio's frames and operations, the parsers' fields, the session's work area), and the
//   coroutine frames stay within the size asio recycles (src/lb/proxy/session.cc,
//   exchange());
// - reads that find nothing (EAGAIN): none. A read shorter than the buffer drained the
//   socket, so the next read waits for readiness instead of trying first
//   (DrainingRecvOp in session.cc), as haproxy does.
#include <errno.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "core/diagnostic.h"
#include "lb/config.h"
#include "lb/http1.h"
#include "lb/proxy/proxy.h"
#include "socket_util.h"

namespace {

std::atomic<uint64_t> g_worker_allocations{0};
std::atomic<uint64_t> g_worker_reads{0};
std::atomic<uint64_t> g_worker_empty_reads{0};

// The proxy's worker threads are named "lb-0", "lb-1", ... (core::Worker::start_thread).
// Known once seen; asked again until then, since a thread allocates before it is named.
thread_local bool t_is_worker = false;
bool on_worker_thread() {
  if (t_is_worker) return true;
  char name[16] = {};
  ::prctl(PR_GET_NAME, name, 0, 0, 0);
  t_is_worker = std::strncmp(name, "lb-", 3) == 0 && name[3] >= '0' && name[3] <= '9';
  return t_is_worker;
}

void* counted(std::size_t n, std::size_t align) {
  if (on_worker_thread()) g_worker_allocations.fetch_add(1, std::memory_order_relaxed);
  if (n == 0) n = 1;
  void* p = align <= alignof(std::max_align_t)
                ? std::malloc(n)
                : std::aligned_alloc(align, (n + align - 1) / align * align);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace

// Every recv(2) of the program comes here (the executable's definition comes first); the
// worker's are counted, and those that found nothing.
extern "C" ssize_t recv(int fd, void* buf, size_t len, int flags) {
  const long n = ::syscall(SYS_recvfrom, fd, buf, len, flags, nullptr, nullptr);
  if (on_worker_thread()) {
    g_worker_reads.fetch_add(1, std::memory_order_relaxed);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      g_worker_empty_reads.fetch_add(1, std::memory_order_relaxed);
  }
  return n;
}

void* operator new(std::size_t n) {
  return counted(n, 0);
}
void* operator new[](std::size_t n) {
  return counted(n, 0);
}
void* operator new(std::size_t n, std::align_val_t a) {
  return counted(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return counted(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}

namespace tandem::lb::proxy {
namespace {

using namespace std::chrono_literals;
using namespace netutil;

constexpr std::string_view kResponse = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

// A keep-alive upstream on one thread: answers each request head with kResponse until the
// proxy closes the connection or `stop` is set.
class Upstream {
 public:
  Upstream() : fd_(loopback_listener()), port_(local_port(fd_)) {
    thread_ = std::thread([this] { serve(); });
  }
  ~Upstream() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  void serve() {
    while (!stop_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      set_timeouts(c, 200ms);
      std::string in;
      char buf[4096];
      while (!stop_) {
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n == 0) break;
        if (n < 0) continue;  // a time-out: look at stop_ again
        in.append(buf, static_cast<size_t>(n));
        for (size_t end; (end = in.find("\r\n\r\n")) != std::string::npos;) {
          in.erase(0, end + 4);
          send_all(c, kResponse);
        }
      }
      ::close(c);
    }
  }
  int fd_;
  uint16_t port_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::unique_ptr<Runtime> start_proxy(const Config& config) {
  RuntimeOptions o;
  o.threads = 1;
  o.grace = 200ms;
  auto rt = Runtime::create(config, o);
  if (!rt.has_value()) {
    ADD_FAILURE() << rt.error().to_string();
    return nullptr;
  }
  (*rt)->start();
  return std::move(*rt);
}

Config load(std::string text, int listen_fd) {
  const std::string marker = "127.0.0.1:0\n";
  text.replace(text.find(marker), marker.size() - 1, "fd@" + std::to_string(listen_fd));
  core::Diagnostics diags;
  Config config = load_config_text(text, diags);
  EXPECT_FALSE(diags.has_errors()) << diags.to_string();
  return config;
}

// `count` requests on one kept client connection; false when an answer is not kResponse.
bool requests(int fd, int count) {
  const std::string_view req = "GET /a HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n";
  std::string carry;
  for (int i = 0; i < count; ++i) {
    if (!send_all(fd, req)) return false;
    Message m = read_message(fd, http1::Mode::kResponse, carry);
    if (!m.complete || m.head.status != 200 || m.body != "hello") return false;
  }
  return true;
}

struct Counts {
  uint64_t start_allocations = 0;  // from the proxy's start to the end of the warm-up
  uint64_t allocations = UINT64_MAX;
  uint64_t reads = 0;
  uint64_t empty_reads = UINT64_MAX;
};

// 1000 requests on a warm kept connection through a proxy with `extra` in its frontend:
// what the worker did meanwhile.
Counts worker_counts_for(std::string_view extra) {
  const uint64_t at_start = g_worker_allocations.load();
  Upstream up;
  const int lfd = listening_socket();
  Config config = load(
      "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
      "frontend fe\n  bind 127.0.0.1:0\n" +
          std::string(extra) + "  default_backend be\nbackend be\n  server s1 127.0.0.1:" +
          std::to_string(up.port()) + "\n",
      lfd);
  auto rt = start_proxy(config);
  ::close(lfd);
  if (!rt) return {};
  const int fd = connect_to(rt->port_of("fe"));
  EXPECT_GE(fd, 0);
  // Warm-up: the server connection, the buffers, the caches of frames and parsers.
  EXPECT_TRUE(requests(fd, 200));
  const uint64_t allocations = g_worker_allocations.load();
  const uint64_t reads = g_worker_reads.load();
  const uint64_t empty_reads = g_worker_empty_reads.load();
  EXPECT_TRUE(requests(fd, 1000));
  Counts c{allocations - at_start, g_worker_allocations.load() - allocations,
           g_worker_reads.load() - reads, g_worker_empty_reads.load() - empty_reads};
  ::close(fd);
  rt->stop_now();
  rt->join();
  return c;
}

// The counting must see the worker at all: starting, its first requests allocate (a
// session, its coroutines, a server connection).
TEST(LbRequestCost, TheWorkerThreadIsNamedAndCounted) {
  EXPECT_GT(worker_counts_for("").start_allocations, 5u);
}

// 1000 requests on a warm kept connection: fewer than one allocation per 100 requests
// (asio's default recycling of two blocks per kind made about seven per request, one of them
// a coroutine frame too big to recycle at all).
TEST(LbRequestCost, AKeptConnectionAllocatesNothingPerRequest) {
  EXPECT_LT(worker_counts_for("").allocations, 10u);
}

// The same with header rules and X-Forwarded-For, which rewrite every request.
TEST(LbRequestCost, RewritingRulesAllocateNothingPerRequest) {
  EXPECT_LT(worker_counts_for("  option forwardfor\n"
                              "  http-request set-header X-A a\n"
                              "  http-response del-header Server\n")
                .allocations,
            10u);
}

// Two reads per request (the request, the response), none of them empty: asio alone tried
// the client and the server once each before waiting, 2000 empty reads in 1000 requests.
TEST(LbRequestCost, AKeptConnectionReadsNothingInVain) {
  const Counts c = worker_counts_for("");
  EXPECT_GE(c.reads, 2000u);  // the counting sees the worker's reads at all
  EXPECT_LT(c.reads, 2100u);
  EXPECT_LT(c.empty_reads, 10u);
}

}  // namespace
}  // namespace tandem::lb::proxy
