// tandem-vrrp at run time: the instances of one configuration, their sockets, tracking,
// notify scripts, control socket and signals, on one loop.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "core/result.h"
#include "core/worker.h"

namespace tandem::vrrp {

struct DaemonOptions {
  std::string config_path;
  std::string control_socket = "/run/tandem-vrrp.sock";  // empty: none
  std::string dump_path = "/tmp/tandem-vrrp.json";       // SIGUSR1 writes the state here
  std::chrono::seconds notify_timeout{30};
};

class Daemon {
 public:
  Daemon(core::Worker& worker, DaemonOptions options);
  ~Daemon();

  // Loads the configuration and starts every instance; an error says what and where.
  core::Result<void> start();
  // Graceful: every master sends priority 0 and keeps its addresses until a backup has taken
  // over (at most Master_Down_Interval), then removes them; notify stop scripts run; `done`
  // is called on the loop when all that has finished (bounded by the notify time-out).
  void stop(std::function<void()> done);
  // A second signal: every instance leaves at once (addresses removed), without waiting.
  void stop_now();
  // SIGHUP: reads the file again; unchanged instances keep running untouched, changed ones
  // restart, and a file with errors changes nothing (the reason is logged).
  void reload();

  nlohmann::json status() const;
  std::string status_text() const;
  // One control command ("show state", "show state json", "help"), as the socket answers.
  std::string command(std::string_view line);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::vrrp
