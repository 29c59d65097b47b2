// tandem-lb: the load balancer. Flags as haproxy's; wiring only.
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "app/flags.h"
#include "app/version.h"
#include "core/diagnostic.h"
#include "lb/config.h"

int main(int argc, char** argv) {
  using namespace tandem;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto flags = app::parse_lb_flags(args);
  if (!flags) {
    fmt::print(stderr, "tandem-lb: {}\n{}", flags.error().message, app::lb_usage());
    return 1;
  }
  if (flags->help) {
    fmt::print("{}", app::lb_usage());
    return 0;
  }
  if (flags->version_level > 0) {
    fmt::print("tandem-lb version {} (haproxy.cfg syntax)\n", app::kVersion);
    return 0;
  }
  if (flags->condition) {
    // -cc: haproxy's .if condition language, answered by the exit status.
    auto result = lb::eval_condition(*flags->condition);
    if (!result) {
      fmt::print(stderr, "tandem-lb: -cc '{}': {}\n", *flags->condition, result.error().message);
      return 2;
    }
    return *result ? 0 : 1;
  }
  if (flags->config_paths.empty()) {
    fmt::print(stderr, "tandem-lb: no configuration file given (use -f PATH)\n{}", app::lb_usage());
    return 1;
  }

  core::Diagnostics diags;
  auto config = lb::load_config(flags->config_paths, diags);
  if (!diags.empty()) fmt::print(stderr, "{}", diags.to_string());
  if (diags.has_errors()) {
    fmt::print(stderr, "tandem-lb: fatal errors found in configuration ({} error(s))\n",
               diags.error_count());
    return 1;
  }
  if (flags->check_only) {
    if (!flags->quiet)
      fmt::print("Configuration file is valid ({} proxies)\n", config.proxies.size());
    return 0;
  }
  fmt::print(stderr,
             "tandem-lb: the proxy is not built yet; only the configuration check (-c) and "
             "-cc work in this version\n");
  return 1;
}
