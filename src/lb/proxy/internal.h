// Inside the proxy run-time: the per-thread state (frontends, backends, servers, counters)
// shared by the listener code (proxy.cc) and the sessions (session.cc).
#pragma once

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/clock.h"
#include "core/log.h"
#include "core/worker.h"
#include "lb/proxy/pool.h"
#include "lb/proxy/proxy.h"

namespace tandem::lb::proxy::detail {

using tcp = asio::ip::tcp;
// Every asynchronous operation answers (error_code, ...) instead of throwing.
inline constexpr auto kNothrow = asio::experimental::as_tuple(asio::use_awaitable);

// Config facts resolved once, shared read-only by every thread.
struct ServerSpec {
  const Server* cfg = nullptr;
  tcp::endpoint endpoint;  // port 0: the port the client connected to
};
struct BackendSpec {
  const Proxy* cfg = nullptr;
  size_t proxy_index = 0;
  std::vector<ServerSpec> servers;
  PoolSpec balance;
  std::optional<core::Duration> connect, server, queue, tunnel;
  http1::ForwardFor forwardfor;
  bool forwardfor_enabled = false;
};
struct FrontendSpec {
  const Proxy* cfg = nullptr;
  size_t proxy_index = 0;
  int default_backend = -1;        // index into Shared::backends
  std::vector<int> rule_backends;  // per use_backend rule
  std::optional<core::Duration> client, http_request, http_keep_alive, tunnel;
  http1::Limits limits;
  http1::ForwardFor forwardfor;
  bool forwardfor_enabled = false;
  uint32_t maxconn = 0;
};

// What every thread reads; counts that must be global (maxconn) are atomics here.
struct Shared {
  Config config;
  RuntimeOptions options;
  std::vector<BackendSpec> backends;
  std::vector<FrontendSpec> frontends;
  std::vector<int> backend_of_proxy;   // proxy index -> backends index, or -1
  std::vector<int> frontend_of_proxy;  // proxy index -> frontends index, or -1
  uint32_t global_maxconn = 0;
  uint32_t bufsize = 16384;
  std::atomic<uint32_t> global_conns{0};
  std::unique_ptr<std::atomic<uint32_t>[]> frontend_conns;
  std::atomic<bool> warned_condition{false};
};

// An idle server connection kept for reuse (http-reuse safe/aggressive/always).
struct IdleConn {
  tcp::socket socket;
  core::TimePoint since;
};
inline constexpr size_t kMaxIdlePerServer = 256;  // per thread

struct ServerRt {
  Counters counters;
  bool failing = false;        // last connect failed: logged once per change
  std::vector<IdleConn> idle;  // newest last
  uint64_t reused = 0;
};
struct BackendRt {
  const BackendSpec* spec = nullptr;
  std::unique_ptr<Pool> pool;  // connection counts are this thread's only (notes in proxy.cc)
  std::vector<ServerRt> servers;
  Counters counters;
};

class Session;
struct ThreadRt;

struct FrontendRt {
  const FrontendSpec* spec = nullptr;
  Counters counters;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;  // one per bind
};

// One worker's world. The worker is declared first so that it is destroyed last: every asio
// object below must go before its io_context.
struct ThreadRt {
  ThreadRt(Shared& s, size_t index);

  core::Worker worker;
  Shared& shared;
  size_t index;
  std::vector<FrontendRt> frontends;
  std::vector<BackendRt> backends;
  std::unordered_set<Session*> sessions;
  asio::steady_timer resume_accept;  // a paused acceptor waits on it
  asio::steady_timer grace;
  size_t live_tasks = 0;  // acceptor loops and sessions; the loop stops at 0 when stopping
  bool paused = false;
  bool stopping = false;
  bool finished = false;
  std::function<void()> on_finished;  // set by the Runtime: counts threads that ended
  core::RateLimiter accept_errors{std::chrono::seconds(5), 3};
  core::RateLimiter conn_errors{std::chrono::seconds(5), 10};

  void task_ended();     // a session or acceptor loop ended
  void session_ended();  // frees a connection slot: wakes a paused acceptor
  bool over_limit(const FrontendRt& fe) const;
};

// Starts a session for an accepted client on this thread.
void start_session(ThreadRt& t, FrontendRt& fe, tcp::socket client);
void soft_stop_session(Session* s);
void hard_stop_session(Session* s);

std::string endpoint_ip(const tcp::endpoint& ep);

}  // namespace tandem::lb::proxy::detail
