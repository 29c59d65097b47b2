// Inside the proxy run-time: the per-thread state (frontends, backends, servers, counters)
// shared by the listener code (proxy.cc) and the sessions (session.cc).
#pragma once

#include <algorithm>
#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/log.h"
#include "core/worker.h"
#include "lb/log_sink.h"
#include "lb/proxy/pool.h"
#include "lb/proxy/proxy.h"

namespace tandem::lb::proxy::detail {

using tcp = asio::ip::tcp;
// Sockets bound to their thread's io_context: smaller than asio's default (type-erased
// executor) by 48 bytes, and no indirect calls to reach the executor.
using Socket = asio::basic_stream_socket<tcp, asio::io_context::executor_type>;
// Every asynchronous operation answers (error_code, ...) instead of throwing.
inline constexpr auto kNothrow = asio::experimental::as_tuple(asio::use_awaitable);

class Session;
struct ThreadRt;

// A request waiting for a server slot of a backend. The queues (below) are shared by every
// thread; a waiter is touched by its own thread only, except for being moved out of a queue.
struct Waiter {
  ThreadRt* thread = nullptr;      // the waiter's loop: grants are posted there
  std::weak_ptr<Session> session;  // gone: a grant is handed on to the next waiter
  int server = -1;                 // waits for this server only (a hashed request); -1: any
  uint64_t seq = 0;                // arrival order across the backend's queues
  int granted = -1;                // the server whose slot it was given (owner thread)
  bool abandoned = false;          // the session gave up (owner thread)
};

// The FIFOs of one backend, as haproxy's: one for requests any server may take, and one per
// server for requests whose key belongs to that server (hashing) when it is full. A freed
// slot goes to the older of the server's head and the backend's head. The lock is taken
// only when queuing or when a slot frees with someone waiting; the lengths are read without.
struct BackendQueue {
  std::mutex mu;
  std::deque<std::shared_ptr<Waiter>> waiters;
  std::atomic<uint32_t> length{0};
  std::atomic<uint32_t> max{0};
  std::atomic<uint64_t> timeouts{0};
  uint32_t limit = 0;     // 0: unbounded; else the sum of the servers' maxqueue
  uint64_t next_seq = 0;  // under mu
  // By server: its own FIFO, length, most at once and maxqueue (0: unbounded).
  std::vector<std::deque<std::shared_ptr<Waiter>>> server_waiters;
  std::unique_ptr<std::atomic<uint32_t>[]> server_length;
  std::unique_ptr<std::atomic<uint32_t>[]> server_max;
  std::vector<uint32_t> server_limit;
};

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
  // Global across threads: connections held per server (maxconn, leastconn) and in all.
  std::unique_ptr<std::atomic<uint32_t>[]> server_conns;
  std::unique_ptr<std::atomic<uint32_t>> conns;
  std::unique_ptr<BackendQueue> waiting;
  std::optional<core::Duration> queue_timeout;  // timeout queue, else timeout connect
  // The balancer and server states, one for every thread: the rotation is global.
  std::unique_ptr<Pool> pool;
  // Per server: `maxconn` now (the config's, or the runtime API's), 0: no limit.
  std::unique_ptr<std::atomic<uint32_t>[]> server_maxconn;
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
  logfmt::LineFormat line_format = logfmt::LineFormat::kConnect;
  std::vector<LogTarget> log_targets;  // empty: nothing is formatted
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
  // By proxy index: compiled rules (null: none) and errorfile contents.
  std::vector<std::shared_ptr<const ProxyRules>> rules;
  std::vector<std::map<uint16_t, std::string>> error_pages;
};

// An idle server connection kept for reuse (http-reuse safe/aggressive/always).
struct IdleConn {
  Socket socket;
  core::TimePoint since;
};
inline constexpr size_t kMaxIdlePerServer = 256;  // per thread

struct ServerRt {
  Counters counters;
  bool failing = false;        // last connect failed: logged once per change
  std::vector<IdleConn> idle;  // newest last
  // haproxy's estimate of the connections a server needs, per thread here: the most in use
  // at once since the last purge (max_used), and est_need, which follows it up at once and
  // down by halves. An idle connection is kept while in use + idle stays within it.
  uint64_t max_used = 0;
  uint64_t est_need = 0;
  core::TimePoint next_purge{};  // its pool-purge-delay after the last purge
};
struct BackendRt {
  const BackendSpec* spec = nullptr;
  Pool* pool = nullptr;  // BackendSpec's, shared
  std::vector<ServerRt> servers;
  Counters counters;
};

struct FrontendRt {
  const FrontendSpec* spec = nullptr;
  Counters counters;
  std::unique_ptr<logfmt::Logger> logger;  // this thread's senders; null: no log target
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;  // one per bind
};

// The I/O buffers (tune.bufsize bytes) of one thread's sessions. A session takes one when
// bytes are to be read and gives it back when it has nothing buffered and waits (a server
// side after each response, an idle client), so idle connections hold none. Each buffer is
// its own mapping, not heap memory: a burst of busy connections leaves no holes in the heap
// that the long-lived objects of idle ones would keep from being returned. Buffers given
// back are kept; trim() (every kBufferTrimPeriod while there are more than kKeep) returns those
// that stayed unused for a whole period, so a steady load never maps and unmaps, and what a burst
// left goes back to the kernel within two periods.
inline constexpr core::Duration kBufferTrimPeriod = std::chrono::milliseconds(250);

class BufferPool {
 public:
  static constexpr size_t kKeep = 64;

  BufferPool() = default;
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  ~BufferPool() {
    for (char* p : free_) unmap(p, size_);
  }
  char* get(size_t size) {
    if (size != size_) {  // first use (every buffer of a runtime has the same size)
      for (char* p : free_) unmap(p, size_);
      free_.clear();
      size_ = size;
      low_ = 0;
    }
    if (free_.empty()) {
      low_ = 0;
      return map(size);
    }
    char* p = free_.back();
    free_.pop_back();
    low_ = std::min(low_, free_.size());
    return p;
  }
  void put(char* p) {
    free_.push_back(p);
    if (free_.size() > kKeep && on_excess) on_excess();
  }
  // Unmaps the free buffers beyond kKeep that were not taken since the last call. True when
  // some above kKeep are left (the next call may return them).
  bool trim() {
    size_t excess = low_ > kKeep ? low_ - kKeep : 0;
    for (; excess > 0 && !free_.empty(); --excess) {
      unmap(free_.back(), size_);
      free_.pop_back();
    }
    low_ = free_.size();
    return free_.size() > kKeep;
  }
  size_t free_count() const { return free_.size(); }
  // Called when a buffer given back makes more than kKeep free ones (the owner then
  // schedules trim()).
  std::function<void()> on_excess;

 private:
  static char* map(size_t size);
  static void unmap(char* p, size_t size);

  std::vector<char*> free_;
  size_t size_ = 0;
  size_t low_ = 0;  // the fewest free buffers since the last trim()
};

// One worker's world. The worker is declared first so that it is destroyed last: every asio
// object below must go before its io_context. The buffer pool comes before it, so that it
// outlives sessions that the io_context's destruction ends.
struct ThreadRt {
  ThreadRt(Shared& s, size_t index);
  ~ThreadRt() { buffers.on_excess = nullptr; }  // its timer goes before the buffers

  BufferPool buffers;
  // The sessions' inactivity deadlines: a binary heap (session.cc) of the sessions that have
  // one, earliest first, each knowing its place. Before the worker: sessions that the
  // io_context's destruction ends take themselves out of it.
  std::vector<Session*> deadlines;
  core::Worker worker;
  Shared& shared;
  size_t index;
  std::vector<FrontendRt> frontends;
  std::vector<BackendRt> backends;
  Session* sessions = nullptr;       // every live session of the thread, linked through them
  asio::steady_timer resume_accept;  // a paused acceptor waits on it
  asio::steady_timer grace;
  size_t live_tasks = 0;  // acceptor loops and sessions; the loop stops at 0 when stopping
  bool paused = false;
  bool stopping = false;
  bool finished = false;
  std::function<void()> on_finished;  // set by the Runtime: counts threads that ended
  core::RateLimiter accept_errors{std::chrono::seconds(5), 3};
  core::RateLimiter conn_errors{std::chrono::seconds(5), 10};
  // Sessions waiting for a client's bytes with a buffer in hand, and the timer that makes
  // those idle for a while give their buffers back (session.cc).
  Session* idle_head = nullptr;  // oldest first
  Session* idle_tail = nullptr;
  core::TimerPtr idle_sweep;
  // Fires at the earliest deadline of the heap above (one timer for all the sessions).
  core::TimerPtr deadline_timer;
  core::TimerPtr buffer_trim;  // BufferPool::trim() while it has extra buffers
  core::TimerPtr idle_purge;   // purge_idle() while servers have idle connections

  void schedule_buffer_trim();
  // Each server's pool-purge-delay while it has idle connections, purge_idle() closes half
  // of those beyond its estimated need (oldest first) and renews the estimate, as haproxy
  // does. schedule_idle_purge: a server that now has idle connections gets its date.
  void schedule_idle_purge(ServerRt& s, core::Duration delay);
  void purge_idle();
  void task_ended();     // a session or acceptor loop ended
  void session_ended();  // frees a connection slot: wakes a paused acceptor
  bool over_limit(const FrontendRt& fe) const;
};

// Starts a session for a client accepted on this thread: `fd` from accept4(SOCK_NONBLOCK),
// `peer` its address. The connection was counted (global and frontend) by the caller.
// `unix_id`: not 0 for a client of a unix socket listener (its number in the frontend); the
// peer address is then empty.
void start_session(ThreadRt& t, FrontendRt& fe, int fd, const tcp::endpoint& peer,
                   uint16_t unix_id = 0);
// The thread's sessions at this moment (a copy: stopping them changes the list).
std::vector<Session*> sessions_of(const ThreadRt& t);
void soft_stop_session(Session* s);
void hard_stop_session(Session* s);
// True while the session holds a connection to server `si` of backend `bi` (own thread).
bool session_uses_server(const Session* s, size_t bi, size_t si);

std::string endpoint_ip(const tcp::endpoint& ep);

// Takes one connection slot of server `si` if it is below `maxconn` (0: no limit).
bool try_take_slot(std::atomic<uint32_t>& conns, uint32_t maxconn);
// Gives a slot of server `si` of backend `bi` back: to the oldest waiter of the backend when
// there is one and the server is usable, else to the pool. Any thread.
void release_slot(ThreadRt& t, size_t bi, size_t si);

}  // namespace tandem::lb::proxy::detail
