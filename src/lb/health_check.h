// Runs tandem-lb's health checks on one asio loop: a TCP connect or HTTP check per server on
// its own timer, each result fed to the pure state machine of lb/health.h.
//
// Time-outs follow haproxy 2.6 (see check_timeouts): a failed connect is L4CON (info: the
// system's message, "Connection refused"), a connect time-out L4TOUT, no complete answer in
// time L7TOUT, a reset after connecting SOCKERR ("Connection reset by peer"). Buffers are
// bounded: 4 KiB reads, heads within http1's limits, bodies cut at one 16 KiB buffer.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/ip/tcp.hpp>

#include "core/clock.h"
#include "core/result.h"
#include "lb/config.h"
#include "lb/health.h"

namespace asio {
class io_context;
}

namespace tandem::lb {

// One server to check.
struct CheckedServer {
  uint32_t id = 0;  // the caller's id, handed back in each StateChange
  std::string backend;
  std::string name;
  bool backup = false;
  asio::ip::tcp::endpoint endpoint;  // where checks go: `addr` and `port` already applied
  health::Params params;
  std::optional<HttpCheck> http;  // unset: a TCP connect check
  std::optional<health::Duration> timeout_connect;
  std::optional<health::Duration> timeout_check;
};

// The servers of `backend` that have `check`, with ids first_id, first_id+1, ... in file
// order. Checks need IP literals: a host name is an error (resolving is not done here).
core::Result<std::vector<CheckedServer>> checked_servers(const Proxy& backend,
                                                         uint32_t first_id = 0);

struct StateChange {
  const CheckedServer& server;
  health::State state;  // the new state
  health::CheckResult result;
  std::string log_line;    // haproxy's "Server be/s1 is DOWN, reason: ..." line
  std::string alert_line;  // "backend be has no server available!" or empty
};

class HealthChecker {
 public:
  using ChangeFn = std::function<void(const StateChange&)>;
  // The backend's counts after `server` changed, for the log line.
  using CountsFn = std::function<health::PoolCounts(const CheckedServer& server)>;
  using ResultFn = std::function<void(const CheckedServer&, const health::CheckResult&)>;

  struct Options {
    uint32_t spread_percent = 0;  // global `spread-checks`, 0..50
    // Unset: counts from this checker's own servers of the backend, sessions and queues 0.
    CountsFn counts;
    ResultFn on_result;  // every finished check (stats, tests); may be empty
  };

  // on_change must not destroy the checker; it may call stop() or set_maintenance().
  HealthChecker(asio::io_context& io, core::Clock& clock, std::vector<CheckedServer> servers,
                ChangeFn on_change, Options options);
  HealthChecker(asio::io_context& io, core::Clock& clock, std::vector<CheckedServer> servers,
                ChangeFn on_change);
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Schedules the first checks, spread over the smallest interval as haproxy does.
  // Fails when an HTTP check's expect rule does not compile.
  core::Result<void> start();
  // Cancels every timer and abandons running checks; no callback runs afterwards.
  void stop();

  // MAINT stops a server's checks; leaving it checks at once, starting UP as at boot.
  void set_maintenance(uint32_t id, bool on);
  // The server starts DOWN (a saved state says so); no StateChange is reported for it.
  void start_down(uint32_t id);

  const health::ServerHealth* health(uint32_t id) const;
  size_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::lb
