#include "app/status.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

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

// haproxy's `show info`: "Name: value" lines.
json parse_info(std::string_view text) {
  json out = json::object();
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(at, end - at);
    at = end + 1;
    size_t colon = line.find(": ");
    if (colon == std::string_view::npos) continue;
    out[std::string(line.substr(0, colon))] = std::string(line.substr(colon + 2));
  }
  return out;
}

std::vector<std::string> split_csv(std::string_view line) {
  std::vector<std::string> out;
  size_t at = 0;
  for (;;) {
    size_t comma = line.find(',', at);
    out.emplace_back(line.substr(at, comma == std::string_view::npos ? line.npos : comma - at));
    if (comma == std::string_view::npos) break;
    at = comma + 1;
  }
  return out;
}

uint64_t number(const std::string& s) {
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return v;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

json lb_status_from(std::string_view info, std::string_view csv) {
  json out;
  json i = parse_info(info);
  out["running"] = true;
  out["pid"] = number(i.value("Pid", "0"));
  out["version"] = i.value("Version", "");
  out["uptime"] = i.value("Uptime", "");
  out["threads"] = number(i.value("Nbthread", "0"));
  out["current_connections"] = number(i.value("CurrConns", "0"));
  json proxies = json::array();
  std::vector<std::string> columns;
  size_t at = 0;
  while (at < csv.size()) {
    size_t end = csv.find('\n', at);
    if (end == std::string_view::npos) end = csv.size();
    std::string_view line = csv.substr(at, end - at);
    at = end + 1;
    if (line.starts_with("# ")) {
      columns = split_csv(line.substr(2));
      continue;
    }
    if (line.empty() || columns.empty()) continue;
    std::vector<std::string> f = split_csv(line);
    auto col = [&](std::string_view name) -> std::string {
      for (size_t c = 0; c < columns.size() && c < f.size(); ++c)
        if (columns[c] == name) return f[c];
      return "";
    };
    const std::string px = col("pxname"), sv = col("svname");
    if (proxies.empty() || proxies.back()["name"] != px) {
      proxies.push_back({{"name", px}, {"servers", json::array()}});
    }
    json row = {{"status", col("status")},
                {"sessions_current", number(col("scur"))},
                {"sessions_max", number(col("smax"))},
                {"sessions_total", number(col("stot"))}};
    json& p = proxies.back();
    if (sv == "FRONTEND") {
      p["frontend"] = row;
    } else if (sv == "BACKEND") {
      row["weight"] = number(col("weight"));
      row["active_servers"] = number(col("act"));
      row["backup_servers"] = number(col("bck"));
      p["backend"] = row;
    } else {
      row["name"] = sv;
      row["weight"] = number(col("weight"));
      row["check"] = col("check_status");
      row["backup"] = col("bck") == "1";
      p["servers"].push_back(row);
    }
  }
  out["proxies"] = proxies;
  return out;
}

namespace {

Answer ask_lb(const std::string& path) {
  Answer a;
  auto info = core::control_request(path, "show info", std::chrono::seconds(3));
  if (!info) {
    a.error = info.error().to_string() + "; tandem-lb answers there only when its haproxy.cfg " +
              "has `stats socket " + path + "` in global";
    return a;
  }
  auto stat = core::control_request(path, "show stat", std::chrono::seconds(3));
  if (!stat) {
    a.error = stat.error().to_string();
    return a;
  }
  if (info->find("Name: ") == std::string::npos || !stat->starts_with("# pxname")) {
    a.error = "the answer on " + path + " is not tandem-lb's stats socket: " + info->substr(0, 200);
    return a;
  }
  a.state = lb_status_from(*info, *stat);
  a.ok = true;
  return a;
}

void print_lb(const json& s) {
  fmt::print("tandem-lb    pid {}, version {}, up {}, {} thread(s), {} connection(s)\n",
             s.value("pid", 0), s.value("version", ""), s.value("uptime", ""),
             s.value("threads", 0), s.value("current_connections", 0));
  fmt::print("  {:<16} {:<16} {:<10} {:>6} {:>16}\n", "PROXY", "SERVER", "STATUS", "WEIGHT",
             "SESSIONS cur/max/total");
  auto row = [](const std::string& px, const std::string& sv, const json& r, bool weight) {
    fmt::print("  {:<16} {:<16} {:<10} {:>6} {:>16}\n", px, sv, r.value("status", ""),
               weight ? std::to_string(r.value("weight", 0)) : std::string(),
               fmt::format("{}/{}/{}", r.value("sessions_current", 0), r.value("sessions_max", 0),
                           r.value("sessions_total", 0)));
  };
  for (const auto& p : s.value("proxies", json::array())) {
    const std::string name = p.value("name", "");
    if (p.contains("frontend")) row(name, "FRONTEND", p["frontend"], false);
    for (const auto& sv : p.value("servers", json::array()))
      row(name, sv.value("name", ""), sv, true);
    if (p.contains("backend")) row(name, "BACKEND", p["backend"], true);
  }
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
  Answer lb = ask_lb(options.lb_socket);
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
      print_lb(lb.state);
    } else {
      fmt::print("tandem-lb    {}\n", lb.error);
    }
  }
  return vrrp.ok && lb.ok ? 0 : (vrrp.ok || lb.ok ? 1 : 2);
}

}  // namespace tandem::app
