// tandem: the operator's command. Subcommands: demo (more arrive with the daemons).
#include <cstdio>
#include <cstdlib>
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
    "  demo [--keep] [--check] [--json FILE]\n"
    "                          the pair in network namespaces (root), broken four ways,\n"
    "                          with each outage the client saw; without root, tandem-lb\n"
    "                          on loopback. See `tandem demo --help`\n"
    "  status [--json] [--vrrp-socket PATH] [--lb-socket PATH]\n"
    "                          both daemons of this node at a glance\n"
    "  check --vrrp FILE [--peer-vrrp FILE] [--lb FILE]...\n"
    "                          a node's keepalived.conf and haproxy.cfg checked together\n"
    "  version                 print the version\n"
    "  help                    this text\n"
    "\n"
    "The daemons are tandem-lb (haproxy.cfg) and tandem-vrrp (keepalived.conf).\n";

constexpr const char* kDemoUsage =
    "Usage: tandem demo [--keep] [--check] [--json FILE] [--advert-int S] [--bound N=S]...\n"
    "       tandem demo --clean | --local | --examples DIR\n"
    "\n"
    "As root: builds node A and node B (tandem-lb + tandem-vrrp, unicast VRRPv3, a virtual\n"
    "address), five web servers and a client in network namespaces, then (1) kills tandem-lb\n"
    "on A, (2) restarts it, (3) takes A's link down and up, (4) stops node B, printing a\n"
    "timeline and the outage the client saw for each. Everything is removed at the end.\n"
    "Without root: tandem-lb on loopback over five web servers, one of them killed.\n"
    "\n"
    "  --keep            leave the lab up to explore (remove it with --clean)\n"
    "  --clean           remove kept labs and whatever dead demo runs left, then stop\n"
    "  --check           exit 1 when an outage is over its bound\n"
    "  --bound N=S       fault N's bound in seconds (defaults: 1 and 2: 0.5; 3: three\n"
    "                    Master_Down_Intervals + 0.3; 4: no failed request)\n"
    "  --json FILE       write the measurements as JSON\n"
    "  --advert-int S    the pair's advert interval (default 0.2)\n"
    "  --local           the loopback demo, also as root\n"
    "  --examples DIR    only read a folder of example files as tandem reads them\n";

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
  if (cmd == "demo-web") return app::run_demo_web(argc, argv);  // the demo's web servers
  if (cmd == "demo") {
    app::DemoOptions options;
    auto seconds = [](std::string_view text, double* out) {
      char* end = nullptr;
      std::string t(text);
      double v = std::strtod(t.c_str(), &end);
      if (t.empty() || *end != '\0' || !(v >= 0) || v > 3600) return false;
      *out = v;
      return true;
    };
    for (int i = 2; i < argc; ++i) {
      std::string_view a = argv[i];
      if (a == "--help" || a == "-h") {
        fmt::print("{}", kDemoUsage);
        return 0;
      } else if (a == "--keep") {
        options.keep = true;
      } else if (a == "--clean") {
        options.clean = true;
      } else if (a == "--check") {
        options.check = true;
      } else if (a == "--local") {
        options.local = true;
      } else if (a == "--json" && i + 1 < argc) {
        options.json_path = argv[++i];
      } else if (a == "--advert-int" && i + 1 < argc) {
        if (!seconds(argv[++i], &options.advert_int) || options.advert_int < 0.01 ||
            options.advert_int > 2) {
          fmt::print(stderr, "tandem demo: --advert-int wants seconds from 0.01 to 2, not '{}'\n",
                     argv[i]);
          return 2;
        }
      } else if (a == "--bound" && i + 1 < argc) {
        std::string_view b = argv[++i];
        auto eq = b.find('=');
        double v = 0;
        int n = eq == 1 ? b[0] - '0' : 0;
        if (n < 1 || n > 4 || !seconds(b.substr(eq + 1), &v)) {
          fmt::print(stderr, "tandem demo: --bound wants N=SECONDS with N from 1 to 4, not '{}'\n",
                     b);
          return 2;
        }
        options.bounds[static_cast<size_t>(n)] = v;
      } else if (a == "--examples" && i + 1 < argc) {
        options.examples_dir = argv[++i];
      } else {
        fmt::print(stderr, "tandem demo: unknown option '{}'\n\n{}", a, kDemoUsage);
        return 2;
      }
    }
    if (options.keep && options.local) {
      fmt::print(stderr, "tandem demo: --keep keeps the namespaced lab; --local has none\n");
      return 2;
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
