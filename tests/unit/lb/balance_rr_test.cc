// Tests of `roundrobin` (haproxy's fwrr, dynamic) and `static-rr` (haproxy's server map): the
// exact sequences were captured from Debian's haproxy 2.6.12 (nbthread 1, one request per
// connection, `set server`/`set weight` on its stats socket between requests), plus shares.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "lb/balance/balancer.h"

namespace tandem::lb {
namespace {

using namespace std::chrono_literals;
const core::TimePoint kT0{std::chrono::seconds(1000)};

ServerView server(uint32_t id, uint32_t weight) {
  ServerView s;
  s.id = id;
  s.weight = weight;
  return s;
}

BalancerPtr make(Algorithm a, std::span<const ServerView> pool) {
  BalanceSpec spec;
  spec.algorithm = a;
  BalancerPtr b = make_balancer(spec);
  b->rebuild(pool, kT0);
  return b;
}

// Picks `n` times and spells the result with one letter per id (1 = a).
std::string sequence(Balancer& b, std::span<const ServerView> pool, int n,
                     core::TimePoint now = kT0) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    const PickResult r = b.pick({}, pool, now);
    out += r.picked() ? static_cast<char>('a' + r.id - 1) : '-';
  }
  return out;
}

std::map<uint32_t, int> counts(Balancer& b, std::span<const ServerView> pool, int n,
                               core::TimePoint now = kT0) {
  std::map<uint32_t, int> c;
  for (int i = 0; i < n; ++i) {
    const PickResult r = b.pick({}, pool, now);
    if (r.picked()) ++c[r.id];
  }
  return c;
}

// Picks and runtime events, spelled as in the captures: ids, "|" for an event.
// "H" is a pick whose connection stays open (the server's active count grows); release ends
// every such connection. With maxconn 1 a held server is full.
struct Step {
  int picks = 0;
  std::function<void(std::vector<ServerView>&)> event;
  bool hold = false;
  bool release = false;
};

std::string run(Algorithm a, std::vector<ServerView> pool, const std::vector<Step>& steps,
                bool all_backups = false) {
  BalanceSpec spec;
  spec.algorithm = a;
  spec.all_backups = all_backups;
  BalancerPtr b = make_balancer(spec);
  b->rebuild(pool, kT0);
  std::string out;
  for (const Step& step : steps) {
    if (step.hold) {
      const PickResult r = b->pick({}, pool, kT0);
      if (r.picked()) ++pool[r.id - 1].active_conns;  // ids are index + 1 here
      out += "H ";
      continue;
    }
    if (step.release) {
      for (ServerView& s : pool) s.active_conns = 0;
      continue;
    }
    if (step.event) {
      step.event(pool);
      b->rebuild(pool, kT0);
      out += "| ";
      continue;
    }
    for (int i = 0; i < step.picks; ++i) {
      const PickResult r = b->pick({}, pool, kT0);
      out += (r.picked() ? std::to_string(r.id) : std::string("-")) + " ";
    }
  }
  if (!out.empty()) out.pop_back();
  return out;
}

Step picks(int n) {
  return {n, nullptr};
}
Step hold() {
  return {0, nullptr, true, false};
}
Step release() {
  return {0, nullptr, false, true};
}
Step maint(size_t index, bool on) {
  return {0, [=](std::vector<ServerView>& p) { p[index].maint = on; }};
}
Step weight(size_t index, uint32_t w) {
  return {0, [=](std::vector<ServerView>& p) { p[index].weight = w; }};
}

std::vector<ServerView> with_backups(const std::vector<uint32_t>& weights,
                                     const std::vector<uint32_t>& backup_weights,
                                     uint32_t maxconn = 0) {
  std::vector<ServerView> pool;
  for (uint32_t w : weights) pool.push_back(server(static_cast<uint32_t>(pool.size() + 1), w));
  for (uint32_t w : backup_weights) {
    pool.push_back(server(static_cast<uint32_t>(pool.size() + 1), w));
    pool.back().backup = true;
  }
  for (ServerView& s : pool) s.maxconn = maxconn;
  return pool;
}

// Captured from haproxy 2.6 (see the top of the file).
TEST(RoundRobin, HaproxySequences) {
  EXPECT_EQ(run(Algorithm::kRoundRobin, with_backups({5, 1, 1}, {}), {picks(21)}),
            "1 1 1 2 1 1 3 1 1 1 2 1 1 3 1 1 1 2 1 1 3");
  EXPECT_EQ(run(Algorithm::kRoundRobin, with_backups({3, 1, 2}, {}), {picks(12)}),
            "1 3 1 2 1 3 1 3 1 2 1 3");
  EXPECT_EQ(run(Algorithm::kRoundRobin, with_backups({10, 3, 7, 1}, {}), {picks(42)}),
            "1 3 1 2 1 3 1 3 1 4 3 1 2 1 3 1 3 1 2 1 3 "
            "1 3 1 2 1 3 1 3 1 4 3 1 2 1 3 1 3 1 2 1 3");
  // Backups stay out while an active is up.
  EXPECT_EQ(run(Algorithm::kRoundRobin, with_backups({3, 1}, {1, 2}), {picks(8)}),
            "1 1 1 2 1 1 1 2");
}

TEST(RoundRobin, HaproxySequenceAcrossDownAndUp) {
  EXPECT_EQ(run(Algorithm::kRoundRobin, with_backups({3, 1, 2}, {}),
                {picks(7), maint(0, true), picks(7), maint(0, false), picks(12)}),
            "1 3 1 2 1 3 1 | 3 3 2 3 3 2 3 | 3 1 2 1 3 1 3 1 2 1 3 1");
}

TEST(RoundRobin, HaproxySequenceAcrossWeightChanges) {
  EXPECT_EQ(
      run(Algorithm::kRoundRobin, with_backups({3, 1, 2}, {}), {picks(5), weight(1, 5), picks(20)}),
      "1 3 1 2 1 | 3 1 2 2 3 1 2 1 2 3 2 1 2 2 3 1 2 1 2 3");
}

TEST(RoundRobin, HaproxySequenceWithAllBackups) {
  EXPECT_EQ(run(Algorithm::kRoundRobin, with_backups({2, 1}, {3, 1}),
                {picks(3), maint(0, true), maint(1, true), picks(8)}, /*all_backups=*/true),
            "1 1 2 | | 3 3 3 4 3 3 3 4");
}

TEST(RoundRobin, HaproxySequenceWithFullServers) {
  // maxconn 1 everywhere: a held server is skipped, consumes its turn and keeps its place.
  EXPECT_EQ(run(Algorithm::kRoundRobin, with_backups({3, 1, 2}, {}, 1),
                {picks(2), hold(), picks(6), release(), picks(6)}),
            "1 3 H 2 3 3 2 3 3 1 2 1 3 1 3");
  EXPECT_EQ(run(Algorithm::kRoundRobin, with_backups({5, 1, 1}, {}, 1),
                {picks(4), hold(), picks(3), hold(), picks(5), release(), picks(10)}),
            "1 1 1 2 H 3 2 3 H 3 3 3 3 3 1 1 1 1 1 1 1 1 1 1");
  EXPECT_EQ(run(Algorithm::kRoundRobin, with_backups({10, 3, 7, 1}, {}, 1),
                {picks(3), hold(), hold(), hold(), picks(9), release(), picks(12)}),
            "1 3 1 H H H 4 4 4 4 4 4 4 4 4 1 1 1 1 1 3 1 3 1 1 3 1");
  EXPECT_EQ(run(Algorithm::kRoundRobin, with_backups({4, 3, 2, 1}, {}, 1),
                {picks(7), hold(), picks(2), hold(), picks(9), release(), picks(10)}),
            "1 2 1 3 2 1 4 H 2 3 H 3 4 3 3 4 3 3 4 3 1 1 1 2 1 3 2 1 4 1");
}

TEST(RoundRobin, ExcludedServerTakenOnlyWhenAlone) {
  std::vector<ServerView> pool = with_backups({1, 1, 1}, {});
  BalanceSpec spec;
  spec.algorithm = Algorithm::kRoundRobin;
  BalancerPtr b = make_balancer(spec);
  b->rebuild(pool, kT0);
  PickContext ctx;
  ctx.exclude = 1;
  std::string out;
  for (int i = 0; i < 6; ++i) out += std::to_string(b->pick(ctx, pool, kT0).id);
  EXPECT_EQ(out, "232323");
  pool[1].up = false;
  pool[2].up = false;
  EXPECT_EQ(b->pick(ctx, pool, kT0), PickResult::server(1));
  pool[0].maxconn = 1;
  pool[0].active_conns = 1;
  EXPECT_EQ(b->pick(ctx, pool, kT0), PickResult::all_full());
}

TEST(RoundRobin, ExactCountsInEveryCycle) {
  const std::vector<ServerView> pool{server(1, 7), server(2, 3), server(3, 1), server(4, 5)};
  auto b = make(Algorithm::kRoundRobin, pool);
  for (int cycle = 0; cycle < 50; ++cycle) {
    const auto c = counts(*b, pool, 16);
    EXPECT_EQ(c.at(1), 7);
    EXPECT_EQ(c.at(2), 3);
    EXPECT_EQ(c.at(3), 1);
    EXPECT_EQ(c.at(4), 5);
  }
}

TEST(RoundRobin, TenThousandPicksMatchWeightsExactly) {
  const std::vector<ServerView> pool{server(1, 1), server(2, 2), server(3, 3), server(4, 4)};
  auto b = make(Algorithm::kRoundRobin, pool);
  const auto c = counts(*b, pool, 10'000);
  EXPECT_EQ(c.at(1), 1000);
  EXPECT_EQ(c.at(2), 2000);
  EXPECT_EQ(c.at(3), 3000);
  EXPECT_EQ(c.at(4), 4000);
}

// Longest run of one server in `n` picks.
size_t longest_run(Balancer& b, std::span<const ServerView> pool, int n) {
  const std::string s = sequence(b, pool, n);
  size_t longest = 0, run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    run = (i > 0 && s[i] == s[i - 1]) ? run + 1 : 1;
    longest = std::max(longest, run);
  }
  return longest;
}

std::vector<ServerView> pool_of(const std::vector<uint32_t>& weights) {
  std::vector<ServerView> pool;
  for (uint32_t i = 0; i < weights.size(); ++i) pool.push_back(server(i + 1, weights[i]));
  return pool;
}

TEST(RoundRobin, NeverTwiceInARowWhenWeightsInterleaveEvenly) {
  for (const std::vector<uint32_t>& weights :
       std::vector<std::vector<uint32_t>>{{1, 1, 1}, {2, 2, 1}, {3, 3, 2, 2}, {1, 1, 1, 1, 1}}) {
    const auto pool = pool_of(weights);
    auto b = make(Algorithm::kRoundRobin, pool);
    EXPECT_EQ(longest_run(*b, pool, 2000), 1u) << ::testing::PrintToString(weights);
  }
}

// SWRR is smooth, not perfect: with 3/2/2 the cycle "abcabca" meets the next one's "a", so the
// bound when the heaviest weighs no more than the others together is two in a row, never three.
TEST(RoundRobin, NeverThreeInARowWhenTheHeaviestIsNoMoreThanTheRest) {
  for (const std::vector<uint32_t>& weights : std::vector<std::vector<uint32_t>>{
           {3, 2, 2}, {4, 3, 2, 1}, {10, 9}, {100, 60, 50}, {7, 3, 1, 5}, {256, 255, 1}}) {
    const auto pool = pool_of(weights);
    auto b = make(Algorithm::kRoundRobin, pool);
    EXPECT_LE(longest_run(*b, pool, 5000), 2u) << ::testing::PrintToString(weights);
  }
}

TEST(RoundRobin, WeightChangeAtRunTimeTakesEffect) {
  std::vector<ServerView> pool{server(1, 1), server(2, 1)};
  auto b = make(Algorithm::kRoundRobin, pool);
  auto c = counts(*b, pool, 100);
  EXPECT_EQ(c.at(1), 50);
  pool[0].weight = 3;  // dynamic: no rebuild needed
  c = counts(*b, pool, 400);
  EXPECT_NEAR(c.at(1), 300, 1);
  EXPECT_NEAR(c.at(2), 100, 1);
  pool[1].weight = 0;  // weight 0: no new traffic
  c = counts(*b, pool, 100);
  EXPECT_EQ(c.count(2), 0u);
  EXPECT_EQ(c.at(1), 100);
}

TEST(RoundRobin, SlowstartRampsTheShareInHaproxysSteps) {
  std::vector<ServerView> pool{server(1, 1), server(2, 1)};
  pool[1].up_since = kT0;
  pool[1].slowstart = 100s;
  auto b = make(Algorithm::kRoundRobin, pool);
  // Server 2 weighs 1 + 16 * t / 100s against server 1's 16.
  for (const auto& [at, expected_share] : std::vector<std::pair<core::Duration, double>>{
           {25s, 5.0 / 21}, {50s, 9.0 / 25}, {75s, 13.0 / 29}, {100s, 0.5}}) {
    b->rebuild(pool, kT0 + at);
    const auto c = counts(*b, pool, 1400, kT0 + at);
    EXPECT_NEAR(c.at(2) / 1400.0, expected_share, 0.002) << "at " << at.count();
  }
  // At the very start it gets 1/16 of its weight: a starting server must be able to prove
  // itself. (fwrr moves a server to its new weight within the window in progress, so the first
  // cycle after the drop may still give it one more or one less.)
  b->rebuild(pool, kT0);
  const auto c = counts(*b, pool, 170, kT0);
  EXPECT_NEAR(c.at(2), 10, 1);
}

TEST(RoundRobin, SkipsFullServerWithoutBurstingWhenItFrees) {
  std::vector<ServerView> pool{server(1, 1), server(2, 1), server(3, 1)};
  pool[1].maxconn = 5;
  pool[1].active_conns = 5;
  auto b = make(Algorithm::kRoundRobin, pool);
  auto c = counts(*b, pool, 100);
  EXPECT_EQ(c.count(2), 0u);
  EXPECT_EQ(c.at(1), 50);
  pool[1].active_conns = 0;
  EXPECT_EQ(sequence(*b, pool, 9).find("bb"), std::string::npos);
}

// Captured from haproxy 2.6 (see the top of the file).
TEST(StaticRr, HaproxySequences) {
  EXPECT_EQ(run(Algorithm::kStaticRr, with_backups({2, 1}, {}), {picks(6)}), "1 1 2 1 1 2");
  EXPECT_EQ(run(Algorithm::kStaticRr, with_backups({5, 1, 1}, {}), {picks(14)}),
            "1 1 1 2 1 1 3 1 1 1 2 1 1 3");
  EXPECT_EQ(run(Algorithm::kStaticRr, with_backups({10, 3, 7, 1}, {}), {picks(42)}),
            "1 2 3 1 1 3 1 2 3 1 1 3 1 2 3 1 1 3 1 3 4 "
            "1 2 3 1 1 3 1 2 3 1 1 3 1 2 3 1 1 3 1 3 4");
  // The walk goes on where it was when the map is rebuilt for the backups.
  EXPECT_EQ(run(Algorithm::kStaticRr, with_backups({2, 1}, {3, 1}),
                {picks(3), maint(0, true), maint(1, true), picks(8)}, /*all_backups=*/true),
            "1 1 2 | | 4 3 3 3 4 3 3 3");
  // Without allbackups the map is as long as the first backup's weight but is filled from
  // every backup: haproxy 2.6 alternates here rather than keeping to the first backup.
  EXPECT_EQ(run(Algorithm::kStaticRr, with_backups({1}, {2, 3}), {maint(0, true), picks(10)}),
            "| 2 3 2 3 2 3 2 3 2 3");
  EXPECT_EQ(run(Algorithm::kStaticRr, with_backups({2, 1}, {3, 1}),
                {picks(3), maint(0, true), maint(1, true), picks(8)}),
            "1 1 2 | | 3 3 3 3 3 3 3 3");
}

TEST(StaticRr, HaproxySequenceWithFullServers) {
  EXPECT_EQ(run(Algorithm::kStaticRr, with_backups({3, 1, 2}, {}, 1),
                {picks(2), hold(), picks(6), release(), picks(6)}),
            "1 1 H 1 2 1 1 1 2 3 1 1 3 1 2");
  EXPECT_EQ(run(Algorithm::kStaticRr, with_backups({4, 3, 2, 1}, {}, 1),
                {picks(7), hold(), picks(2), hold(), picks(9), release(), picks(10)}),
            "1 2 1 2 3 1 2 H 3 4 H 3 3 4 3 3 4 3 3 4 1 2 1 2 3 1 2 1 3 4");
}

TEST(StaticRr, ExactCountsOverTenThousandPicks) {
  const std::vector<ServerView> pool{server(1, 1), server(2, 2), server(3, 3), server(4, 4)};
  auto b = make(Algorithm::kStaticRr, pool);
  const auto c = counts(*b, pool, 10'000);
  EXPECT_EQ(c.at(1), 1000);
  EXPECT_EQ(c.at(2), 2000);
  EXPECT_EQ(c.at(3), 3000);
  EXPECT_EQ(c.at(4), 4000);
}

TEST(StaticRr, WeightsApplyOnlyAtRebuildAndSlowstartIsIgnored) {
  std::vector<ServerView> pool{server(1, 1), server(2, 1)};
  pool[1].up_since = kT0;
  pool[1].slowstart = 100s;
  auto b = make(Algorithm::kStaticRr, pool);
  EXPECT_EQ(counts(*b, pool, 100).at(2), 50);  // slowstart has no effect
  pool[0].weight = 3;
  EXPECT_EQ(counts(*b, pool, 100).at(1), 50);  // static until rebuilt
  b->rebuild(pool, kT0);
  EXPECT_EQ(counts(*b, pool, 100).at(1), 75);
}

TEST(StaticRr, DownServerSkippedAndBackAfterRebuild) {
  std::vector<ServerView> pool{server(1, 1), server(2, 1), server(3, 2)};
  auto b = make(Algorithm::kStaticRr, pool);
  pool[2].up = false;
  auto c = counts(*b, pool, 100);  // not rebuilt yet: still never the down server
  EXPECT_EQ(c.count(3), 0u);
  b->rebuild(pool, kT0);
  c = counts(*b, pool, 100);
  EXPECT_EQ(c.at(1), 50);
  EXPECT_EQ(c.at(2), 50);
  pool[2].up = true;
  b->rebuild(pool, kT0);
  c = counts(*b, pool, 100);
  EXPECT_EQ(c.at(3), 50);
}

}  // namespace
}  // namespace tandem::lb
