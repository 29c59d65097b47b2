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

}  // namespace

core::Result<std::vector<SavedServer>> parse_servers_state(std::string_view text) {
  std::vector<SavedServer> out;
  bool versioned = false;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    auto w = words(line);
    if (!versioned) {
      if (w.size() != 1 || w[0] != "1")
        return core::fail(fmt::format("line {}: not a version 1 server state dump", line_no));
      versioned = true;
      continue;
    }
    // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight
    // srv_iweight ...
    uint32_t admin = 0;
    SavedServer s;
    if (w.size() < 9 || !to_u32(w[6], admin) || !to_u32(w[7], s.weight) ||
        !to_u32(w[8], s.initial_weight))
      return core::fail(fmt::format("line {}: malformed server line", line_no));
    s.backend = std::string(w[1]);
    s.server = std::string(w[3]);
    // haproxy's admin flags: 0x01 forced maintenance (FMAINT), 0x04 `disabled` in the
    // configuration (CMAINT; haproxy writes 0x05 for such a server: the file decides it, not
    // an operator), 0x08 forced drain (FDRAIN).
    if (admin & 0x04) {
      s.admin = AdminState::kMaint;
      s.config_maint = true;
    } else if (admin & 0x01) {
      s.admin = AdminState::kMaint;
    } else if (admin & 0x08) {
      s.admin = AdminState::kDrain;
    }
    out.push_back(std::move(s));
  }
  if (!versioned) return core::fail("empty server state dump");
  return out;
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
    if (!s.config_maint && s.admin != sv->admin) {
      c.set_admin = true;
      c.admin = s.admin;
    }
    if (s.initial_weight == sv->initial_weight && s.weight != sv->weight) {
      c.set_weight = true;
      c.weight = s.weight;
    }
    if (c.set_admin || c.set_weight) out.push_back(std::move(c));
  }
  return out;
}

}  // namespace tandem::lb::stats
