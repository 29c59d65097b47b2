// tandem-lb's master-worker mode (-W, -Ws): the master holds the listening sockets and
// replaces its worker on reload without closing them; plus what a worker does for it.
#pragma once

#include <sys/socket.h>
#include <string>
#include <vector>

#include "app/flags.h"
#include "core/result.h"
#include "lb/config.h"

namespace tandem::app {

// Set by the master in its worker's environment (and removed by prepare_worker):
// the listening sockets, as "KEY=FD;KEY=FD" with KEY an endpoint_key(), and the write end
// of the pipe on which the worker says it is ready.
inline constexpr char kInheritedEnv[] = "TANDEM_LB_INHERITED";
inline constexpr char kReadyFdEnv[] = "TANDEM_LB_READY_FD";

// One TCP endpoint a bind line listens on (a port range gives several).
struct BindEndpoint {
  std::string key;  // "127.0.0.1:80", "[::]:80/v6only", "[::]:80/v4v6"
  sockaddr_storage addr{};
  socklen_t len = 0;
};

// The endpoints of an IP or host-name bind, resolved as the proxy run-time does; empty for
// unix@, abns@ and fd@ binds (the master leaves those to the worker).
core::Result<std::vector<BindEndpoint>> bind_endpoints(const lb::Bind& bind);

// True when this process should become the master: -W/-Ws or `master-worker` in global,
// and not already a worker started by a master.
bool wants_master(const LbFlags& flags, const lb::Config& config);

// Runs the master until it stops; returns the exit status for main. `config` is the one
// main loaded and checked (the first worker reads the files again itself).
int run_master(const LbFlags& flags, const lb::Config& config);

// In a worker started by the master: binds whose endpoints the master opened become fd@N
// binds, and what the master does itself (daemon, pid file) is cleared from the config.
// Returns how many sockets were taken over (0 when not started by a master). An error
// means the files changed between the master's read and the worker's: reload again.
core::Result<size_t> prepare_worker(lb::Config& config);

// In a worker started by the master, once it accepts: tells the master. No-op otherwise.
void notify_master_ready();

// Under a master: the servers' operator states (maintenance, drain, weight) the previous
// worker saved, in `show servers state` format; empty when there are none or no master.
std::string read_saved_server_state();
// Under a master: saves them for the next worker (after each change). No-op otherwise.
void save_server_state(std::string_view text);

// global `chroot`, `group`, `user`: applied after the listeners are bound and before the
// worker threads start. Nothing to do when none is set.
core::Result<void> drop_privileges(const lb::Global& global);

}  // namespace tandem::app
