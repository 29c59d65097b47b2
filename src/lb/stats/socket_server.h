// `stats socket PATH [mode M] [level L]`: the runtime API on a unix socket, served on one asio
// loop (tandem-lb's main loop). One CliSession per connection; lines are capped, an idle
// connection is closed after `stats timeout`, the socket file is removed at the end.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "core/clock.h"
#include "core/result.h"
#include "lb/config.h"
#include "lb/stats/admin_api.h"

namespace asio {
class io_context;
}

namespace tandem::lb::stats {

class StatsSocketServer {
 public:
  struct Options {
    core::Duration idle_timeout = std::chrono::seconds(10);  // global `stats timeout`
    size_t max_line = 16384;                                 // longer lines close the session
  };
  // Binds the socket (a unix path; other address kinds are refused) with its mode, replacing
  // a file left at PATH as haproxy does (bound beside it, then renamed over it).
  static core::Result<std::unique_ptr<StatsSocketServer>> open(asio::io_context& io,
                                                               const StatsSocket& config,
                                                               AdminTarget& target,
                                                               Options options);
  ~StatsSocketServer();
  StatsSocketServer(const StatsSocketServer&) = delete;
  StatsSocketServer& operator=(const StatsSocketServer&) = delete;

  // Accepts on the loop until stop() (call both on the loop's thread, or before it runs).
  void start();
  // Stops accepting, closes the sessions, removes the socket file if it is still ours.
  void stop();
  const std::string& path() const;

  struct Impl;

 private:
  explicit StatsSocketServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace tandem::lb::stats
