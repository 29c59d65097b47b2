// The balancer table: the factory choosing an algorithm file, and what all algorithms share
// (usability, effective weights with slowstart, active/backup groups, haproxy's server map).
#include "lb/balance/balancer.h"

#include <algorithm>
#include <numeric>
#include <optional>
#include <vector>

#include "lb/balance/internal.h"

namespace tandem::lb {
namespace {

// value * num / den for num < den without overflowing 64 bits on long slowstarts.
uint64_t scale(uint64_t value, uint64_t num, uint64_t den) {
  while (den > (uint64_t{1} << 48)) {
    num >>= 8;
    den >>= 8;
  }
  return value * num / den;
}

// Elapsed and total slowstart when `s` is ramping up at `now`, else nullopt (full speed).
std::optional<std::pair<uint64_t, uint64_t>> ramp(const ServerView& s, core::TimePoint now) {
  if (s.slowstart <= core::Duration::zero()) return std::nullopt;
  const core::Duration elapsed = now - s.up_since;
  if (elapsed >= s.slowstart) return std::nullopt;
  const uint64_t e = elapsed > core::Duration::zero() ? static_cast<uint64_t>(elapsed.count()) : 0;
  return std::pair{e, static_cast<uint64_t>(s.slowstart.count())};
}

}  // namespace

std::string_view to_string(Algorithm a) {
  switch (a) {
    case Algorithm::kRoundRobin:
      return "roundrobin";
    case Algorithm::kStaticRr:
      return "static-rr";
    case Algorithm::kLeastConn:
      return "leastconn";
    case Algorithm::kFirst:
      return "first";
    case Algorithm::kSource:
      return "source";
    case Algorithm::kUri:
      return "uri";
    case Algorithm::kHdr:
      return "hdr";
    case Algorithm::kRandom:
      return "random";
  }
  return "?";
}

uint64_t SplitMix64::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

bool is_usable(const ServerView& s) {
  return s.up && !s.maint && !s.draining && s.weight > 0;
}

uint32_t effective_weight(const ServerView& s, core::TimePoint now) {
  if (!is_usable(s)) return 0;
  const uint32_t weight = std::min(s.weight, kMaxWeight);
  const auto r = ramp(s, now);
  if (!r) return weight * kWeightScale;
  // haproxy's slowstart steps: the weight times 1 + kWeightScale * elapsed / slowstart, in
  // whole seconds (slowstart rounded up), so a starting server weighs 1/16 of its weight.
  const uint64_t second = static_cast<uint64_t>(core::Duration(std::chrono::seconds(1)).count());
  const uint64_t elapsed_s = r->first / second;
  const uint64_t slowstart_s = (r->second + second - 1) / second;
  const uint64_t step = (kWeightScale * elapsed_s + slowstart_s) / slowstart_s;
  return weight * static_cast<uint32_t>(std::min<uint64_t>(step, kWeightScale));
}

uint32_t effective_maxconn(const ServerView& s, core::TimePoint now) {
  if (s.maxconn == 0) return 0;
  const auto r = ramp(s, now);
  if (!r) return s.maxconn;
  return std::max<uint32_t>(1, static_cast<uint32_t>(scale(s.maxconn, r->first, r->second)));
}

bool has_free_slot(const ServerView& s, core::TimePoint now) {
  if (s.maxconn == 0) return true;
  return s.queued == 0 && s.active_conns < effective_maxconn(s, now);
}

BalancerPtr make_balancer(const BalanceSpec& spec) {
  switch (spec.algorithm) {
    case Algorithm::kRoundRobin:
      return detail::make_round_robin(spec);
    case Algorithm::kStaticRr:
      return detail::make_static_rr(spec);
    case Algorithm::kLeastConn:
      return detail::make_least_conn(spec);
    case Algorithm::kFirst:
      return detail::make_first(spec);
    case Algorithm::kSource:
    case Algorithm::kUri:
    case Algorithm::kHdr:
      return spec.hash_method == HashMethod::kConsistent ? detail::make_consistent_hash(spec)
                                                         : detail::make_map_hash(spec);
    case Algorithm::kRandom:
      return detail::make_random(spec);
  }
  return detail::make_round_robin(spec);
}

namespace detail {

Group select_group(std::span<const ServerView> servers, bool all_backups) {
  Group g;
  size_t first_backup = kAll;
  for (size_t i = 0; i < servers.size(); ++i) {
    const ServerView& s = servers[i];
    if (!is_usable(s)) continue;
    if (!s.backup) {
      g.kind = Group::Kind::kActive;
      return g;
    }
    if (first_backup == kAll || s.id < servers[first_backup].id) first_backup = i;
  }
  if (first_backup != kAll) {
    g.kind = Group::Kind::kBackup;
    if (!all_backups) g.only = first_backup;
  }
  return g;
}

std::vector<uint32_t> server_map(std::span<const ServerView> servers, bool all_backups) {
  // Weights in units of the gcd of all configured weights (0 weights left out).
  uint32_t gcd = 0;
  for (const ServerView& s : servers) gcd = std::gcd(gcd, std::min(s.weight, kMaxWeight));
  if (gcd == 0) gcd = 1;
  const auto weight = [&](const ServerView& s) { return std::min(s.weight, kMaxWeight) / gcd; };

  const Group g = select_group(servers, all_backups);
  if (g.kind == Group::Kind::kNone) return {};
  const bool backup = g.kind == Group::Kind::kBackup;
  const auto member = [&](const ServerView& s) { return s.backup == backup && is_usable(s); };
  int64_t total = 0;
  if (g.only != kAll) {
    total = weight(servers[g.only]);
  } else {
    for (const ServerView& s : servers) {
      if (member(s)) total += weight(s);
    }
  }

  std::vector<uint32_t> slots;
  slots.reserve(static_cast<size_t>(total));
  std::vector<int64_t> score(servers.size(), 0);
  for (int64_t slot = 0; slot < total; ++slot) {
    std::optional<size_t> best;
    int64_t best_rank = 0;
    for (size_t i = 0; i < servers.size(); ++i) {
      if (!member(servers[i])) continue;
      if (total == 1) {  // one slot: the first member (the first backup), whatever the weights
        best = g.only != kAll ? g.only : i;
        break;
      }
      score[i] += weight(servers[i]);
      // The server furthest ahead of its share; ties go to the earlier declared one.
      const int64_t rank = (score[i] + total) / total;
      if (!best || rank > best_rank) {
        best = i;
        best_rank = rank;
      }
    }
    if (!best) break;
    slots.push_back(static_cast<uint32_t>(*best));
    score[*best] -= total;
  }
  return slots;
}

}  // namespace detail
}  // namespace tandem::lb
