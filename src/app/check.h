// `tandem check`: a node's keepalived.conf and haproxy.cfg checked together, and against
// the other node's keepalived.conf when given: what each file alone cannot tell.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/diagnostic.h"

namespace tandem::app {

struct CheckOptions {
  std::string vrrp_config;               // this node's keepalived.conf
  std::optional<std::string> peer_vrrp;  // the other node's, for consistency
  std::vector<std::string> lb_configs;   // this node's haproxy.cfg (files or folders)
  // Reads net.ipv4.ip_nonlocal_bind / net.ipv6.ip_nonlocal_bind; tests replace it.
  std::string sysctl_root = "/proc/sys";
};

// Every finding, as diagnostics (errors, warnings, notes with file:line:col where one
// exists). Pure apart from reading the files and the two sysctls.
core::Diagnostics check_node(const CheckOptions& options);

int run_check(const CheckOptions& options);

}  // namespace tandem::app
