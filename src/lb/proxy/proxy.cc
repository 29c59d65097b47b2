// The proxy run-time's shell: resolves the configuration into per-thread state, binds one
// SO_REUSEPORT listener per bind per thread, accepts within maxconn, stops gracefully.
//
// Notes for later sessions:
// - Server connection counts (leastconn, server maxconn) are atomics shared by the threads;
//   a slot is taken with a compare-and-swap, so maxconn holds across threads. A request that
//   finds every usable server full waits in its backend's FIFO (session.cc) up to `timeout
//   queue`; a hashed request whose server is full waits in that server's FIFO; a freed slot
//   goes straight to the older of the server's and the backend's first waiter (Waiter::seq).
//   Global/frontend maxconn use
//   shared atomics, checked before accept (may exceed by up to nbthread-1); a paused acceptor
//   wakes on a local session end or every 50 ms.
// - Idle server connections are kept per thread and server (http-reuse safe/always), at
//   most kMaxIdlePerServer and within haproxy's estimate of the need (in use + idle at most
//   the recent peak); every pool-purge-delay half of the excess is closed. Checked with a
//   MSG_PEEK before reuse.
// - TCP mode and tunnels copy (plain recv/send, asio only to wait), as haproxy does by
//   default; a direction whose frontend or backend has `option splice-request` (client to
//   server), `splice-response` or `splice-auto` splice()s through a pipe instead (at most
//   24 KiB per call), unless global `nosplice`; a failed splice copies. Both yield after
//   256 KiB.
// - Responses go to the client with one sendmsg made at once; a closing connection's send
//   side is shut right behind its last bytes (who closes second pays for TIME_WAIT).
// - A client's socket joins the thread's epoll set only when the session first waits for it
//   (ClientSocket): a request that came with the connection is read with a plain recv, so a
//   new connection per request costs no epoll_ctl and no removal at close, as with haproxy.
// - Each backend has one Pool (balancer and server states) shared by every thread under a
//   mutex, as haproxy shares its lb tree: the round-robin sequence is global. Health checks
//   (set_server_up) and the runtime API (set_server_admin/weight/maxconn) change it in place.
#include "lb/proxy/proxy.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstddef>
#include <cstring>

#include <fstream>
#include <future>
#include <iterator>
#include <thread>

#include "lb/proxy/internal.h"

namespace tandem::lb::proxy {

using detail::tcp;

// ---- counters ----

void Counters::add(const Counters& o) {
  sessions_current += o.sessions_current;
  sessions_total += o.sessions_total;
  bytes_in += o.bytes_in;
  bytes_out += o.bytes_out;
  connect_errors += o.connect_errors;
  response_errors += o.response_errors;
  request_errors += o.request_errors;
  retries += o.retries;
  redispatches += o.redispatches;
  denied_conns += o.denied_conns;
  denied_req += o.denied_req;
  denied_resp += o.denied_resp;
  intercepted += o.intercepted;
  queue_current += o.queue_current;
  queue_max = std::max(queue_max, o.queue_max);
  queue_timeouts += o.queue_timeouts;
  http_requests += o.http_requests;
  for (size_t i = 0; i < http_status.size(); ++i) http_status[i] += o.http_status[i];
  timeouts += o.timeouts;
  spliced_in += o.spliced_in;
  spliced_out += o.spliced_out;
  reused += o.reused;
  for (size_t i = 0; i < http1::kRejectReasonCount; ++i) {
    rejected[i] += o.rejected[i] + o.rejects.get(static_cast<http1::RejectReason>(i));
  }
}

const ProxySnapshot* Snapshot::find(std::string_view name) const {
  for (const ProxySnapshot& p : proxies) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

namespace detail {
bool try_take_slot(std::atomic<uint32_t>& conns, uint32_t maxconn) {
  if (maxconn == 0) {
    conns.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  uint32_t cur = conns.load(std::memory_order_relaxed);
  do {
    if (cur >= maxconn) return false;
  } while (!conns.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel));
  return true;
}
}  // namespace detail

// ---- error pages ----

namespace {

struct ErrorText {
  int status;
  std::string_view reason;
  std::string_view text;
};
// As haproxy 2.6's built-in pages (/etc/haproxy/errors/*.http on Debian).
constexpr ErrorText kErrors[] = {
    {400, "Bad request", "Your browser sent an invalid request."},
    {403, "Forbidden", "Request forbidden by administrative rules."},
    {404, "Not Found", "The resource could not be found."},
    {405, "Method Not Allowed",
     "A request was made of a resource using a request method not "
     "supported by that resource"},
    {408, "Request Time-out", "Your browser didn't send a complete request in time."},
    {413, "Payload Too Large", "The request entity exceeds the maximum allowed."},
    {414, "Request-URI Too Long", "The request URI is too long."},
    {422, "Unprocessable Content", "The server cannot process the contained instructions."},
    {429, "Too Many Requests", "You have sent too many requests in a given amount of time."},
    {500, "Internal Server Error", "An internal server error occurred."},
    {501, "Not Implemented",
     "The server does not support the functionality required to fulfill the request."},
    {502, "Bad Gateway", "The server returned an invalid or incomplete response."},
    {503, "Service Unavailable", "No server is available to handle this request."},
    {504, "Gateway Time-out", "The server didn't respond in time."},
    {505, "HTTP Version Not Supported", "The HTTP version is not supported."},
};

std::string make_page(int status, std::string_view reason, std::string_view text) {
  std::string body =
      fmt::format("<html><body><h1>{} {}</h1>\n{}\n</body></html>\n", status, reason, text);
  return fmt::format(
      "HTTP/1.1 {} {}\r\ncontent-length: {}\r\ncache-control: no-cache\r\n"
      "content-type: text/html\r\nconnection: close\r\n\r\n{}",
      status, reason, body.size(), body);
}

}  // namespace

std::string_view error_response(int status) {
  static const std::vector<std::pair<int, std::string>> pages = [] {
    std::vector<std::pair<int, std::string>> v;
    for (const ErrorText& e : kErrors)
      v.emplace_back(e.status, make_page(e.status, e.reason, e.text));
    return v;
  }();
  static const std::string generic =
      make_page(500, "Internal Server Error", "An internal server error occurred.");
  for (const auto& [s, page] : pages) {
    if (s == status) return page;
  }
  return generic;
}

// ---- per-thread state ----

namespace detail {

char* BufferPool::map(size_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return static_cast<char*>(p);
}
void BufferPool::unmap(char* p, size_t size) {
  ::munmap(p, size);
}

ThreadRt::ThreadRt(Shared& s, size_t i)
    : worker("lb-" + std::to_string(i)),
      shared(s),
      index(i),
      resume_accept(worker.io()),
      grace(worker.io()) {
  buffers.on_excess = [this] { schedule_buffer_trim(); };
}

void ThreadRt::schedule_buffer_trim() {
  if (!buffer_trim) buffer_trim = worker.clock().make_timer();
  if (buffer_trim->armed()) return;
  buffer_trim->arm_at(worker.clock().now() + kBufferTrimPeriod, [this] {
    if (buffers.trim()) schedule_buffer_trim();
  });
}

void ThreadRt::schedule_idle_purge(ServerRt& s, core::Duration delay) {
  if (s.next_purge != core::TimePoint{} || delay.count() == 0) return;
  s.next_purge = worker.clock().now() + delay;
  if (!idle_purge) idle_purge = worker.clock().make_timer();
  if (idle_purge->armed() && idle_purge->deadline() <= s.next_purge) return;
  idle_purge->arm_at(s.next_purge, [this] { purge_idle(); });
}

void ThreadRt::purge_idle() {
  const core::TimePoint now = worker.clock().now();
  std::optional<core::TimePoint> first;  // the next date of any server
  for (BackendRt& b : backends) {
    for (size_t i = 0; i < b.servers.size(); ++i) {
      ServerRt& s = b.servers[i];
      if (s.next_purge != core::TimePoint{} && now >= s.next_purge) {
        const uint64_t used = s.counters.sessions_current;
        const uint64_t need = std::max(s.max_used, s.est_need);
        const uint64_t total = used + s.idle.size();
        if (total > need) {
          const uint64_t excess = total - need;
          const size_t kill = std::min<size_t>(s.idle.size(), (excess + 1) / 2);
          for (size_t k = 0; k < kill; ++k) {
            std::error_code ignored;
            s.idle[k].socket.close(ignored);
          }
          s.idle.erase(s.idle.begin(), s.idle.begin() + static_cast<std::ptrdiff_t>(kill));
        }
        s.est_need = std::max((s.est_need + s.max_used) / 2, s.max_used);
        s.max_used = used;
        // Another date while idle connections remain.
        const core::Duration delay = b.spec->servers[i].cfg->params.pool_purge_delay;
        s.next_purge = s.idle.empty() ? core::TimePoint{} : now + delay;
      }
      if (s.next_purge != core::TimePoint{} && (!first || s.next_purge < *first)) {
        first = s.next_purge;
      }
    }
  }
  if (first) idle_purge->arm_at(*first, [this] { purge_idle(); });
}

void ThreadRt::session_ended() {
  if (paused) resume_accept.cancel();
}

void ThreadRt::task_ended() {
  --live_tasks;
  if (stopping && live_tasks == 0 && !finished) {
    finished = true;
    grace.cancel();
    // Leave the loop once the current handler returns; nothing of ours is pending.
    asio::post(worker.io(), [this] {
      if (on_finished) on_finished();
      worker.stop();
    });
  }
}

bool ThreadRt::over_limit(const FrontendRt& fe) const {
  const size_t i = static_cast<size_t>(fe.spec - shared.frontends.data());
  if (shared.global_conns.load(std::memory_order_relaxed) >= shared.global_maxconn) return true;
  return fe.spec->maxconn > 0 &&
         shared.frontend_conns[i].load(std::memory_order_relaxed) >= fe.spec->maxconn;
}

}  // namespace detail

using detail::FrontendRt;
using detail::Shared;
using detail::ThreadRt;

namespace {

core::TimePoint steady_now() {
  return core::TimePoint(std::chrono::steady_clock::now());
}

// The backend and server indexes of backend/server; unset when unknown.
std::optional<std::pair<size_t, size_t>> find_server(const Shared& sh, std::string_view backend,
                                                     std::string_view server) {
  for (size_t bi = 0; bi < sh.backends.size(); ++bi) {
    const detail::BackendSpec& bs = sh.backends[bi];
    if (bs.cfg->name != backend) continue;
    for (size_t si = 0; si < bs.servers.size(); ++si) {
      if (bs.servers[si].cfg->name == server) return std::pair{bi, si};
    }
  }
  return std::nullopt;
}

void fill_state(ServerSnapshot& out, const detail::BackendSpec& bs, size_t si) {
  detail::PoolServerState st = bs.pool->state(si);
  out.admin =
      st.maint ? ServerAdmin::kMaint : (st.draining ? ServerAdmin::kDrain : ServerAdmin::kReady);
  out.up = st.up;
  out.weight = st.weight;
  out.maxconn = bs.server_maxconn[si].load(std::memory_order_relaxed);
}

}  // namespace

struct Runtime::Impl {
  std::unique_ptr<Shared> shared;
  std::vector<std::unique_ptr<ThreadRt>> threads;
  std::vector<BoundListener> bound;
  bool started = false;
  bool joined = false;
  std::atomic<size_t> threads_left{0};
  std::function<void()> done;
  std::once_flag done_once;

  ~Impl() {
    if (started && !joined) {
      stop_now();
      join();
    }
  }

  void stop_on(ThreadRt& t, bool hard) {
    if (!t.stopping) {
      t.stopping = true;
      // A leaving proxy sleeps at once when idle, whatever its polling or napping (haproxy
      // drops busy-polling in old processes too): its successor wants the cores.
      t.worker.stop_polling();
      for (FrontendRt& fe : t.frontends) {
        for (auto& a : fe.acceptors) {
          std::error_code ignored;
          a->close(ignored);
        }
      }
      t.resume_accept.cancel();
      for (detail::Session* s : detail::sessions_of(t)) detail::soft_stop_session(s);
      auto grace = shared->options.grace.value_or(
          shared->config.global.hard_stop_after.value_or(std::chrono::seconds(30)));
      t.grace.expires_after(grace);
      t.grace.async_wait([this, &t](const std::error_code& ec) {
        if (!ec) stop_on(t, true);
      });
      // Counts as a task so that a thread with no sessions ends too.
      ++t.live_tasks;
      t.task_ended();
    }
    if (hard) {
      for (detail::Session* s : detail::sessions_of(t)) detail::hard_stop_session(s);
    }
  }

  void stop_all(bool hard) {
    for (auto& t : threads) {
      ThreadRt* tp = t.get();
      t->worker.post([this, tp, hard] { stop_on(*tp, hard); });
    }
  }
  void stop_now() { stop_all(true); }

  void join() {
    for (auto& t : threads) t->worker.join();
    joined = true;
  }

  // The queue figures are global: taken from the shared atomics, not summed per thread; so
  // are the servers' states.
  void add_queues(Snapshot& snap) const {
    for (const detail::BackendSpec& bs : shared->backends) {
      auto& servers = snap.proxies[bs.proxy_index].servers;
      if (servers.size() < bs.servers.size()) servers.resize(bs.servers.size());
      for (size_t si = 0; si < bs.servers.size(); ++si) {
        servers[si].name = bs.servers[si].cfg->name;
        fill_state(servers[si], bs, si);
        servers[si].counters.queue_current =
            bs.waiting->server_length[si].load(std::memory_order_relaxed);
        servers[si].counters.queue_max = bs.waiting->server_max[si].load(std::memory_order_relaxed);
      }
      Counters& c = snap.proxies[bs.proxy_index].backend;
      c.queue_current = bs.waiting->length.load(std::memory_order_relaxed);
      c.queue_max = bs.waiting->max.load(std::memory_order_relaxed);
      c.queue_timeouts = bs.waiting->timeouts.load(std::memory_order_relaxed);
    }
  }

  Snapshot collect() const {
    Snapshot snap;
    for (const Proxy& p : shared->config.proxies) snap.proxies.push_back({p.name, {}, {}, {}});
    for (const auto& t : threads) {
      for (const FrontendRt& fe : t->frontends) {
        snap.proxies[fe.spec->proxy_index].frontend.add(fe.counters);
      }
      for (const detail::BackendRt& be : t->backends) {
        ProxySnapshot& ps = snap.proxies[be.spec->proxy_index];
        ps.backend.add(be.counters);
        if (ps.servers.size() < be.servers.size()) {
          for (size_t i = ps.servers.size(); i < be.servers.size(); ++i)
            ps.servers.push_back({be.spec->servers[i].cfg->name, {}});
        }
        for (size_t i = 0; i < be.servers.size(); ++i)
          ps.servers[i].counters.add(be.servers[i].counters);
      }
    }
    add_queues(snap);
    return snap;
  }
};

namespace {

using core::fail;
using core::Result;

std::optional<core::Duration> dur(std::optional<Duration> d) {
  if (!d) return std::nullopt;
  return std::chrono::duration_cast<core::Duration>(*d);
}

Result<std::vector<tcp::endpoint>> resolve(const Address& a, bool passive) {
  std::vector<tcp::endpoint> out;
  if (a.kind != Address::Kind::kIpv4 && a.kind != Address::Kind::kIpv6 &&
      a.kind != Address::Kind::kName) {
    return fail("address " + a.to_string() + ": only IP addresses and host names are served yet");
  }
  std::error_code ec;
  if (a.kind != Address::Kind::kName) {
    std::string host = a.host;
    if (host.empty()) host = a.kind == Address::Kind::kIpv6 ? "::" : "0.0.0.0";
    auto addr = asio::ip::make_address(host, ec);
    if (ec) return fail("address " + a.to_string(), ec);
    for (uint32_t p = a.port_first; p <= std::max(a.port_first, a.port_last); ++p) {
      out.emplace_back(addr, static_cast<uint16_t>(p));
    }
    return out;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(a.host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) {
    return fail("cannot resolve " + a.host + ": " + ::gai_strerror(rc));
  }
  tcp::endpoint ep;
  std::memcpy(ep.data(), res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);
  for (uint32_t p = a.port_first; p <= std::max(a.port_first, a.port_last); ++p) {
    ep.port(static_cast<uint16_t>(p));
    out.push_back(ep);
  }
  return out;
}

uint32_t default_maxconn() {
  // As haproxy: what the file descriptor limit allows, two per connection plus a margin.
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 4096;
  uint64_t n = rl.rlim_cur > 200 ? (rl.rlim_cur - 100) / 2 : 50;
  return static_cast<uint32_t>(std::min<uint64_t>(n, 1u << 20));
}

detail::PoolSpec balance_spec(const Proxy& p) {
  // Config and balancer enums list the algorithms in the same order; the balancer's hash
  // functions start with kDefault.
  detail::PoolSpec b;
  b.algorithm = static_cast<uint8_t>(p.balance.algorithm);
  b.consistent = p.hash_type.method == HashType::Method::kConsistent;
  b.all_backups = p.all_backups;
  b.hash_function = static_cast<uint8_t>(static_cast<uint8_t>(p.hash_type.function) + 1);
  b.avalanche = p.hash_type.avalanche;
  b.hdr_name = p.balance.hdr_name;
  b.hdr_use_domain_only = p.balance.use_domain_only;
  b.uri_whole = p.balance.uri_whole;
  b.uri_len = p.balance.uri_len;
  b.uri_depth = p.balance.uri_depth;
  b.uri_path_only = p.balance.uri_path_only;
  b.random_draws = p.balance.random_draws;
  return b;
}

http1::ForwardFor forwardfor_of(const Proxy& p) {
  http1::ForwardFor f;
  f.header = p.forwardfor.header;
  f.if_none = p.forwardfor.if_none;
  if (!p.forwardfor.except.empty()) f.except = http1::Network::parse(p.forwardfor.except);
  return f;
}

// `bind unix@PATH` / `abns@NAME`: one stream socket that every thread accepts from (unix
// sockets have no SO_REUSEPORT). A path is bound under a temporary name, given its mode and
// owner, and renamed over the old one, so that a restart or a reload never leaves a moment
// without a socket there, as haproxy does. An abstract name fills the whole sun_path,
// padded with zeros, also as haproxy (a client must connect to the same padded name).
Result<int> open_unix_listener(const Bind& b, uint32_t backlog) {
  const bool abstract = b.address.kind == Address::Kind::kAbns;
  const std::string& name = b.address.host;
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (name.size() + 1 > sizeof sun.sun_path) {
    return fail(fmt::format("{}: longer than the {} bytes a unix socket address holds",
                            b.address.to_string(), sizeof sun.sun_path - 1));
  }
  std::string tmp;
  socklen_t len = sizeof sun;
  if (abstract) {
    std::memcpy(sun.sun_path + 1, name.data(), name.size());
  } else {
    tmp = fmt::format("{}.{}.tmp", name, ::getpid());
    if (tmp.size() + 1 > sizeof sun.sun_path) tmp.clear();  // no room: bind the path itself
    const std::string& at = tmp.empty() ? name : tmp;
    struct stat st {};
    if (::lstat(at.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(at.c_str());
    std::memcpy(sun.sun_path, at.data(), at.size());
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + at.size() + 1);
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return core::fail_errno("socket for " + b.address.to_string(), errno);
  auto failed = [&](const std::string& what) -> Result<int> {
    const int err = errno;
    ::close(fd);
    if (!tmp.empty()) ::unlink(tmp.c_str());
    return core::fail_errno(what + " " + b.address.to_string(), err);
  };
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sun), len) != 0) return failed("cannot bind");
  if (!abstract) {
    const std::string& at = tmp.empty() ? name : tmp;
    if (b.mode && ::chmod(at.c_str(), static_cast<mode_t>(*b.mode)) != 0) return failed("chmod");
    if ((b.uid || b.gid) &&
        ::chown(at.c_str(), b.uid ? static_cast<uid_t>(*b.uid) : static_cast<uid_t>(-1),
                b.gid ? static_cast<gid_t>(*b.gid) : static_cast<gid_t>(-1)) != 0)
      return failed("chown");
  }
  if (::listen(fd, static_cast<int>(backlog)) != 0) return failed("listen on");
  if (!tmp.empty() && ::rename(tmp.c_str(), name.c_str()) != 0) return failed("rename to");
  return fd;
}

Result<void> open_listener(tcp::acceptor& acc, const tcp::endpoint& ep, const Bind& b,
                           uint32_t backlog) {
  std::error_code ec;
  acc.open(ep.protocol(), ec);
  if (ec) return fail("socket for " + b.address.to_string(), ec);
  acc.set_option(tcp::acceptor::reuse_address(true), ec);
  int one = 1;
  if (::setsockopt(acc.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return core::fail_errno("SO_REUSEPORT on " + b.address.to_string(), errno);
  }
  if (ep.protocol() == tcp::v6() && b.v6only) {
    acc.set_option(asio::ip::v6_only(*b.v6only), ec);
  }
  acc.bind(ep, ec);
  if (ec) {
    return fail(fmt::format("cannot bind {}:{}", ep.address().to_string(), ep.port()), ec);
  }
  acc.listen(static_cast<int>(backlog), ec);
  if (ec) return fail("listen on " + b.address.to_string(), ec);
  return {};
}

// `option tcp-smart-accept`, by default in HTTP mode only, as haproxy: the listener leaves
// quick-ack mode, which its accepted connections inherit, so the ACK of a client's request
// waits for the response and goes with it instead of costing a packet of its own (a new
// connection otherwise starts by acknowledging at once). In TCP mode nothing says an answer
// follows the client's bytes: the listener stays in quick-ack mode.
void set_listener_quickack(int fd, const Proxy& fe) {
  const int on = fe.tcp_smart_accept.value_or(fe.mode == Mode::kHttp) ? 0 : 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
}

// Connections taken in a row before other work of the thread gets a turn (haproxy's
// tune.maxaccept is 64).
constexpr int kAcceptBurst = 64;

// accept4(2) by hand: the new descriptor comes non-blocking with the client's address, where
// asio's accept costs an ioctl(FIONBIO) and a getpeername(2) more per connection. The
// listener is waited on only when its queue is empty, and several threads may share it.
// `listener_id`: the listener's number in its frontend (from 1), what haproxy logs as the
// port of a unix socket client ("unix:1").
asio::awaitable<void> accept_loop(ThreadRt& t, FrontendRt& fe, tcp::acceptor& acc,
                                  uint16_t listener_id) {
  Shared& sh = t.shared;
  const size_t fi = static_cast<size_t>(fe.spec - sh.frontends.data());
  std::error_code ec;
  acc.native_non_blocking(true, ec);
  int burst = 0;
  while (!t.stopping && acc.is_open()) {
    if (t.over_limit(fe)) {
      // Paused: the kernel's backlog holds new clients until a slot frees up.
      t.paused = true;
      t.resume_accept.expires_after(std::chrono::milliseconds(50));
      co_await t.resume_accept.async_wait(detail::kNothrow);
      t.paused = false;
      continue;
    }
    if (burst >= kAcceptBurst) {
      burst = 0;
      co_await asio::post(t.worker.io(), asio::use_awaitable);
      continue;
    }
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    const int fd = ::accept4(acc.native_handle(), reinterpret_cast<sockaddr*>(&peer), &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      burst = 0;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        std::tie(ec) = co_await acc.async_wait(tcp::acceptor::wait_read, detail::kNothrow);
        if (ec && (t.stopping || ec == asio::error::operation_aborted)) break;
        continue;
      }
      // A client that left while queued, or a signal: take the next one.
      if (err == ECONNABORTED || err == EINTR || err == EPROTO) continue;
      if (t.stopping) break;
      core::log_limited(t.accept_errors, t.worker.clock().now(), spdlog::level::warn,
                        "frontend {}: accept failed: {}", fe.spec->cfg->name,
                        std::error_code(err, std::generic_category()).message());
      // EMFILE and friends: give sessions time to end rather than spin.
      asio::steady_timer wait(t.worker.io());
      wait.expires_after(std::chrono::milliseconds(100));
      co_await wait.async_wait(detail::kNothrow);
      continue;
    }
    ++burst;
    tcp::endpoint ep;
    uint16_t unix_id = 0;
    if (peer.ss_family == AF_UNIX) {
      unix_id = listener_id;
    } else if (len <= sizeof(sockaddr_storage) && len <= ep.capacity()) {
      std::memcpy(ep.data(), &peer, len);
      ep.resize(len);
    }
    sh.global_conns.fetch_add(1, std::memory_order_relaxed);
    sh.frontend_conns[fi].fetch_add(1, std::memory_order_relaxed);
    detail::start_session(t, fe, fd, ep, unix_id);
  }
  t.task_ended();
}

}  // namespace

Result<std::unique_ptr<Runtime>> Runtime::create(const Config& config, RuntimeOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->shared = std::make_unique<Shared>();
  Shared& sh = *impl->shared;
  sh.config = config;
  sh.options = std::move(options);
  const Config& cfg = sh.config;
  sh.global_maxconn = cfg.global.maxconn.value_or(default_maxconn());
  sh.bufsize = std::max<uint32_t>(cfg.global.tune_bufsize, 1024);
  if (cfg.global.nosplice) sh.options.splice = false;

  // Rules: handed over compiled (tandem-lb compiles them once for -c and the run), or
  // compiled here.
  sh.rules = sh.options.rules;
  if (sh.rules.empty()) {
    core::Diagnostics diags;
    sh.rules.resize(cfg.proxies.size());
    for (size_t i = 0; i < cfg.proxies.size(); ++i)
      sh.rules[i] = std::make_shared<ProxyRules>(ProxyRules::compile(cfg.proxies[i], diags));
    if (diags.has_errors()) return fail("rules: " + diags.to_string());
  }
  if (sh.rules.size() != cfg.proxies.size()) {
    return fail(
        fmt::format("{} compiled rule sets for {} proxies", sh.rules.size(), cfg.proxies.size()));
  }
  for (size_t i = 0; i < cfg.proxies.size(); ++i) {
    const Proxy& p = cfg.proxies[i];
    if (p.stats.enabled && p.is_frontend() && !sh.options.stats_page) {
      return fail(fmt::format("{} {}: the stats page is not available (nothing serves it)",
                              to_string(p.kind), p.name));
    }
    for (const auto* list : {&p.http_request, &p.http_response}) {
      for (const HttpRule& r : *list) {
        if (r.action == HttpRule::Action::kUseService && !sh.options.service) {
          return fail(
              fmt::format("{}: {} {}: use-service {} is not available in this build (no service is "
                          "plugged into the proxy)",
                          r.where.to_string(), to_string(p.kind), p.name, r.service));
        }
      }
    }
  }
  // errorfile: read once; each must be a whole response that fits a buffer, as haproxy.
  sh.error_pages.resize(cfg.proxies.size());
  for (size_t i = 0; i < cfg.proxies.size(); ++i) {
    const Proxy& p = cfg.proxies[i];
    for (const auto& [code, path] : p.errorfiles) {
      auto w = p.errorfile_where.find(code);
      std::string where = w != p.errorfile_where.end() ? w->second.to_string() + ": " : "";
      std::ifstream in(path, std::ios::binary);
      if (!in) return fail(fmt::format("{}errorfile {} '{}': cannot read it", where, code, path));
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (in.bad()) return fail(fmt::format("{}errorfile {} '{}': read error", where, code, path));
      if (bytes.size() > sh.bufsize) {
        return fail(fmt::format("{}errorfile {} '{}' is {} bytes, more than tune.bufsize ({})",
                                where, code, path, bytes.size(), sh.bufsize));
      }
      if (!bytes.starts_with("HTTP/1.")) {
        return fail(fmt::format("{}errorfile {} '{}' does not start with a status line", where,
                                code, path));
      }
      sh.error_pages[i][code] = std::move(bytes);
    }
  }

  sh.backend_of_proxy.assign(cfg.proxies.size(), -1);
  sh.frontend_of_proxy.assign(cfg.proxies.size(), -1);
  for (size_t i = 0; i < cfg.proxies.size(); ++i) {
    const Proxy& p = cfg.proxies[i];
    if (!p.is_backend()) continue;
    detail::BackendSpec bs;
    bs.cfg = &p;
    bs.proxy_index = i;
    bs.balance = balance_spec(p);
    bs.connect = dur(p.timeouts.connect);
    bs.server = dur(p.timeouts.server);
    bs.queue = dur(p.timeouts.queue);
    bs.tunnel = dur(p.timeouts.tunnel);
    bs.forwardfor = forwardfor_of(p);
    bs.forwardfor_enabled = p.forwardfor.enabled;
    bs.queue_timeout = bs.queue ? bs.queue : bs.connect;
    bs.server_conns = std::make_unique<std::atomic<uint32_t>[]>(p.servers.size());
    bs.conns = std::make_unique<std::atomic<uint32_t>>(0);
    bs.waiting = std::make_unique<detail::BackendQueue>();
    for (const Server& s : p.servers) bs.waiting->limit += s.params.maxqueue;
    for (const Server& s : p.servers) {
      if (s.params.maxqueue == 0) bs.waiting->limit = 0;  // one unbounded server: no limit
    }
    for (const Server& s : p.servers) {
      auto eps = resolve(s.address, false);
      if (!eps)
        return fail("backend " + p.name + " server " + s.name + ": " + eps.error().to_string());
      bs.servers.push_back({&s, eps->front()});
    }
    bs.server_maxconn = std::make_unique<std::atomic<uint32_t>[]>(p.servers.size());
    std::vector<detail::PoolServer> pool_servers;
    for (size_t si = 0; si < p.servers.size(); ++si) {
      const ServerParams& sp = p.servers[si].params;
      bs.server_maxconn[si].store(sp.maxconn, std::memory_order_relaxed);
      pool_servers.push_back({p.servers[si].name, sp.weight, sp.backup, sp.disabled, sp.maxconn});
    }
    detail::BackendQueue& q = *bs.waiting;
    q.server_waiters.resize(p.servers.size());
    q.server_length = std::make_unique<std::atomic<uint32_t>[]>(p.servers.size());
    q.server_max = std::make_unique<std::atomic<uint32_t>[]>(p.servers.size());
    for (const Server& s : p.servers) q.server_limit.push_back(s.params.maxqueue);
    bs.pool = std::make_unique<detail::Pool>(bs.balance, pool_servers, 0x9e3779b97f4a7c15ULL,
                                             core::TimePoint(std::chrono::steady_clock::now()),
                                             bs.server_conns.get(), q.server_length.get());
    sh.backend_of_proxy[i] = static_cast<int>(sh.backends.size());
    sh.backends.push_back(std::move(bs));
  }
  for (size_t i = 0; i < cfg.proxies.size(); ++i) {
    const Proxy& p = cfg.proxies[i];
    if (!p.is_frontend() || p.binds.empty()) continue;
    detail::FrontendSpec fs;
    fs.cfg = &p;
    fs.proxy_index = i;
    auto backend_index = [&](std::string_view name) {
      const Proxy* b = cfg.find_backend(name);
      if (b == nullptr) return -1;
      return sh.backend_of_proxy[static_cast<size_t>(b - cfg.proxies.data())];
    };
    if (!p.default_backend.empty()) {
      fs.default_backend = backend_index(p.default_backend);
    } else if (p.kind == Proxy::Kind::kListen) {
      fs.default_backend = sh.backend_of_proxy[i];
    }
    for (const BackendRule& r : p.use_backends)
      fs.rule_backends.push_back(backend_index(r.backend));
    fs.client = dur(p.timeouts.client);
    fs.http_request = dur(p.timeouts.http_request);
    if (!fs.http_request) fs.http_request = fs.client;
    fs.http_keep_alive = dur(p.timeouts.http_keep_alive);
    fs.tunnel = dur(p.timeouts.tunnel);
    fs.limits.max_headers = cfg.global.tune_http_maxhdr;
    fs.limits.max_head_size = sh.bufsize > 2048 ? sh.bufsize - 1024 : sh.bufsize / 2;
    fs.forwardfor = forwardfor_of(p);
    fs.forwardfor_enabled = p.forwardfor.enabled;
    fs.maxconn = p.maxconn;
    if (sh.options.traffic_logs) {
      fs.log_targets = logfmt::log_targets(cfg.global, p);
      fs.line_format = logfmt::line_format(p);
    }
    sh.frontend_of_proxy[i] = static_cast<int>(sh.frontends.size());
    sh.frontends.push_back(std::move(fs));
  }
  sh.frontend_conns = std::make_unique<std::atomic<uint32_t>[]>(sh.frontends.size());

  uint32_t n = sh.options.threads;
  if (n == 0) n = cfg.global.nbthread.value_or(std::max(1u, std::thread::hardware_concurrency()));
  for (uint32_t ti = 0; ti < n; ++ti) {
    auto t = std::make_unique<ThreadRt>(sh, ti);
    t->backends.reserve(sh.backends.size());
    for (const detail::BackendSpec& bs : sh.backends) {
      detail::BackendRt be;
      be.spec = &bs;
      be.servers.resize(bs.servers.size());
      be.pool = bs.pool.get();
      t->backends.push_back(std::move(be));
    }
    t->frontends.reserve(sh.frontends.size());
    for (const detail::FrontendSpec& fs : sh.frontends) {
      FrontendRt fe;
      fe.spec = &fs;
      if (!fs.log_targets.empty()) {
        // One logger per thread: its sockets are this thread's, sending never waits.
        fe.logger = std::make_unique<logfmt::Logger>(std::string(logfmt::kDefaultTag), ::getpid());
        for (const LogTarget& lt : fs.log_targets) {
          auto d = logfmt::make_destination(lt);
          if (!d) {
            return fail(fmt::format("{}: frontend {}: log target: {}", lt.where.to_string(),
                                    fs.cfg->name, d.error().to_string()));
          }
          fe.logger->add(std::move(*d));
        }
      }
      t->frontends.push_back(std::move(fe));
    }
    impl->threads.push_back(std::move(t));
  }

  // Listeners: thread 0 binds first, so a port 0 becomes a real port the others then share.
  for (size_t fi = 0; fi < sh.frontends.size(); ++fi) {
    const detail::FrontendSpec& fs = sh.frontends[fi];
    size_t bind_index = 0;
    for (const Bind& b : fs.cfg->binds) {
      std::vector<tcp::endpoint> eps;
      int inherited = -1;
      int unix_fd = -1;  // ours: closed once every thread has its copy
      if (b.address.kind == Address::Kind::kUnix || b.address.kind == Address::Kind::kAbns) {
        uint32_t backlog = b.backlog.value_or(
            std::min<uint32_t>(fs.maxconn ? fs.maxconn : sh.global_maxconn, 65535));
        auto fd = open_unix_listener(b, backlog);
        if (!fd) return fail("frontend " + fs.cfg->name + ": " + fd.error().to_string());
        unix_fd = *fd;
        inherited = unix_fd;
        eps.emplace_back();  // the acceptors' protocol only: the address is not IP
      } else if (b.address.kind == Address::Kind::kFd) {
        // fd@N: a listening socket handed over (the master, tests, systemd): every thread
        // takes a copy and they share its one accept queue, so nothing queued there is lost
        // when an old worker leaves (separate SO_REUSEPORT sockets would each hold a queue).
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        if (::getsockname(b.address.fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
          return core::fail_errno(
              "frontend " + fs.cfg->name + ": fd@" + std::to_string(b.address.fd), errno);
        }
        tcp::endpoint ep;
        std::memcpy(ep.data(), &ss, len);
        eps.push_back(ep);
        inherited = b.address.fd;
      } else {
        auto r = resolve(b.address, true);
        if (!r) return fail("frontend " + fs.cfg->name + ": " + r.error().to_string());
        eps = std::move(*r);
      }
      for (tcp::endpoint ep : eps) {
        uint32_t backlog = b.backlog.value_or(
            std::min<uint32_t>(fs.maxconn ? fs.maxconn : sh.global_maxconn, 65535));
        for (auto& t : impl->threads) {
          auto acc = std::make_unique<tcp::acceptor>(t->worker.io());
          if (inherited >= 0) {
            std::error_code ec;
            int fd = ::dup(inherited);
            acc->assign(ep.protocol(), fd, ec);
            if (fd < 0 || ec) {
              if (fd >= 0) ::close(fd);
              if (unix_fd >= 0) ::close(unix_fd);
              return fail("frontend " + fs.cfg->name + ": cannot take over fd@" +
                          std::to_string(inherited));
            }
          } else if (auto ok = open_listener(*acc, ep, b, backlog); !ok) {
            return fail("frontend " + fs.cfg->name + ": " + ok.error().to_string());
          }
          if (unix_fd < 0) set_listener_quickack(acc->native_handle(), *fs.cfg);
          if (unix_fd < 0 && ep.port() == 0) ep.port(acc->local_endpoint().port());
          t->frontends[fi].acceptors.push_back(std::move(acc));
        }
        if (unix_fd >= 0) {
          ::close(unix_fd);
          impl->bound.push_back({fs.cfg->name, bind_index, b.address.to_string(), 0});
        } else {
          impl->bound.push_back({fs.cfg->name, bind_index, ep.address().to_string(), ep.port()});
        }
        ++bind_index;
      }
    }
  }
  return std::unique_ptr<Runtime>(new Runtime(std::move(impl)));
}

Runtime::Runtime(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Runtime::~Runtime() = default;

void Runtime::start() {
  Impl& im = *impl_;
  if (im.started) return;
  im.started = true;
  // splice() into a socket the peer has closed raises SIGPIPE (no MSG_NOSIGNAL there), as
  // haproxy knows: it ignores the signal too.
  if (im.shared->options.splice) ::signal(SIGPIPE, SIG_IGN);
  im.threads_left = im.threads.size();
  for (auto& t : im.threads) {
    ThreadRt* tp = t.get();
    tp->on_finished = [&im] {
      if (im.threads_left.fetch_sub(1) == 1) {
        std::call_once(im.done_once, [&im] {
          if (im.done) im.done();
        });
      }
    };
    for (FrontendRt& fe : tp->frontends) {
      for (size_t i = 0; i < fe.acceptors.size(); ++i) {
        ++tp->live_tasks;
        asio::co_spawn(tp->worker.io(),
                       accept_loop(*tp, fe, *fe.acceptors[i], static_cast<uint16_t>(i + 1)),
                       asio::detached);
      }
    }
    // Time-outs and log timings take the time of the loop's turn, as haproxy's now_ms:
    // about 17 clock reads a keep-alive request become the turn's one.
    tp->worker.cache_time_per_turn();
    // A saturated proxy thread naps a moment on a timer before it sleeps rather than being
    // woken for each next event (core/idle_poll.h); `busy-polling`: it never sleeps but
    // polls, as haproxy; `no busy-polling`: it sleeps at once.
    const std::optional<bool> busy = im.shared->config.global.busy_polling;
    tp->worker.poll_before_sleep(!busy   ? core::IdlePoll::Mode::kAdaptive
                                 : *busy ? core::IdlePoll::Mode::kAlways
                                         : core::IdlePoll::Mode::kOff);
    tp->worker.start_thread();
  }
  core::logger().info("proxy started: {} thread(s), {} listener(s), maxconn {}", im.threads.size(),
                      im.bound.size(), im.shared->global_maxconn);
}

std::vector<BoundListener> Runtime::listeners() const {
  return impl_->bound;
}

uint16_t Runtime::port_of(std::string_view frontend, size_t bind_index) const {
  for (const BoundListener& b : impl_->bound) {
    if (b.frontend == frontend && b.bind_index == bind_index) return b.port;
  }
  return 0;
}

void Runtime::stop_gracefully(std::function<void()> done) {
  impl_->done = std::move(done);
  if (!impl_->started) {
    if (impl_->done) impl_->done();
    return;
  }
  impl_->stop_all(false);
}

void Runtime::stop_now() {
  if (impl_->started) impl_->stop_now();
}

void Runtime::join() {
  if (impl_->started) impl_->join();
}

bool Runtime::set_server_up(std::string_view backend, std::string_view server, bool up) {
  auto at = find_server(*impl_->shared, backend, server);
  if (!at) return false;
  core::logger().info("server {}/{} is {}", backend, server, up ? "UP" : "DOWN");
  impl_->shared->backends[at->first].pool->set_up(at->second, up, steady_now());
  return true;
}

bool Runtime::set_server_admin(std::string_view backend, std::string_view server,
                               ServerAdmin admin) {
  auto at = find_server(*impl_->shared, backend, server);
  if (!at) return false;
  static constexpr std::string_view kNames[] = {"READY", "DRAIN", "MAINT"};
  core::logger().info("server {}/{} is now in {} mode", backend, server,
                      kNames[static_cast<size_t>(admin)]);
  impl_->shared->backends[at->first].pool->set_admin(at->second, admin == ServerAdmin::kDrain,
                                                     admin == ServerAdmin::kMaint, steady_now());
  return true;
}

bool Runtime::set_server_weight(std::string_view backend, std::string_view server,
                                uint32_t weight) {
  auto at = find_server(*impl_->shared, backend, server);
  if (!at || weight > 256) return false;
  impl_->shared->backends[at->first].pool->set_weight(at->second, weight, steady_now());
  return true;
}

bool Runtime::set_server_maxconn(std::string_view backend, std::string_view server,
                                 uint32_t maxconn) {
  auto at = find_server(*impl_->shared, backend, server);
  if (!at) return false;
  const detail::BackendSpec& bs = impl_->shared->backends[at->first];
  bs.server_maxconn[at->second].store(maxconn, std::memory_order_relaxed);
  bs.pool->set_maxconn(at->second, maxconn, steady_now());
  return true;
}

bool Runtime::shutdown_server_sessions(std::string_view backend, std::string_view server) {
  auto at = find_server(*impl_->shared, backend, server);
  if (!at) return false;
  if (!impl_->started || impl_->joined) return true;
  const auto [bi, si] = *at;
  for (auto& t : impl_->threads) {
    ThreadRt* tp = t.get();
    tp->worker.post([tp, bi, si] {
      std::vector<detail::Session*> victims;
      for (detail::Session* s : detail::sessions_of(*tp)) {
        if (detail::session_uses_server(s, bi, si)) victims.push_back(s);
      }
      for (detail::Session* s : victims) detail::hard_stop_session(s);
      auto& idle = tp->backends[bi].servers[si].idle;
      for (auto& c : idle) {
        std::error_code ignored;
        c.socket.close(ignored);
      }
      idle.clear();
    });
  }
  return true;
}

std::optional<ServerSnapshot> Runtime::server_state(std::string_view backend,
                                                    std::string_view server) const {
  auto at = find_server(*impl_->shared, backend, server);
  if (!at) return std::nullopt;
  ServerSnapshot out;
  out.name = std::string(server);
  fill_state(out, impl_->shared->backends[at->first], at->second);
  return out;
}

uint32_t Runtime::maxconn() const {
  return impl_->shared->global_maxconn;
}

uint32_t Runtime::thread_count() const {
  return static_cast<uint32_t>(impl_->threads.size());
}

Snapshot Runtime::snapshot() {
  Impl& im = *impl_;
  if (!im.started || im.joined) return im.collect();
  // Each thread copies its own counters on its own loop: no locks, no torn reads.
  Snapshot total;
  for (const Proxy& p : im.shared->config.proxies) total.proxies.push_back({p.name, {}, {}, {}});
  for (auto& t : im.threads) {
    // Shared with the posted copy: a loop that never runs it must not leave it dangling.
    struct Part {
      std::promise<void> ready;
      Snapshot snap;
    };
    auto part = std::make_shared<Part>();
    part->snap.proxies.resize(total.proxies.size());
    auto f = part->ready.get_future();
    ThreadRt* tp = t.get();
    tp->worker.post([part, tp] {
      for (const FrontendRt& fe : tp->frontends)
        part->snap.proxies[fe.spec->proxy_index].frontend.add(fe.counters);
      for (const detail::BackendRt& be : tp->backends) {
        ProxySnapshot& ps = part->snap.proxies[be.spec->proxy_index];
        ps.backend.add(be.counters);
        ps.servers.resize(be.servers.size());
        for (size_t i = 0; i < be.servers.size(); ++i) {
          ps.servers[i].name = be.spec->servers[i].cfg->name;
          ps.servers[i].counters.add(be.servers[i].counters);
        }
      }
      part->ready.set_value();
    });
    if (f.wait_for(std::chrono::seconds(2)) != std::future_status::ready) continue;
    for (size_t i = 0; i < total.proxies.size(); ++i) {
      const ProxySnapshot& pp = part->snap.proxies[i];
      total.proxies[i].frontend.add(pp.frontend);
      total.proxies[i].backend.add(pp.backend);
      auto& ts = total.proxies[i].servers;
      if (ts.size() < pp.servers.size()) ts.resize(pp.servers.size());
      for (size_t s = 0; s < pp.servers.size(); ++s) {
        ts[s].name = pp.servers[s].name;
        ts[s].counters.add(pp.servers[s].counters);
      }
    }
  }
  im.add_queues(total);
  return total;
}

}  // namespace tandem::lb::proxy
