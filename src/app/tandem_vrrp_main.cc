// tandem-vrrp: the VRRP failover daemon. Flags as keepalived's; wiring only.
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "app/flags.h"
#include "app/version.h"
#include "conf/keepalived_lexer.h"
#include "core/diagnostic.h"

int main(int argc, char** argv) {
  using namespace tandem;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto flags = app::parse_vrrp_flags(args);
  if (!flags) {
    fmt::print(stderr, "tandem-vrrp: {}\n", flags.error().message);
    return 2;
  }
  if (flags->help) {
    fmt::print("{}", app::vrrp_usage());
    return 0;
  }
  if (flags->version) {
    fmt::print("tandem-vrrp {} (keepalived.conf syntax)\n", app::kVersion);
    return 0;
  }

  core::Diagnostics diags;
  auto nodes = conf::load_keepalived(flags->config_path, diags);
  if (!diags.empty()) fmt::print(stderr, "{}", diags.to_string());
  if (diags.has_errors()) {
    fmt::print(stderr, "tandem-vrrp: {}: {} error(s), {} warning(s)\n", flags->config_path,
               diags.error_count(), diags.warning_count());
    return 1;
  }
  if (flags->config_test) {
    // Keywords are checked against tandem-vrrp's keyword table once the VRRP engine lands;
    // until then -t checks the syntax (words, quotes, blocks, includes).
    fmt::print("tandem-vrrp: {}: syntax is valid ({} top-level statements)\n", flags->config_path,
               nodes.size());
    return 0;
  }
  fmt::print(stderr,
             "tandem-vrrp: the VRRP engine is not built yet; only the configuration check "
             "(-t) works in this version\n");
  return 1;
}
