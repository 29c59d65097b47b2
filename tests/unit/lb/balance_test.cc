// Rules every balancer keeps (health, drain, weight 0, backups, full servers, exclusion) and
// the shared weight arithmetic (slowstart).
#include <gtest/gtest.h>

#include <array>
#include <set>
#include <string>
#include <vector>

#include "lb/balance/balancer.h"

namespace tandem::lb {
namespace {

using namespace std::chrono_literals;
const core::TimePoint kT0{std::chrono::seconds(1000)};

ServerView server(uint32_t id, uint32_t weight = 1) {
  ServerView s;
  s.id = id;
  s.weight = weight;
  return s;
}

ServerView backup(uint32_t id, uint32_t weight = 1) {
  ServerView s = server(id, weight);
  s.backup = true;
  return s;
}

// haproxy 2.6's steps (server_recalc_eweight): weight * ((16 * elapsed_s + slowstart_s) /
// slowstart_s), whole seconds.
TEST(BalanceWeight, SlowstartRampsInHaproxysSteps) {
  ServerView s = server(1, 10);
  s.up_since = kT0;
  s.slowstart = 10s;
  EXPECT_EQ(effective_weight(s, kT0 - 5s), 10u);  // clock before up_since: just started
  EXPECT_EQ(effective_weight(s, kT0), 10u);
  EXPECT_EQ(effective_weight(s, kT0 + 999ms), 10u);
  EXPECT_EQ(effective_weight(s, kT0 + 1s), 20u);
  EXPECT_EQ(effective_weight(s, kT0 + 2500ms), 40u);
  EXPECT_EQ(effective_weight(s, kT0 + 5s), 90u);
  EXPECT_EQ(effective_weight(s, kT0 + 7500ms), 120u);
  EXPECT_EQ(effective_weight(s, kT0 + 9999ms), 150u);
  EXPECT_EQ(effective_weight(s, kT0 + 10s), 160u);
  EXPECT_EQ(effective_weight(s, kT0 + 1h), 160u);
  s.slowstart = 1500ms;  // rounded up to 2 s, as haproxy keeps it in seconds
  EXPECT_EQ(effective_weight(s, kT0 + 1s), 90u);
  s.slowstart = {};
  EXPECT_EQ(effective_weight(s, kT0), 160u);
  // Long ramps do not overflow.
  s.slowstart = std::chrono::hours(24 * 365);
  EXPECT_EQ(effective_weight(s, kT0 + std::chrono::hours(24 * 365 / 2)), 90u);
}

TEST(BalanceWeight, NotUsableMeansZero) {
  ServerView s = server(1, 4);
  EXPECT_EQ(effective_weight(s, kT0), 64u);
  s.up = false;
  EXPECT_EQ(effective_weight(s, kT0), 0u);
  s = server(1, 4);
  s.draining = true;
  EXPECT_EQ(effective_weight(s, kT0), 0u);
  s = server(1, 4);
  s.maint = true;
  EXPECT_EQ(effective_weight(s, kT0), 0u);
  EXPECT_EQ(effective_weight(server(1, 0), kT0), 0u);
  EXPECT_EQ(effective_weight(server(1, 256), kT0), 4096u);
}

TEST(BalanceWeight, SlowstartLimitsMaxconnToo) {
  ServerView s = server(1);
  s.maxconn = 100;
  s.up_since = kT0;
  s.slowstart = 10s;
  EXPECT_EQ(effective_maxconn(s, kT0), 1u);
  EXPECT_EQ(effective_maxconn(s, kT0 + 5s), 50u);
  EXPECT_EQ(effective_maxconn(s, kT0 + 10s), 100u);
  s.active_conns = 50;
  EXPECT_FALSE(has_free_slot(s, kT0 + 5s));
  EXPECT_TRUE(has_free_slot(s, kT0 + 6s));
  s.queued = 1;  // someone already waits for this server: newcomers do not jump the queue
  EXPECT_FALSE(has_free_slot(s, kT0 + 6s));
}

struct Case {
  const char* name;
  BalanceSpec spec;
};

BalanceSpec spec_of(Algorithm a, HashMethod t = HashMethod::kMapBased, uint32_t draws = 2) {
  BalanceSpec s;
  s.algorithm = a;
  s.hash_method = t;
  s.random_draws = draws;
  return s;
}

class BalanceAll : public ::testing::TestWithParam<Case> {
 protected:
  BalancerPtr make(std::span<const ServerView> pool, bool all_backups = false) {
    BalanceSpec spec = GetParam().spec;
    spec.all_backups = all_backups;
    BalancerPtr b = make_balancer(spec);
    b->rebuild(pool, kT0);
    return b;
  }

  // Varied requests so that hashing algorithms see many keys.
  PickResult pick(Balancer& b, std::span<const ServerView> pool, int i,
                  std::optional<uint32_t> exclude = std::nullopt) {
    key_ = "/k/" + std::to_string(i);
    addr_ = {10, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
    PickContext ctx;
    ctx.source = addr_;
    ctx.uri = key_;
    ctx.header = key_;
    ctx.random = &rng_;
    ctx.exclude = exclude;
    return b.pick(ctx, pool, kT0);
  }

  std::set<uint32_t> picked_ids(Balancer& b, std::span<const ServerView> pool, int n) {
    std::set<uint32_t> ids;
    for (int i = 0; i < n; ++i) {
      const PickResult r = pick(b, pool, i);
      EXPECT_TRUE(r.picked());
      ids.insert(r.id);
    }
    return ids;
  }

  bool is_first() const { return GetParam().spec.algorithm == Algorithm::kFirst; }
  bool is_keyed() const {
    const Algorithm a = GetParam().spec.algorithm;
    return a == Algorithm::kSource || a == Algorithm::kUri || a == Algorithm::kHdr;
  }

  std::string key_;
  std::array<uint8_t, 4> addr_{};
  SplitMix64 rng_{1234};
};

TEST_P(BalanceAll, DownDrainingMaintAndWeightZeroNeverPicked) {
  std::vector<ServerView> pool{server(1), server(2), server(3), server(4), server(5)};
  pool[0].up = false;
  pool[1].draining = true;
  pool[2].maint = true;
  pool[3].weight = 0;
  auto b = make(pool);
  EXPECT_EQ(picked_ids(*b, pool, 500), std::set<uint32_t>{5});
}

TEST_P(BalanceAll, ServerGoingDownIsSkippedEvenBeforeRebuild) {
  std::vector<ServerView> pool{server(1), server(2), server(3)};
  auto b = make(pool);
  pool[0].up = false;
  const auto ids = picked_ids(*b, pool, 500);
  EXPECT_EQ(ids.count(1), 0u);
  EXPECT_FALSE(ids.empty());
}

TEST_P(BalanceAll, ServerComingUpBeforeRebuildStillServes) {
  std::vector<ServerView> pool{server(1), server(2)};
  pool[0].up = pool[1].up = false;
  auto b = make(pool);
  pool[1].up = true;
  EXPECT_EQ(pick(*b, pool, 1), PickResult::server(2));
}

TEST_P(BalanceAll, BackupsOnlyWhenNoActiveIsUp) {
  std::vector<ServerView> pool{server(1), backup(7), server(2), backup(4)};
  auto b = make(pool);
  auto ids = picked_ids(*b, pool, 500);
  EXPECT_EQ(ids.count(7) + ids.count(4), 0u);
  pool[0].up = false;
  b->rebuild(pool, kT0);
  EXPECT_EQ(picked_ids(*b, pool, 200), std::set<uint32_t>{2});
  pool[2].draining = true;  // no active usable: the first backup (lowest id) takes it all
  b->rebuild(pool, kT0);
  EXPECT_EQ(picked_ids(*b, pool, 500), std::set<uint32_t>{4});
  pool[3].up = false;  // the first backup fails: the next one
  b->rebuild(pool, kT0);
  EXPECT_EQ(picked_ids(*b, pool, 100), std::set<uint32_t>{7});
  pool[0].up = true;  // an active returns: backups stop at once
  b->rebuild(pool, kT0);
  EXPECT_EQ(picked_ids(*b, pool, 100), std::set<uint32_t>{1});
}

TEST_P(BalanceAll, AllBackupsSharesTheLoad) {
  std::vector<ServerView> pool{server(1), backup(2), backup(3)};
  pool[0].up = false;
  auto b = make(pool, /*all_backups=*/true);
  const std::set<uint32_t> expected = is_first() ? std::set<uint32_t>{2} : std::set<uint32_t>{2, 3};
  EXPECT_EQ(picked_ids(*b, pool, 500), expected);
}

TEST_P(BalanceAll, NoneUpIsNoServer) {
  std::vector<ServerView> pool{server(1), backup(2)};
  pool[0].up = pool[1].up = false;
  auto b = make(pool);
  EXPECT_EQ(pick(*b, pool, 1).outcome, PickOutcome::kNoServer);
  auto empty = make({});
  EXPECT_EQ(pick(*empty, {}, 1).outcome, PickOutcome::kNoServer);
}

// Full servers: the request queues and backups wait. A keyed request (hashing) queues for its
// key's own server, as haproxy's: the key never moves to a server with room.
TEST_P(BalanceAll, AllFullIsAllFullAndBackupsWait) {
  std::vector<ServerView> pool{server(1), server(2), backup(3)};
  for (int i = 0; i < 2; ++i) {
    pool[i].maxconn = 10;
    pool[i].active_conns = 10;
  }
  auto b = make(pool);
  for (int i = 0; i < 50; ++i) {
    const PickResult r = pick(*b, pool, i);
    if (is_keyed()) {
      EXPECT_EQ(r.outcome, PickOutcome::kServerFull);
      EXPECT_TRUE(r.id == 1 || r.id == 2) << r.id;
    } else {
      EXPECT_EQ(r.outcome, PickOutcome::kAllFull);
    }
  }
  pool[1].active_conns = 9;
  for (int i = 0; i < 50; ++i) {
    const PickResult r = pick(*b, pool, i);
    if (is_keyed()) {
      EXPECT_EQ(r, r.id == 1 ? PickResult::server_full(1) : PickResult::server(2));
    } else {
      EXPECT_EQ(r, PickResult::server(2));
    }
  }
}

TEST_P(BalanceAll, ExcludeHonouredWhenPossible) {
  const std::vector<ServerView> pool{server(1), server(2), server(3)};
  auto b = make(pool);
  for (int i = 0; i < 300; ++i) {
    const PickResult r = pick(*b, pool, i, /*exclude=*/2);
    ASSERT_TRUE(r.picked());
    EXPECT_NE(r.id, 2u);
  }
  // The only server left is better than none.
  const std::vector<ServerView> one{server(2)};
  auto single = make(one);
  EXPECT_EQ(pick(*single, one, 1, 2), PickResult::server(2));
}

TEST_P(BalanceAll, PoolSizeChangeWithoutRebuildIsHandled) {
  std::vector<ServerView> pool{server(1), server(2)};
  auto b = make(pool);
  pool.push_back(server(3));
  pool.erase(pool.begin());
  const auto ids = picked_ids(*b, pool, 200);
  EXPECT_EQ(ids.count(1), 0u);
  EXPECT_FALSE(ids.empty());
}

const Case kCases[] = {
    {"RoundRobin", spec_of(Algorithm::kRoundRobin)},
    {"StaticRr", spec_of(Algorithm::kStaticRr)},
    {"LeastConn", spec_of(Algorithm::kLeastConn)},
    {"First", spec_of(Algorithm::kFirst)},
    {"SourceMap", spec_of(Algorithm::kSource)},
    {"SourceConsistent", spec_of(Algorithm::kSource, HashMethod::kConsistent)},
    {"UriMap", spec_of(Algorithm::kUri)},
    {"UriConsistent", spec_of(Algorithm::kUri, HashMethod::kConsistent)},
    {"HdrMap", spec_of(Algorithm::kHdr)},
    {"HdrConsistent", spec_of(Algorithm::kHdr, HashMethod::kConsistent)},
    {"Random1", spec_of(Algorithm::kRandom, HashMethod::kMapBased, 1)},
    {"Random2", spec_of(Algorithm::kRandom)},
};

INSTANTIATE_TEST_SUITE_P(Balance, BalanceAll, ::testing::ValuesIn(kCases),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(Balance, AlgorithmNamesAreHaproxyKeywords) {
  EXPECT_EQ(to_string(Algorithm::kRoundRobin), "roundrobin");
  EXPECT_EQ(to_string(Algorithm::kStaticRr), "static-rr");
  EXPECT_EQ(to_string(Algorithm::kLeastConn), "leastconn");
  EXPECT_EQ(to_string(Algorithm::kRandom), "random");
}

}  // namespace
}  // namespace tandem::lb
