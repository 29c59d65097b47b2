#include "lb/stats/server_state.h"

#include <charconv>

#include <fmt/format.h>

namespace tandem::lb::stats {

namespace {

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

bool to_u32(std::string_view s, uint32_t& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

// haproxy's srv_admin_state bits.
constexpr uint32_t kForcedMaint = 0x01;  // SRV_ADMF_FMAINT: set by an operator
constexpr uint32_t kConfigMaint = 0x04;  // SRV_ADMF_CMAINT: `disabled` in the configuration
constexpr uint32_t kForcedDrain = 0x08;  // SRV_ADMF_FDRAIN

// One server line (version 1): be_id be_name srv_id srv_name srv_addr srv_op_state
// srv_admin_state srv_uweight srv_iweight [... srv_port (19th) ...]. haproxy writes 25 fields;
// the first 9 are what a state needs. Empty on success, else why the line is bad.
std::string parse_server_line(std::string_view line, SavedServer& s) {
  auto w = words(line);
  if (w.size() < 9) return fmt::format("{} fields, at least 9 expected", w.size());
  uint32_t id = 0, op = 0, admin = 0;
  if (!to_u32(w[0], id)) return fmt::format("be_id '{}' is not a number", w[0]);
  if (!to_u32(w[2], id)) return fmt::format("srv_id '{}' is not a number", w[2]);
  if (!to_u32(w[5], op) || op > 3) return fmt::format("srv_op_state '{}' is not 0..3", w[5]);
  if (!to_u32(w[6], admin) || admin > 0xff)
    return fmt::format("srv_admin_state '{}' is not a number of 0..255", w[6]);
  if (!to_u32(w[7], s.weight) || s.weight > 256)
    return fmt::format("srv_uweight '{}' is not 0..256", w[7]);
  if (!to_u32(w[8], s.initial_weight) || s.initial_weight > 256)
    return fmt::format("srv_iweight '{}' is not 0..256", w[8]);
  s.backend = std::string(w[1]);
  s.server = std::string(w[3]);
  s.address = std::string(w[4]);
  // 1 is haproxy's STARTING (UP, warming up in slowstart): running as far as checks go.
  s.op = op == 0 ? OpState::kStopped : op == 3 ? OpState::kStopping : OpState::kRunning;
  if (uint32_t port = 0; w.size() > 18 && to_u32(w[18], port) && port <= 65535)
    s.port = static_cast<uint16_t>(port);
  // haproxy writes 0x05 for a server `disabled` in its configuration: the configuration's
  // state, not an operator's.
  s.config_maint = (admin & kConfigMaint) != 0;
  s.admin = AdminState::kReady;
  if (admin & (kForcedMaint | kConfigMaint)) {
    s.admin = AdminState::kMaint;
  } else if (admin & kForcedDrain) {
    s.admin = AdminState::kDrain;
  }
  return {};
}

// Splits off the first line of `text` (without "\r\n" or "\n").
std::string_view next_line(std::string_view& text) {
  size_t nl = text.find('\n');
  std::string_view line = text.substr(0, nl);
  text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

bool blank(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
}

constexpr std::string_view kSavedAt = "# tandem-saved-at ";

}  // namespace

core::Result<std::vector<SavedServer>> parse_servers_state(std::string_view text) {
  std::vector<SavedServer> out;
  bool versioned = false;
  size_t line_no = 0;
  while (!text.empty()) {
    std::string_view line = next_line(text);
    ++line_no;
    if (blank(line) || line.front() == '#') continue;
    if (!versioned) {
      auto w = words(line);
      if (w.size() != 1 || w[0] != "1")
        return core::fail(fmt::format("line {}: not a version 1 server state dump", line_no));
      versioned = true;
      continue;
    }
    SavedServer s;
    if (std::string why = parse_server_line(line, s); !why.empty())
      return core::fail(fmt::format("line {}: malformed server line: {}", line_no, why));
    out.push_back(std::move(s));
  }
  if (!versioned) return core::fail("empty server state dump");
  return out;
}

StateFile parse_state_file(std::string_view text, std::string_view name) {
  StateFile out;
  bool versioned = false;
  size_t line_no = 0;
  while (!text.empty()) {
    std::string_view line = next_line(text);
    ++line_no;
    if (!versioned) {
      // As haproxy, the version is the file's first line.
      auto w = words(line);
      if (w.size() != 1 || w[0] != "1") {
        out.warnings.push_back(fmt::format(
            "{}:{}: not a version 1 server state file (its first line must be '1'); file ignored",
            name, line_no));
        return out;
      }
      versioned = true;
      continue;
    }
    if (blank(line) || line.front() == '#') continue;
    SavedServer s;
    if (std::string why = parse_server_line(line, s); !why.empty()) {
      out.warnings.push_back(
          fmt::format("{}:{}: malformed server line skipped: {}", name, line_no, why));
      continue;
    }
    out.servers.push_back(std::move(s));
  }
  if (!versioned) out.warnings.push_back(fmt::format("{}: empty server state file", name));
  return out;
}

std::string state_file_path(const Global& global, const Proxy& backend) {
  std::string file;
  switch (backend.load_server_state) {
    case Proxy::ServerStateFrom::kNone:
      return {};
    case Proxy::ServerStateFrom::kGlobal:
      file = global.server_state_file;
      break;
    case Proxy::ServerStateFrom::kLocal:
      file = backend.server_state_file_name.empty() ? backend.name : backend.server_state_file_name;
      break;
  }
  if (file.empty() || file.front() == '/' || global.server_state_base.empty()) return file;
  std::string path = global.server_state_base;
  if (path.back() != '/') path += '/';
  return path + file;
}

std::string with_saved_time(std::string dump, int64_t unix_ns) {
  return fmt::format("{}{}\n", kSavedAt, unix_ns) + dump;
}

std::optional<int64_t> saved_time(std::string_view dump) {
  while (!dump.empty()) {
    std::string_view line = next_line(dump);
    if (!line.starts_with(kSavedAt)) continue;
    line.remove_prefix(kSavedAt.size());
    int64_t ns = 0;
    auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), ns);
    if (ec == std::errc() && p == line.data() + line.size()) return ns;
    return std::nullopt;
  }
  return std::nullopt;
}

StateSource choose_state_source(bool handover_has_backend, std::optional<int64_t> handover_ns,
                                const std::optional<FileInfo>& file) {
  const bool from_file = file.has_value() && file->found;
  if (!handover_has_backend) return from_file ? StateSource::kFile : StateSource::kNone;
  if (!from_file || !handover_ns) return StateSource::kHandOver;
  return file->mtime_ns > *handover_ns ? StateSource::kFile : StateSource::kHandOver;
}

std::vector<StateChange> changes_to_restore(const StatsView& view,
                                            const std::vector<SavedServer>& saved) {
  std::vector<StateChange> out;
  for (const SavedServer& s : saved) {
    const ProxyView* p = view.find_proxy(s.backend);
    if (p == nullptr || !p->is_backend()) continue;
    const ServerView* sv = p->find_server(s.server);
    if (sv == nullptr) continue;
    StateChange c;
    c.backend = s.backend;
    c.server = s.server;
    // `disabled` added to or removed from the configuration since: the configuration wins.
    if (s.config_maint == sv->maint_from_config && !sv->maint_from_config) {
      AdminState want = s.admin;
      // A drain saved from a configured weight of 0 ends when the weight is no longer 0.
      if (want == AdminState::kDrain && s.initial_weight == 0 && sv->initial_weight > 0)
        want = AdminState::kReady;
      if (want != sv->admin) {
        c.set_admin = true;
        c.admin = want;
      }
    }
    // A checked server saved DOWN by its checks (not because it was in maintenance) starts
    // DOWN, and its checks bring it UP, as haproxy does with srv_op_state 0.
    const AdminState admin_now = c.set_admin ? c.admin : sv->admin;
    if (sv->checked && s.op == OpState::kStopped && s.admin != AdminState::kMaint &&
        admin_now != AdminState::kMaint && sv->op != OpState::kStopped)
      c.start_down = true;
    if (s.initial_weight == sv->initial_weight && s.weight != sv->weight) {
      c.set_weight = true;
      c.weight = s.weight;
    }
    const bool address_differs = s.address != "-" && !sv->host.empty() && s.address != sv->host;
    const bool port_differs = s.port && *s.port != 0 && sv->port != 0 && *s.port != sv->port;
    if (address_differs || port_differs) {
      c.note = fmt::format(
          "saved address {}:{} differs from the configuration's {}:{}; the "
          "configuration's is kept",
          s.address, s.port ? *s.port : 0, sv->host, sv->port);
    }
    if (c.set_admin || c.set_weight || c.start_down || !c.note.empty()) out.push_back(std::move(c));
  }
  return out;
}

}  // namespace tandem::lb::stats
