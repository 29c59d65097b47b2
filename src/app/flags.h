// Command lines of tandem-lb (haproxy's flags) and tandem-vrrp (keepalived's flags), parsed
// into plain structs so that an existing service unit works when only the binary changes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace tandem::app {

struct LbFlags {
  std::vector<std::string> config_paths;  // -f, repeatable: files or folders
  bool check_only = false;                // -c
  bool daemon = false;                    // -D
  bool foreground = false;                // -d (debug) or -db
  bool debug = false;                     // -d
  bool master_worker = false;             // -W, -Ws
  bool systemd_notify = false;            // -Ws
  bool quiet = false;                     // -q
  std::optional<std::string> pid_file;    // -p
  std::optional<std::string> local_name;  // -L (accepted, as haproxy's peers name)
  std::optional<std::string> condition;   // -cc COND
  std::vector<int> soft_stop_pids;        // -sf PID...
  std::vector<int> hard_stop_pids;        // -st PID...
  int version_level = 0;                  // -v = 1, -vv = 2
  bool help = false;                      // -h
};

// haproxy's own syntax: single-dash words (-db, -Ws, -sf, -cc) and PID lists after -sf/-st.
core::Result<LbFlags> parse_lb_flags(const std::vector<std::string>& args);
std::string lb_usage();

struct VrrpFlags {
  std::string config_path = "/etc/keepalived/keepalived.conf";  // -f, --use-file
  bool dont_fork = false;                                       // -n, --dont-fork
  bool log_console = false;                                     // -l, --log-console
  bool log_detail = false;                                      // -D, --log-detail
  std::optional<std::string> log_file;                          // -g, --log-file
  std::optional<std::string> pid_file;                          // -p, --pid
  bool config_test = false;                                     // -t, --config-test
  std::string control_socket = "/run/tandem-vrrp.sock";         // --control-socket (ours)
  bool version = false;                                         // -v, --version
  bool help = false;                                            // -h, --help
};

// keepalived's getopt_long syntax: -f FILE, -fFILE, --use-file FILE, --use-file=FILE.
core::Result<VrrpFlags> parse_vrrp_flags(const std::vector<std::string>& args);
std::string vrrp_usage();

}  // namespace tandem::app
