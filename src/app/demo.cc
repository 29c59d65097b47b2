#include "app/demo.h"

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "conf/keepalived_lexer.h"
#include "core/diagnostic.h"
#include "lb/config.h"
#include "vrrp/config.h"

namespace tandem::app {

namespace {

namespace fs = std::filesystem;

// A file with the mistakes operators make, to show that each gets its own line.
constexpr const char* kBrokenKeepalived =
    "vrrp_instance VI_1 {\n"
    "    state MASTER\n"
    "    unicast_peer {\n"
    "        198.18.0.2\n"
    "    notify_master \"/etc/keepalived/master.sh\n"
    "}\n";

void show_keepalived(const fs::path& path) {
  core::Diagnostics diags;
  auto config = vrrp::load_config(path.string(), diags);
  fmt::print("   {:<26} {}\n", path.filename().string(),
             diags.has_errors() ? "ERRORS" : "ok, every keyword understood");
  if (!diags.empty()) fmt::print("{}", diags.to_string());
  if (diags.has_errors()) return;
  for (const auto& inst : config.instances) {
    std::string peers, vips;
    for (const auto& p : inst.unicast_peers) peers += (peers.empty() ? "" : ",") + p.to_string();
    for (const auto& v : inst.vips)
      vips += fmt::format("{}{}/{}", vips.empty() ? "" : " ", v.address.to_string(), v.prefix_len);
    fmt::print("      {}: VRRPv{} VRID {} priority {}{}, {} {}, VIP {}\n", inst.name, inst.version,
               inst.vrid, inst.priority, inst.start_as_master ? " (MASTER)" : "",
               inst.unicast ? "unicast from" : "multicast on",
               inst.unicast ? (inst.src_ip ? inst.src_ip->to_string() : "?") + " to " + peers
                            : inst.interface,
               vips);
  }
}

void show_haproxy(const fs::path& path) {
  core::Diagnostics diags;
  auto config = lb::load_config({path.string()}, diags);
  fmt::print("   {:<26} {}\n", path.filename().string(),
             diags.has_errors() ? "ERRORS" : "ok, every keyword understood");
  if (!diags.empty()) fmt::print("{}", diags.to_string());
  if (diags.has_errors()) return;
  for (const auto& p : config.proxies) {
    if (p.kind == lb::Proxy::Kind::kDefaults) continue;
    std::string detail;
    if (!p.binds.empty()) detail += fmt::format(", {} bind(s)", p.binds.size());
    if (!p.default_backend.empty()) detail += ", to " + p.default_backend;
    if (!p.servers.empty())
      detail += fmt::format(", {} servers, balance {}", p.servers.size(),
                            lb::to_string(p.balance.algorithm));
    fmt::print("      {} {}: mode {}{}\n", lb::to_string(p.kind), p.name, lb::to_string(p.mode),
               detail);
  }
}

std::string find_examples(const DemoOptions& options) {
  if (!options.examples_dir.empty()) return options.examples_dir;
  return std::string(TANDEM_SOURCE_DIR) + "/examples/classic";
}

}  // namespace

int run_demo(const DemoOptions& options) {
  fmt::print(
      "tandem: two nodes, one address that never goes dark.\n"
      "\n"
      "The finished demo builds the classic cloud pair on this machine (node A and node B,\n"
      "each with tandem-lb and tandem-vrrp, five web servers, a client), breaks it four ways\n"
      "and prints the outage each time. This build does not have the proxy yet, so the demo\n"
      "shows what runs today and says plainly what does not yet:\n"
      "\n"
      "   [x] configuration front end: haproxy.cfg and keepalived.conf syntax, includes,\n"
      "       every error at once with file:line:col and a hint\n"
      "   [x] core runtime: event loop, clock, logging, scripts with time-outs, control socket\n"
      "   [x] tandem-vrrp: VRRP v2/v3 over IPv4 and IPv6, unicast and multicast, virtual\n"
      "       addresses, GARP/NA, tracking, notify scripts in order, reload; as root,\n"
      "       `ctest -L lab` (in build/release) runs failovers in network namespaces\n"
      "   [~] tandem-lb: serves TCP and HTTP/1.1 (keep-alive, pipelining, streaming bodies,\n"
      "       WebSocket), balancing, ACL routing, health checks, strict parsing; not yet:\n"
      "       http-request rules, stats page, reload, request logs\n"
      "   [~] tandem status and tandem check: tandem-vrrp's side and both files today\n"
      "   [ ] the failover demo in network namespaces\n"
      "\n");

  const fs::path dir = find_examples(options);
  if (!fs::is_directory(dir)) {
    fmt::print("The example files are not here ({}); run the demo from a source tree.\n",
               dir.string());
    return 1;
  }
  fmt::print("1. The classic pair's own files ({}), read as tandem reads them:\n", dir.string());
  show_keepalived(dir / "node-a.keepalived.conf");
  show_keepalived(dir / "node-b.keepalived.conf");
  show_haproxy(dir / "haproxy.cfg");

  fmt::print("\n2. A keepalived.conf with two mistakes (a quote and a brace left open):\n\n");
  std::string text = kBrokenKeepalived;
  int line_no = 1;
  fmt::print("   {:>2} | ", line_no);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      if (i + 1 < text.size()) fmt::print("\n   {:>2} | ", ++line_no);
    } else {
      fmt::print("{}", text[i]);
    }
  }
  fmt::print("\n\n   tandem-vrrp -t says:\n");
  core::Diagnostics diags;
  conf::parse_keepalived(text, std::make_shared<const std::string>("keepalived.conf"), diags);
  for (const auto& d : diags.all()) {
    std::string shown = d.to_string();
    for (size_t pos = shown.find('\n'); pos != std::string::npos; pos = shown.find('\n', pos + 4))
      shown.replace(pos, 1, "\n   ");
    fmt::print("   {}\n", shown);
  }
  fmt::print("\n   ({} error(s); keepalived would have started with a broken instance.)\n",
             diags.error_count());
  fmt::print("\nNext: `make test` runs the whole suite.\n");
  return 0;
}

}  // namespace tandem::app
