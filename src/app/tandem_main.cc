// tandem: the operator's command. Subcommands: demo (more arrive with the daemons).
#include <cstdio>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "app/check.h"
#include "app/demo.h"
#include "app/status.h"
#include "app/version.h"

namespace {

constexpr const char* kUsage =
    "Usage: tandem COMMAND [OPTIONS]\n"
    "\n"
    "Two nodes, one address that never goes dark.\n"
    "\n"
    "Commands:\n"
    "  demo [--examples DIR]   show what tandem does, with what this build has\n"
    "  status [--json] [--vrrp-socket PATH] [--lb-socket PATH]\n"
    "                          both daemons of this node at a glance\n"
    "  check --vrrp FILE [--peer-vrrp FILE] [--lb FILE]...\n"
    "                          a node's keepalived.conf and haproxy.cfg checked together\n"
    "  version                 print the version\n"
    "  help                    this text\n"
    "\n"
    "The daemons are tandem-lb (haproxy.cfg) and tandem-vrrp (keepalived.conf).\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace tandem;
  if (argc < 2) {
    fmt::print(stderr, "{}", kUsage);
    return 2;
  }
  std::string_view cmd = argv[1];
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    fmt::print("{}", kUsage);
    return 0;
  }
  if (cmd == "version" || cmd == "--version" || cmd == "-v") {
    fmt::print("tandem {}\n", app::kVersion);
    return 0;
  }
  if (cmd == "demo") {
    app::DemoOptions options;
    for (int i = 2; i < argc; ++i) {
      std::string_view a = argv[i];
      if (a == "--examples" && i + 1 < argc) {
        options.examples_dir = argv[++i];
      } else {
        fmt::print(stderr, "tandem demo: unknown option '{}'\n", a);
        return 2;
      }
    }
    return app::run_demo(options);
  }
  if (cmd == "check") {
    app::CheckOptions options;
    for (int i = 2; i < argc; ++i) {
      std::string_view a = argv[i];
      if (a == "--vrrp" && i + 1 < argc) {
        options.vrrp_config = argv[++i];
      } else if (a == "--peer-vrrp" && i + 1 < argc) {
        options.peer_vrrp = argv[++i];
      } else if (a == "--lb" && i + 1 < argc) {
        options.lb_configs.push_back(argv[++i]);
      } else {
        fmt::print(stderr, "tandem check: unknown option '{}'\n", a);
        return 2;
      }
    }
    if (options.vrrp_config.empty()) {
      fmt::print(stderr, "tandem check: --vrrp FILE is needed\n");
      return 2;
    }
    return app::run_check(options);
  }
  if (cmd == "status") {
    app::StatusOptions options;
    for (int i = 2; i < argc; ++i) {
      std::string_view a = argv[i];
      if (a == "--json") {
        options.json = true;
      } else if (a == "--vrrp-socket" && i + 1 < argc) {
        options.vrrp_socket = argv[++i];
      } else if (a == "--lb-socket" && i + 1 < argc) {
        options.lb_socket = argv[++i];
      } else {
        fmt::print(stderr, "tandem status: unknown option '{}'\n", a);
        return 2;
      }
    }
    return app::run_status(options);
  }
  fmt::print(stderr, "tandem: unknown command '{}'\n\n{}", cmd, kUsage);
  return 2;
}
