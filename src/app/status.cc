#include "app/status.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/control_socket.h"

namespace tandem::app {

using nlohmann::json;

namespace {

// One daemon's JSON state, or why it could not be had.
struct Answer {
  bool ok = false;
  json state;
  std::string error;
};

Answer ask(const std::string& path, std::string_view command) {
  Answer a;
  auto reply = core::control_request(path, command, std::chrono::seconds(3));
  if (!reply) {
    a.error = reply.error().to_string();
    return a;
  }
  a.state = json::parse(*reply, nullptr, false);
  if (a.state.is_discarded()) {
    a.error = "the answer on " + path + " is not JSON: " + reply->substr(0, 200);
    return a;
  }
  a.ok = true;
  return a;
}

void print_vrrp(const json& s) {
  fmt::print("tandem-vrrp  {}  (router_id {})\n", s.value("config", ""), s.value("router_id", ""));
  fmt::print("  {:<14} {:<7} {:>4} {:>9} {:<16} {:<9} {}\n", "INSTANCE", "STATE", "VRID",
             "PRIORITY", "MASTER", "MODE", "VIRTUAL ADDRESSES");
  for (const auto& i : s.value("instances", json::array())) {
    std::string vips;
    for (const auto& v : i.value("virtual_addresses", json::array()))
      vips += (vips.empty() ? "" : " ") + v.get<std::string>();
    std::string since;
    const auto& history = i.value("transitions", json::array());
    if (!history.empty()) since = "since " + history.back().value("at", "");
    fmt::print("  {:<14} {:<7} {:>4} {:>9} {:<16} {:<9} {}\n", i.value("name", ""),
               i.value("state", ""), i.value("vrid", 0),
               fmt::format("{}/{}", i.value("effective_priority", 0), i.value("priority", 0)),
               i.value("master", ""), i.value("mode", ""), vips);
    if (!since.empty()) fmt::print("  {:<14} {}\n", "", since);
    for (const auto& t : i.value("tracked", json::array()))
      if (!t.value("up", true))
        fmt::print("  {:<14} tracked {} is DOWN (weight {})\n", "", t.value("name", ""),
                   t.value("weight", 0));
  }
}

}  // namespace

int run_status(const StatusOptions& options) {
  Answer vrrp = ask(options.vrrp_socket, "show state json");
  Answer lb = ask(options.lb_socket, "show status json");
  if (options.json) {
    json out;
    out["tandem-vrrp"] = vrrp.ok ? vrrp.state : json{{"running", false}, {"error", vrrp.error}};
    out["tandem-lb"] = lb.ok ? lb.state : json{{"running", false}, {"error", lb.error}};
    fmt::print("{}\n", out.dump(2));
  } else {
    if (vrrp.ok) {
      print_vrrp(vrrp.state);
    } else {
      fmt::print("tandem-vrrp  {}\n", vrrp.error);
    }
    fmt::print("\n");
    if (lb.ok) {
      fmt::print("tandem-lb    {}\n", lb.state.dump());
    } else {
      fmt::print("tandem-lb    {}\n", lb.error);
    }
  }
  return vrrp.ok && lb.ok ? 0 : (vrrp.ok || lb.ok ? 1 : 2);
}

}  // namespace tandem::app
