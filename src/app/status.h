// `tandem status`: both daemons of a node at a glance, from tandem-vrrp's control socket and
// tandem-lb's stats socket (haproxy's runtime API).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tandem::app {

struct StatusOptions {
  std::string vrrp_socket = "/run/tandem-vrrp.sock";
  std::string lb_socket = "/run/tandem-lb.sock";
  bool json = false;
};

// tandem-lb's part, from its stats socket's `show info` and `show stat` answers: pid, version,
// uptime, threads, and per proxy its FRONTEND/BACKEND rows and servers (status, weight,
// sessions, check).
nlohmann::json lb_status_from(std::string_view info, std::string_view csv);

// Prints the status; returns 0 when every daemon answered, 1 when one did not, 2 when none.
int run_status(const StatusOptions& options);

}  // namespace tandem::app
