// `tandem status`: both daemons of a node at a glance, from their control sockets.
#pragma once

#include <string>

namespace tandem::app {

struct StatusOptions {
  std::string vrrp_socket = "/run/tandem-vrrp.sock";
  std::string lb_socket = "/run/tandem-lb.sock";
  bool json = false;
};

// Prints the status; returns 0 when every daemon answered, 1 when one did not, 2 when none.
int run_status(const StatusOptions& options);

}  // namespace tandem::app
