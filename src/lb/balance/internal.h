// What the algorithm files share and nobody else needs: which servers a pick may choose from
// (actives, else backups), the common outcome logic, haproxy's server map, the factories.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "lb/balance/balancer.h"

namespace tandem::lb::detail {

inline constexpr size_t kAll = static_cast<size_t>(-1);

// The servers a pick chooses among: the usable actives; when there is none, the first usable
// backup (lowest id), or all usable backups with `option allbackups`.
struct Group {
  enum class Kind : uint8_t { kNone, kActive, kBackup };
  Kind kind = Kind::kNone;
  size_t only = kAll;  // with kBackup and no allbackups: the index of the first backup

  bool contains(const ServerView& s, size_t index) const {
    return kind != Kind::kNone && s.backup == (kind == Kind::kBackup) && is_usable(s) &&
           (only == kAll || index == only);
  }
};

Group select_group(std::span<const ServerView> servers, bool all_backups);

// A server the pick may return now: in the group, a free slot, and not the excluded one.
inline bool is_candidate(const ServerView& s, size_t index, const Group& g,
                         std::optional<uint32_t> exclude, core::TimePoint now) {
  return g.contains(s, index) && (!exclude || s.id != *exclude) && has_free_slot(s, now);
}

// The lowest-index candidate: the fallback of table-driven algorithms when their table is stale
// (a server came up after the last rebuild), so a usable pool never reads as full.
inline std::optional<size_t> first_candidate(std::span<const ServerView> servers, const Group& g,
                                             std::optional<uint32_t> exclude, core::TimePoint now) {
  for (size_t i = 0; i < servers.size(); ++i) {
    if (is_candidate(servers[i], i, g, exclude, now)) return i;
  }
  return std::nullopt;
}

// The outcome rules every algorithm shares. `choose(group, exclude)` returns the index of a
// candidate or nullopt; it is asked again without the exclusion when that left nobody, since
// retrying on the same server beats failing (haproxy's "avoid" works the same way).
template <class Choose>
PickResult pick_in_group(std::span<const ServerView> servers, bool all_backups,
                         std::optional<uint32_t> exclude, Choose&& choose) {
  const Group g = select_group(servers, all_backups);
  if (g.kind == Group::Kind::kNone) return PickResult::no_server();
  std::optional<size_t> i = choose(g, exclude);
  if (!i && exclude) i = choose(g, std::nullopt);
  if (!i) return PickResult::all_full();
  return PickResult::server(servers[*i].id);
}

// The outcome of a keyed pick (hashing), as haproxy's: the key's own server when it can take
// the request now, kServerFull (queue for it) when it is at maxconn or others wait for it.
// `home(group, exclude)` returns the key's server ignoring fullness; with no home at all (a
// stale table) the first candidate of the group takes the request.
template <class Home>
PickResult pick_keyed(std::span<const ServerView> servers, bool all_backups,
                      std::optional<uint32_t> exclude, core::TimePoint now, Home&& home) {
  const Group g = select_group(servers, all_backups);
  if (g.kind == Group::Kind::kNone) return PickResult::no_server();
  std::optional<size_t> i = home(g, exclude);
  if (!i && exclude) i = home(g, std::nullopt);
  if (!i) {
    i = first_candidate(servers, g, exclude, now);
    if (!i) return PickResult::all_full();
  }
  const ServerView& s = servers[*i];
  return has_free_slot(s, now) ? PickResult::server(s.id) : PickResult::server_full(s.id);
}

// haproxy's server map for static-rr and map-based hashing: the slots of the group a pick
// uses (the usable actives, else the usable backups), each server in weight / gcd slots,
// interleaved by declaration order (the first server declared opens the table and wins ties).
// The gcd is taken over every server's weight, as haproxy takes it at startup. Without
// allbackups the table is as long as the first backup's weight, yet filled from all usable
// backups as haproxy 2.6 does. Costs slots * servers at rebuild.
std::vector<uint32_t> server_map(std::span<const ServerView> servers, bool all_backups);

// Maps 64 random bits onto [0, n) without division; the bias is below 2^-32.
inline uint32_t bounded(uint64_t r, uint32_t n) {
  return static_cast<uint32_t>(((r >> 32) * n) >> 32);
}

BalancerPtr make_round_robin(const BalanceSpec& spec);
BalancerPtr make_static_rr(const BalanceSpec& spec);
BalancerPtr make_least_conn(const BalanceSpec& spec);
BalancerPtr make_first(const BalanceSpec& spec);
BalancerPtr make_map_hash(const BalanceSpec& spec);
BalancerPtr make_consistent_hash(const BalanceSpec& spec);
BalancerPtr make_random(const BalanceSpec& spec);

}  // namespace tandem::lb::detail
