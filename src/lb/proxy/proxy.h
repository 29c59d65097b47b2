// tandem-lb's proxy run-time: listeners on nbthread workers, TCP and HTTP/1.1 sessions that
// forward client traffic to the servers the balancers pick, with per-thread counters.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "lb/config.h"
#include "lb/http1.h"
#include "lb/log_format.h"
#include "lb/rules.h"

namespace tandem::lb::proxy {

// What a use_backend condition hook or a service sees of a request.
struct RequestContext {
  const Proxy* frontend = nullptr;
  const http1::Head* head = nullptr;  // null in TCP mode
  std::string_view client_ip;
  uint16_t client_port = 0;
  uint16_t frontend_port = 0;
};
// True when the condition holds (polarity if/unless already applied by the hook).
using ConditionHook = std::function<bool(const Condition&, const RequestContext&)>;

// The facts of one finished request (HTTP) or connection (TCP), as logged (see log_format.h).
// Called after the line went to the frontend's log targets, also when there are none.
using RequestLogHook = std::function<void(const logfmt::SessionLog&)>;

// `http-request use-service NAME`: the whole HTTP response to send (status line, headers,
// body), or nullopt when the service cannot answer (the client gets a 503). The head and
// endpoints of the request are in the context. Runs on a worker thread: it must not block,
// and must not call Runtime::snapshot() (which waits for every worker, this one included);
// render from counters gathered elsewhere (e.g. a snapshot the main loop refreshes).
using ServiceHook =
    std::function<std::optional<std::string>(std::string_view service, const RequestContext&)>;

// A request for a frontend's stats page (`stats enable`, its target under `stats uri`), seen
// after the frontend's http-request rules, its body read (at most tune.bufsize bytes).
struct StatsRequest {
  const Proxy* frontend = nullptr;
  const http1::Head* head = nullptr;
  std::string_view body;
  bool admin_allowed = false;  // `stats admin if COND` holds for this request
};
// The whole response to send; the connection closes after it. Same constraints as a
// ServiceHook (a worker thread: no blocking, no Runtime::snapshot()).
using StatsPageHook = std::function<std::string(const StatsRequest&)>;

// Counters of one frontend, backend or server. Each thread keeps its own; snapshot() sums.
struct Counters {
  uint64_t sessions_current = 0;
  uint64_t sessions_total = 0;
  uint64_t bytes_in = 0;   // from clients
  uint64_t bytes_out = 0;  // to clients
  uint64_t connect_errors = 0;
  uint64_t response_errors = 0;  // malformed responses, resets while reading one
  uint64_t request_errors = 0;   // rejected requests, timeouts waiting for a head
  uint64_t retries = 0;
  uint64_t redispatches = 0;
  uint64_t denied_conns = 0;  // unused yet (tcp-request rules)
  uint64_t denied_req = 0;    // requests denied by http-request rules
  uint64_t denied_resp = 0;   // responses denied by http-response rules
  uint64_t intercepted = 0;   // answered by a redirect, return or service rule
  // Backends: requests waiting for a server slot now and at most (global, not per thread).
  uint64_t queue_current = 0;
  uint64_t queue_max = 0;
  uint64_t queue_timeouts = 0;  // left the queue with a 503 after timeout queue
  uint64_t http_requests = 0;
  std::array<uint64_t, 6> http_status{};  // 1xx..5xx answered to clients; [0] other
  uint64_t timeouts = 0;
  // Frontends: bytes moved by splice(2) from clients to servers and back (within bytes_in
  // and bytes_out). Backends and servers: requests sent on an idle server connection.
  uint64_t spliced_in = 0;
  uint64_t spliced_out = 0;
  uint64_t reused = 0;
  http1::RejectCounters rejects;  // live, fed by this thread's parsers
  // In a snapshot: the sums of `rejects`, by RejectReason.
  std::array<uint64_t, http1::kRejectReasonCount> rejected{};

  void add(const Counters& o);
};

// A server's administrative state, as haproxy's `set server B/S state`: drain takes no new
// balanced traffic (health checks go on), maint no traffic at all (checks stop).
enum class ServerAdmin : uint8_t { kReady, kDrain, kMaint };

struct ServerSnapshot {
  std::string name;
  Counters counters;
  // The state for new traffic now, global (not summed).
  ServerAdmin admin = ServerAdmin::kReady;
  bool up = true;  // as health checks last said (set_server_up)
  uint32_t weight = 1;
  uint32_t maxconn = 0;  // 0: no limit
};
struct ProxySnapshot {
  std::string name;
  Counters frontend;  // meaningful when the proxy is a frontend
  Counters backend;   // meaningful when the proxy is a backend
  std::vector<ServerSnapshot> servers;
};
struct Snapshot {
  std::vector<ProxySnapshot> proxies;  // in config order
  const ProxySnapshot* find(std::string_view name) const;
};

struct RuntimeOptions {
  // Evaluates use_backend conditions when set; unset: the compiled rules below do.
  ConditionHook condition;
  RequestLogHook on_request;  // unset: nothing
  // The compiled ACLs and rules of each proxy, by index in Config::proxies (null for none).
  // Empty: Runtime::create compiles them (and fails on errors).
  std::vector<std::shared_ptr<const ProxyRules>> rules;
  // Answers `use-service`; unset: a config using a service does not start.
  ServiceHook service;
  // Serves the stats pages; unset: a config with `stats enable` does not start.
  StatsPageHook stats_page;
  // False: `log` lines are not opened and nothing is logged (on_request still runs).
  bool traffic_logs = true;
  // TCP mode and tunnels may move bytes with splice(2) between the sockets, where a proxy's
  // `option splice-request|splice-response|splice-auto` asks for it; false: never (global
  // `nosplice`), always through a bufsize buffer.
  bool splice = true;
  uint32_t threads = 0;  // 0: global nbthread, or the number of CPUs
  // How long a graceful stop waits for sessions; unset: hard-stop-after, else 30 s.
  std::optional<core::Duration> grace;
};

// A listening port of a frontend, as bound (port 0 in the config gives a random port).
struct BoundListener {
  std::string frontend;
  size_t bind_index = 0;
  std::string address;  // "127.0.0.1" / "::"
  uint16_t port = 0;
};

class Runtime {
 public:
  // Resolves server addresses and binds every listener on every thread (SO_REUSEPORT), so
  // that configuration and port problems show before anything runs.
  static core::Result<std::unique_ptr<Runtime>> create(const Config& config,
                                                       RuntimeOptions options = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Starts the worker threads; accepting begins.
  void start();
  std::vector<BoundListener> listeners() const;
  uint16_t port_of(std::string_view frontend, size_t bind_index = 0) const;

  // Stops accepting, closes idle keep-alive connections, lets the others finish within the
  // grace period, then closes what is left; `done` runs (on a worker thread) when all ended.
  void stop_gracefully(std::function<void()> done = {});
  // Closes everything now.
  void stop_now();
  // Waits for the worker threads to end (after a stop).
  void join();

  // A server goes up or down for new traffic on every thread (health checks call this).
  // False when no such backend/server exists. Safe from any thread.
  bool set_server_up(std::string_view backend, std::string_view server, bool up);
  // The runtime API's changes, global at once (every thread balances over one pool). False
  // when no such backend/server exists. Safe from any thread. A weight is 0..256.
  bool set_server_admin(std::string_view backend, std::string_view server, ServerAdmin admin);
  bool set_server_weight(std::string_view backend, std::string_view server, uint32_t weight);
  bool set_server_maxconn(std::string_view backend, std::string_view server, uint32_t maxconn);
  // Closes every session connected to the server and its idle connections, on every thread
  // (posted: done shortly after the call returns).
  bool shutdown_server_sessions(std::string_view backend, std::string_view server);
  // The state fields of a ServerSnapshot (no counters); unset when unknown. Any thread.
  std::optional<ServerSnapshot> server_state(std::string_view backend,
                                             std::string_view server) const;

  // Sums every thread's counters; posts to each worker and waits (not from a worker).
  Snapshot snapshot();
  uint32_t thread_count() const;
  // The global maxconn in force (the config's, or the one derived from the fd limit).
  uint32_t maxconn() const;

  struct Impl;

 private:
  explicit Runtime(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// haproxy's answer for `status` (400, 403, 408, 500, 502, 503, 504; others get a generic
// body): HTTP/1.1, Content-Length, Connection: close, as /etc/haproxy/errors/*.http.
std::string_view error_response(int status);

}  // namespace tandem::lb::proxy
