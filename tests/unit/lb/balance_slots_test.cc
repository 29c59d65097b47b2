// Tests of the connection-driven algorithms: `leastconn` and `first`.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "lb/balance/balancer.h"

namespace tandem::lb {
namespace {

const core::TimePoint kT0{std::chrono::seconds(1000)};

ServerView server(uint32_t id, uint32_t weight = 1, uint32_t conns = 0, uint32_t maxconn = 0) {
  ServerView s;
  s.id = id;
  s.weight = weight;
  s.active_conns = conns;
  s.maxconn = maxconn;
  return s;
}

BalancerPtr make(Algorithm a, std::span<const ServerView> pool) {
  BalanceSpec spec;
  spec.algorithm = a;
  BalancerPtr b = make_balancer(spec);
  b->rebuild(pool, kT0);
  return b;
}

uint32_t pick_id(Balancer& b, std::span<const ServerView> pool, PickContext ctx = {}) {
  const PickResult r = b.pick(ctx, pool, kT0);
  EXPECT_TRUE(r.picked());
  return r.id;
}

// Picks and opens a connection on the chosen server, as the data path would.
uint32_t pick_and_connect(Balancer& b, std::vector<ServerView>& pool) {
  const PickResult r = b.pick({}, pool, kT0);
  if (!r.picked()) return 0;
  for (ServerView& s : pool) {
    if (s.id == r.id) ++s.active_conns;
  }
  return r.id;
}

TEST(LeastConn, PrefersFewestConnections) {
  const std::vector<ServerView> pool{server(1, 1, 5), server(2, 1, 2), server(3, 1, 7)};
  auto b = make(Algorithm::kLeastConn, pool);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(pick_id(*b, pool), 2u);
}

TEST(LeastConn, LoadIsRelativeToWeight) {
  // (5 + 1) / 3 = 2 beats (2 + 1) / 1 = 3, though server 1 has more connections.
  const std::vector<ServerView> pool{server(1, 3, 5), server(2, 1, 2)};
  auto b = make(Algorithm::kLeastConn, pool);
  EXPECT_EQ(pick_id(*b, pool), 1u);
}

TEST(LeastConn, IdleServersFirstWhateverTheirWeight) {
  const std::vector<ServerView> pool{server(1, 100, 1), server(2, 1, 0)};
  auto b = make(Algorithm::kLeastConn, pool);
  EXPECT_EQ(pick_id(*b, pool), 2u);
}

TEST(LeastConn, TiesTakenInTurn) {
  const std::vector<ServerView> pool{server(1, 1, 3), server(2, 1, 3), server(3, 1, 9),
                                     server(4, 1, 3)};
  auto b = make(Algorithm::kLeastConn, pool);
  std::string seq;
  for (int i = 0; i < 9; ++i) seq += std::to_string(pick_id(*b, pool));
  EXPECT_EQ(seq, "124124124");
}

TEST(LeastConn, ConnectionsSpreadByWeightUnderLoad) {
  std::vector<ServerView> pool{server(1, 3), server(2, 1), server(3, 2)};
  auto b = make(Algorithm::kLeastConn, pool);
  for (int i = 0; i < 600; ++i) pick_and_connect(*b, pool);
  EXPECT_NEAR(pool[0].active_conns, 300, 3);
  EXPECT_NEAR(pool[1].active_conns, 100, 3);
  EXPECT_NEAR(pool[2].active_conns, 200, 3);
}

TEST(LeastConn, ReleasedConnectionsAttractTheNextPicks) {
  std::vector<ServerView> pool{server(1), server(2), server(3)};
  auto b = make(Algorithm::kLeastConn, pool);
  for (int i = 0; i < 30; ++i) pick_and_connect(*b, pool);
  pool[1].active_conns -= 4;
  for (int i = 0; i < 4; ++i) EXPECT_EQ(pick_and_connect(*b, pool), 2u);
}

TEST(LeastConn, QueuedConnectionsCountAsLoad) {
  std::vector<ServerView> pool{server(1, 1, 2), server(2, 1, 1)};
  pool[1].queued = 3;
  auto b = make(Algorithm::kLeastConn, pool);
  EXPECT_EQ(pick_id(*b, pool), 1u);
}

TEST(LeastConn, SkipsFullServers) {
  const std::vector<ServerView> pool{server(1, 1, 4, 4), server(2, 1, 9, 0)};
  auto b = make(Algorithm::kLeastConn, pool);
  EXPECT_EQ(pick_id(*b, pool), 2u);
}

TEST(First, FillsServersInIdOrderUpToMaxconn) {
  std::vector<ServerView> pool{server(3, 1, 0, 2), server(1, 1, 0, 2), server(2, 1, 0, 2)};
  auto b = make(Algorithm::kFirst, pool);
  std::string seq;
  for (int i = 0; i < 6; ++i) seq += std::to_string(pick_and_connect(*b, pool));
  EXPECT_EQ(seq, "112233");
  EXPECT_EQ(b->pick({}, pool, kT0).outcome, PickOutcome::kAllFull);
  pool[0].active_conns = 1;  // id 3 frees a slot
  EXPECT_EQ(pick_and_connect(*b, pool), 3u);
  pool[1].active_conns = 1;  // id 1 frees a slot: lowest id again
  EXPECT_EQ(pick_and_connect(*b, pool), 1u);
}

TEST(First, WithoutMaxconnAlwaysTheFirstUpServer) {
  std::vector<ServerView> pool{server(1, 1, 500), server(2, 100), server(3, 1)};
  auto b = make(Algorithm::kFirst, pool);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(pick_and_connect(*b, pool), 1u);
  pool[0].up = false;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(pick_and_connect(*b, pool), 2u);
}

TEST(First, ExcludeTakesTheNextOne) {
  const std::vector<ServerView> pool{server(1), server(2), server(3)};
  auto b = make(Algorithm::kFirst, pool);
  PickContext ctx;
  ctx.exclude = 1;
  EXPECT_EQ(pick_id(*b, pool, ctx), 2u);
}

}  // namespace
}  // namespace tandem::lb
