#include "lb/stats/view.h"

#include <fmt/format.h>

namespace tandem::lb::stats {

std::string_view to_string(AdminState s) {
  switch (s) {
    case AdminState::kReady:
      return "ready";
    case AdminState::kDrain:
      return "drain";
    case AdminState::kMaint:
      return "maint";
  }
  return "?";
}

// As haproxy 2.6's stats_fill_sv_stats: maintenance first, then the operational state with
// the check counter ("UP 1/3": one more failure of three takes it down).
std::string ServerView::status() const {
  if (admin == AdminState::kMaint) return "MAINT";
  const uint32_t top = rise + fall - 1;
  switch (op) {
    case OpState::kRunning: {
      const bool going_down = checked && health < top;
      if (admin == AdminState::kDrain) {
        return going_down ? fmt::format("DRAIN {}/{}", health - rise + 1, fall) : "DRAIN";
      }
      if (going_down) return fmt::format("UP {}/{}", health - rise + 1, fall);
      return checked ? "UP" : "no check";
    }
    case OpState::kStopping:
      if (!checked || health == top) return "NOLB";
      return fmt::format("NOLB {}/{}", health - rise + 1, fall);
    case OpState::kStopped:
      if (checked && health > 0) return fmt::format("DOWN {}/{}", health, rise);
      return "DOWN";
  }
  return "DOWN";
}

std::string_view ServerView::state_label() const {
  if (admin == AdminState::kMaint) return "MAINT";
  switch (op) {
    case OpState::kRunning:
      return admin == AdminState::kDrain ? "DRAIN" : "UP";
    case OpState::kStopping:
      return "NOLB";
    case OpState::kStopped:
      return "DOWN";
  }
  return "DOWN";
}

uint32_t ProxyView::active_servers() const {
  uint32_t n = 0;
  for (const auto& s : servers) n += !s.backup && s.usable();
  return n;
}

uint32_t ProxyView::backup_servers() const {
  uint32_t n = 0;
  for (const auto& s : servers) n += s.backup && s.usable();
  return n;
}

bool ProxyView::backend_up() const {
  return !stopped && (active_servers() > 0 || backup_servers() > 0);
}

uint32_t ProxyView::backend_weight() const {
  uint32_t active = 0, backup = 0;
  for (const auto& s : servers) {
    if (!s.usable()) continue;
    (s.backup ? backup : active) += s.weight;
  }
  return active > 0 ? active : backup;
}

const ServerView* ProxyView::find_server(std::string_view server) const {
  for (const auto& s : servers) {
    if (s.name == server) return &s;
  }
  return nullptr;
}

ServerView* ProxyView::find_server(std::string_view server) {
  for (auto& s : servers) {
    if (s.name == server) return &s;
  }
  return nullptr;
}

const ProxyView* StatsView::find_proxy(std::string_view name) const {
  for (const auto& p : proxies) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

ProxyView* StatsView::find_proxy(std::string_view name) {
  for (auto& p : proxies) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const ProxyView* StatsView::find_backend(std::string_view name) const {
  for (const auto& p : proxies) {
    if (p.name == name && p.is_backend()) return &p;
  }
  return nullptr;
}

}  // namespace tandem::lb::stats
