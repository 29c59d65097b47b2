// The statistics of a running tandem-lb as plain data: the run-time fills a StatsView, and the
// renderers (CSV, show info, Prometheus, HTML) and the runtime API read it. No I/O, no clock.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lb/http1.h"

namespace tandem::lb::stats {

// The process as a whole (haproxy's `show info`).
struct ProcessInfo {
  std::string name = "tandem-lb";
  std::string version;       // shown unless the page hides it
  std::string release_date;  // "2026/11/26"; may be empty
  std::string node;          // host name
  uint32_t pid = 0;
  uint32_t nbthread = 1;
  uint64_t uptime_s = 0;
  uint64_t start_time_s = 0;  // Unix time of the start
  uint32_t ulimit_n = 0;      // file descriptor limit
  uint32_t maxconn = 0;
  uint32_t hard_maxconn = 0;
  uint64_t current_conns = 0;
  uint64_t total_conns = 0;
  uint64_t total_requests = 0;
  uint64_t max_conn_rate = 0;
  uint64_t conn_rate = 0;
  uint64_t sess_rate = 0;
  uint64_t max_sess_rate = 0;
  uint32_t listeners = 0;
  uint32_t jobs = 0;
  bool stopping = false;
  uint64_t bytes_out_total = 0;
  uint64_t spliced_bytes_out_total = 0;
  uint64_t dropped_logs = 0;
  uint32_t idle_pct = 100;
};

// Traffic counters of a frontend, backend or server. http_responses follows
// proxy::Counters::http_status: [0] other, [1]..[5] 1xx..5xx.
struct Traffic {
  uint64_t sessions_current = 0;  // scur
  uint64_t sessions_max = 0;      // smax
  uint64_t sessions_total = 0;    // stot
  uint64_t bytes_in = 0;          // bin: from clients
  uint64_t bytes_out = 0;         // bout: to clients
  uint64_t denied_requests = 0;   // dreq
  uint64_t denied_responses = 0;  // dresp
  uint64_t request_errors = 0;    // ereq (frontends)
  uint64_t connect_errors = 0;    // econ (backends, servers)
  uint64_t response_errors = 0;   // eresp (backends, servers)
  uint64_t retries = 0;           // wretr
  uint64_t redispatches = 0;      // wredis
  uint64_t queue_current = 0;     // qcur (backends, servers)
  uint64_t queue_max = 0;         // qmax
  uint64_t lb_total = 0;          // lbtot: times picked by the balancer
  uint64_t http_requests = 0;     // req_tot
  std::array<uint64_t, 6> http_responses{};
  uint64_t client_aborts = 0;       // cli_abrt
  uint64_t server_aborts = 0;       // srv_abrt
  uint64_t connections_total = 0;   // conn_tot (frontends): accepted connections
  uint64_t denied_connections = 0;  // dcon (frontends)
  uint64_t intercepted = 0;         // intercepted (frontends): answered by a rule or a service
  uint64_t connect_attempts = 0;    // connect (backends, servers)
  uint64_t reuses = 0;              // reuse: requests sent on a kept connection
  uint64_t internal_errors = 0;     // eint
  uint64_t session_rate = 0, session_rate_max = 0;  // rate, rate_max (per second)
  uint64_t request_rate = 0, request_rate_max = 0;  // req_rate, req_rate_max (frontends)
  uint64_t conn_rate = 0, conn_rate_max = 0;        // conn_rate, conn_rate_max (frontends)
  std::optional<uint64_t> last_session_s;           // unset: none yet (haproxy's -1)
  // Averages over recent requests, and maxima, in milliseconds (qtime, ctime, rtime, ttime).
  uint64_t queue_time_ms = 0, connect_time_ms = 0, response_time_ms = 0, total_time_ms = 0;
  uint64_t queue_time_max_ms = 0, connect_time_max_ms = 0, response_time_max_ms = 0,
           total_time_max_ms = 0;
};

// A server's administrative state, as set by config (`disabled`), the runtime API or the page.
enum class AdminState : uint8_t { kReady, kDrain, kMaint };
// Its operational state: running, stopping (NOLB: no new balanced traffic) or stopped (DOWN).
enum class OpState : uint8_t { kRunning, kStopping, kStopped };

std::string_view to_string(AdminState s);  // "ready", "drain", "maint"

// The last finished health check of a server.
struct CheckInfo {
  std::string status;       // haproxy's short name: "L4OK", "L4CON", "L7STS", ...
  std::optional<int> code;  // HTTP status, for L7 results
  uint64_t duration_ms = 0;
  std::string description;  // "Layer4 connection problem"
  std::string info;         // details ("Connection refused"): haproxy's last_chk column
  bool passed = false;
};

struct ServerView {
  std::string name;
  uint32_t id = 0;      // haproxy's sid: 1-based position in its backend
  std::string address;  // "10.0.0.1:80"
  bool backup = false;
  AdminState admin = AdminState::kReady;
  bool maint_from_config = false;  // `disabled` on the server line (kept until changed)
  OpState op = OpState::kRunning;
  bool checked = false;  // has `check`
  uint32_t health = 0;   // haproxy's check counter, 0 .. rise+fall-1; UP from rise on
  uint32_t rise = 2, fall = 3;
  std::optional<CheckInfo> last_check;
  uint32_t weight = 1;                   // the current weight set by config or the runtime API
  uint32_t initial_weight = 1;           // from the configuration
  uint32_t maxconn = 0;                  // 0: no limit
  uint32_t maxqueue = 0;                 // 0: no limit
  std::optional<uint32_t> throttle_pct;  // slowstart in progress
  uint64_t check_failures = 0;           // chkfail
  uint64_t check_downs = 0;              // chkdown: UP -> DOWN transitions
  uint64_t last_change_s = 0;            // seconds since the last state change
  uint64_t downtime_s = 0;               // total seconds DOWN
  uint16_t port = 0;                     // for `show servers state`
  std::string host;                      // address without the port
  Traffic traffic;

  // Usable for new balanced traffic: UP, not drained nor in maintenance, weight above 0.
  bool usable() const {
    return admin == AdminState::kReady && op == OpState::kRunning && weight > 0;
  }
  // haproxy's status column: "UP", "DOWN", "UP 1/3", "DOWN 1/2", "NOLB", "DRAIN", "MAINT",
  // "no check".
  std::string status() const;
  // One of DOWN, UP, MAINT, DRAIN, NOLB (the Prometheus state label set).
  std::string_view state_label() const;
};

enum class ProxyKind : uint8_t { kFrontend, kBackend, kListen };

struct ProxyView {
  std::string name;
  uint32_t id = 0;  // haproxy's iid: the proxy's 1-based position (stats and CLI proxies first)
  ProxyKind kind = ProxyKind::kFrontend;
  bool static_weights = false;  // static-rr, map-based hashing: runtime weight 0% or 100% only
  std::string mode = "http";    // "http", "tcp"
  bool stopped = false;         // frontend no longer accepting (STOP), or backend disabled

  // Frontend part (frontend, listen).
  Traffic frontend;
  uint32_t maxconn = 0;  // slim of the FRONTEND row
  // Parser rejections by http1::RejectReason (tandem's own, for Prometheus).
  std::array<uint64_t, http1::kRejectReasonCount> rejects{};

  // Backend part (backend, listen).
  Traffic backend;
  uint32_t fullconn = 0;  // slim of the BACKEND row
  std::string algorithm;  // "roundrobin"
  uint64_t last_change_s = 0;
  uint64_t downtime_s = 0;
  uint64_t check_downs = 0;  // times the backend went DOWN
  std::vector<ServerView> servers;

  bool is_frontend() const { return kind != ProxyKind::kBackend; }
  bool is_backend() const { return kind != ProxyKind::kFrontend; }
  // Backend state: UP while a server (active, or else backup) is usable.
  bool backend_up() const;
  uint32_t active_servers() const;  // usable non-backup servers (act)
  uint32_t backup_servers() const;  // usable backup servers (bck)
  // The effective weight: the sum of the usable active servers' weights, or of the backups'
  // when no active server is usable, as haproxy's BACKEND row.
  uint32_t backend_weight() const;
  const ServerView* find_server(std::string_view server) const;
  ServerView* find_server(std::string_view server);
};

// tandem's own counters, beside haproxy's.
struct TandemCounters {
  uint64_t reuse_hits = 0;     // requests sent on a pooled server connection
  uint64_t spliced_bytes = 0;  // bytes moved by splice(2)
};

struct StatsView {
  ProcessInfo process;
  std::vector<ProxyView> proxies;  // config order
  TandemCounters tandem;

  const ProxyView* find_proxy(std::string_view name) const;
  ProxyView* find_proxy(std::string_view name);
  // A backend (or listen) by name.
  const ProxyView* find_backend(std::string_view name) const;
};

}  // namespace tandem::lb::stats
