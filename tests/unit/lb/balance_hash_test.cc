// Tests of `balance source|uri|hdr`: hash values pinned across restarts, key extraction,
// map-based versus consistent placement, movement when the pool changes, weights.
#include <gtest/gtest.h>

#include <array>
#include <map>
#include <string>
#include <vector>

#include "lb/balance/balancer.h"
#include "lb/balance/hash.h"

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

std::vector<ServerView> pool_of(std::vector<uint32_t> weights) {
  std::vector<ServerView> pool;
  for (uint32_t i = 0; i < weights.size(); ++i) pool.push_back(server(i + 1, weights[i]));
  return pool;
}

BalancerPtr make(Algorithm a, HashMethod t, std::span<const ServerView> pool) {
  BalanceSpec spec;
  spec.algorithm = a;
  spec.hash_method = t;
  BalancerPtr b = make_balancer(spec);
  b->rebuild(pool, kT0);
  return b;
}

std::string key(int i) {
  return "/static/object-" + std::to_string(i) + ".png";
}

uint32_t pick_uri(Balancer& b, std::span<const ServerView> pool, const std::string& uri) {
  PickContext ctx;
  ctx.uri = uri;
  const PickResult r = b.pick(ctx, pool, kT0);
  EXPECT_TRUE(r.picked());
  return r.id;
}

std::vector<uint32_t> placement(Balancer& b, std::span<const ServerView> pool, int keys) {
  std::vector<uint32_t> out;
  for (int i = 0; i < keys; ++i) out.push_back(pick_uri(b, pool, key(i)));
  return out;
}

TEST(Hash, FunctionValuesArePinned) {
  // haproxy's functions, signed chars included; these must never change between releases.
  EXPECT_EQ(hash_sdbm(""), 0u);
  EXPECT_EQ(hash_sdbm("a"), 0x61u);
  EXPECT_EQ(hash_sdbm("/index.html"), 0x33242976u);
  EXPECT_EQ(hash_djb2("/index.html"), 0xe114b9cfu);
  EXPECT_EQ(hash_wt6("/index.html"), 0x3101077eu);
  EXPECT_EQ(hash_crc32("123456789"), 0xcbf43926u);  // the CRC-32 check value
  EXPECT_EQ(hash_crc32("/index.html"), 0xea224b42u);
  const std::string ip{'\xc0', '\xa8', '\x01', '\xc8'};  // 192.168.1.200: bytes >= 0x80
  EXPECT_EQ(hash_sdbm(ip), 0x32f77befu);
  EXPECT_EQ(hash_djb2(ip), 0x7c3880d6u);
  EXPECT_EQ(hash_wt6(ip), 0x43be5692u);
  EXPECT_EQ(hash_avalanche(0), 0x6b4ed927u);
  EXPECT_EQ(hash_avalanche(1), 0xb48681b6u);
}

TEST(Hash, DefaultFunctionPerTypeAsHaproxy) {
  PickContext ctx;
  ctx.uri = "/index.html";
  BalanceSpec spec;
  spec.algorithm = Algorithm::kUri;
  EXPECT_EQ(request_hash(spec, ctx), 0x33242976u);  // map-based: plain sdbm
  spec.hash_method = HashMethod::kConsistent;
  EXPECT_EQ(request_hash(spec, ctx), hash_avalanche(0x33242976u));  // consistent: + avalanche
  spec.hash_function = HashFunction::kDjb2;
  EXPECT_EQ(request_hash(spec, ctx), 0xe114b9cfu);  // a named function: no implicit avalanche
  spec.hash_avalanche = true;
  EXPECT_EQ(request_hash(spec, ctx), hash_avalanche(0xe114b9cfu));
}

TEST(Hash, KeysPerAlgorithm) {
  BalanceSpec spec;
  PickContext ctx;
  const std::array<uint8_t, 4> addr{10, 0, 0, 1};
  ctx.source = addr;
  ctx.uri = "/a/b?x=1";
  ctx.header = "www.example.com";
  spec.algorithm = Algorithm::kSource;
  EXPECT_EQ(request_hash(spec, ctx), hash_sdbm(std::string{'\x0a', '\0', '\0', '\x01'}));
  spec.algorithm = Algorithm::kUri;
  EXPECT_EQ(request_hash(spec, ctx), hash_sdbm("/a/b"));
  spec.algorithm = Algorithm::kHdr;
  EXPECT_EQ(request_hash(spec, ctx), hash_sdbm("www.example.com"));
  spec.hdr_use_domain_only = true;
  EXPECT_EQ(request_hash(spec, ctx), hash_sdbm("example"));
  ctx.header = {};
  EXPECT_EQ(request_hash(spec, ctx), std::nullopt);  // absent header: round robin instead
}

TEST(Hash, UriOptions) {
  UriHashOptions o;
  EXPECT_EQ(uri_hash_part("/a/b/c?q=1", o), "/a/b/c");
  o.whole = true;
  EXPECT_EQ(uri_hash_part("/a/b/c?q=1", o), "/a/b/c?q=1");
  o = {};
  o.depth = 2;
  EXPECT_EQ(uri_hash_part("/a/b/c/d?q", o), "/a/b");
  EXPECT_EQ(uri_hash_part("/a?q=/x/y", o), "/a");
  o = {};
  o.len = 4;
  EXPECT_EQ(uri_hash_part("/abcdef", o), "/abc");
  o.depth = 1;
  EXPECT_EQ(uri_hash_part("/a/bcdef", o), "/a");
  o = {};
  o.path_only = true;
  EXPECT_EQ(uri_hash_part("http://example.com:8080/x/y?z", o), "/x/y");
  EXPECT_EQ(uri_hash_part("/x/y?z", o), "/x/y");
  EXPECT_EQ(uri_hash_part("http://example.com", o), "");
}

TEST(Hash, DomainOnly) {
  EXPECT_EQ(domain_part("haproxy.1wt.eu"), "1wt");
  EXPECT_EQ(domain_part("1wt.eu"), "1wt");
  EXPECT_EQ(domain_part("localhost"), "localhost");
  EXPECT_EQ(domain_part("a.b.c.d"), "c");
}

class HashMethods : public ::testing::TestWithParam<HashMethod> {};

TEST_P(HashMethods, SameKeySameServerAcrossRestarts) {
  const auto pool = pool_of({1, 2, 3, 1, 5});
  for (Algorithm a : {Algorithm::kSource, Algorithm::kUri, Algorithm::kHdr}) {
    auto first = make(a, GetParam(), pool);
    auto second = make(a, GetParam(), pool);  // a restarted process
    for (int i = 0; i < 2000; ++i) {
      const std::string k = key(i);
      const std::array<uint8_t, 4> addr{10, 1, static_cast<uint8_t>(i >> 8),
                                        static_cast<uint8_t>(i)};
      PickContext ctx;
      ctx.source = addr;
      ctx.uri = k;
      ctx.header = k;
      const PickResult r1 = first->pick(ctx, pool, kT0);
      ASSERT_EQ(first->pick(ctx, pool, kT0), r1);  // and the same on the next request
      ASSERT_EQ(second->pick(ctx, pool, kT0), r1) << to_string(a) << " key " << i;
    }
  }
}

TEST_P(HashMethods, DistributionFollowsWeights) {
  const auto pool = pool_of({1, 2, 3, 4});
  auto b = make(Algorithm::kUri, GetParam(), pool);
  std::map<uint32_t, int> c;
  for (uint32_t id : placement(*b, pool, 10'000)) ++c[id];
  // Map-based is smooth; consistent with 16..64 points per server is rough by nature.
  const double tolerance = GetParam() == HashMethod::kMapBased ? 0.03 : 0.20;
  for (uint32_t id = 1; id <= 4; ++id) {
    const double expected = 10'000.0 * id / 10;
    EXPECT_NEAR(c[id], expected, expected * tolerance) << "server " << id;
  }
  RecordProperty("shares", ::testing::PrintToString(c));
}

TEST_P(HashMethods, MissingKeyFallsBackToRoundRobin) {
  const auto pool = pool_of({1, 1, 1});
  auto b = make(Algorithm::kHdr, GetParam(), pool);
  std::map<uint32_t, int> c;
  for (int i = 0; i < 300; ++i) ++c[b->pick({}, pool, kT0).id];
  EXPECT_EQ(c[1], 100);
  EXPECT_EQ(c[2], 100);
  EXPECT_EQ(c[3], 100);
}

TEST_P(HashMethods, DownServerKeysMoveOthersStayForConsistent) {
  auto pool = pool_of({1, 1, 1, 1, 1});
  auto b = make(Algorithm::kUri, GetParam(), pool);
  const auto before = placement(*b, pool, 10'000);
  pool[2].up = false;
  b->rebuild(pool, kT0);
  const auto after = placement(*b, pool, 10'000);
  int moved = 0, moved_elsewhere = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    ASSERT_NE(after[i], 3u);
    if (before[i] != after[i]) ++moved;
    if (before[i] != after[i] && before[i] != 3) ++moved_elsewhere;
  }
  RecordProperty("moved", moved);
  if (GetParam() == HashMethod::kConsistent) {
    EXPECT_EQ(moved_elsewhere, 0);  // only the lost server's keys move
    EXPECT_NEAR(moved, 2000, 600);  // about 1/5 of the keys
  } else {
    EXPECT_GT(moved, 6000);  // most keys move: the price of a smooth static map
  }
}

INSTANTIATE_TEST_SUITE_P(Hash, HashMethods,
                         ::testing::Values(HashMethod::kMapBased, HashMethod::kConsistent),
                         [](const auto& p) {
                           return p.param == HashMethod::kMapBased ? "MapBased" : "Consistent";
                         });

TEST(Hash, ConsistentRemovingOneOfFiveMovesAboutAFifth) {
  auto pool = pool_of({1, 1, 1, 1, 1});
  auto b = make(Algorithm::kUri, HashMethod::kConsistent, pool);
  const auto before = placement(*b, pool, 10'000);
  pool.erase(pool.begin() + 3);  // server id 4 leaves the configuration
  b->rebuild(pool, kT0);
  const auto after = placement(*b, pool, 10'000);
  int moved = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    if (before[i] != after[i]) {
      ++moved;
      EXPECT_EQ(before[i], 4u);
    }
  }
  EXPECT_GT(moved, 1400);
  EXPECT_LT(moved, 2600);
  pool.insert(pool.begin() + 3, server(4));  // and comes back: the same keys return
  b->rebuild(pool, kT0);
  EXPECT_EQ(placement(*b, pool, 10'000), before);
}

TEST(Hash, MapBasedRemovingOneOfFiveMovesMost) {
  auto pool = pool_of({1, 1, 1, 1, 1});
  auto b = make(Algorithm::kUri, HashMethod::kMapBased, pool);
  const auto before = placement(*b, pool, 10'000);
  pool.erase(pool.begin() + 3);
  b->rebuild(pool, kT0);
  const auto after = placement(*b, pool, 10'000);
  int moved = 0;
  for (size_t i = 0; i < before.size(); ++i) moved += before[i] != after[i];
  EXPECT_GT(moved, 6000);
}

TEST(Hash, ConsistentSlowstartOwnsAGrowingShare) {
  auto pool = pool_of({1, 1});
  pool[1].up_since = kT0;
  pool[1].slowstart = 100s;
  auto b = make(Algorithm::kUri, HashMethod::kConsistent, pool);
  auto share_at = [&](core::Duration at) {
    int n = 0;
    for (int i = 0; i < 4000; ++i) {
      PickContext ctx;
      const std::string k = key(i);
      ctx.uri = k;
      n += b->pick(ctx, pool, kT0 + at).id == 2;
    }
    return n / 4000.0;
  };
  const double early = share_at(10s), mid = share_at(50s), full = share_at(100s);
  EXPECT_LT(early, mid);
  EXPECT_LT(mid, full);
  EXPECT_LT(early, 0.2);
  EXPECT_GT(full, 0.3);
}

// As haproxy: a full server keeps its keys (their requests queue for it: kServerFull), and
// so does a server others already wait for; the other keys do not move.
TEST(Hash, FullServerKeepsItsKeys) {
  auto pool = pool_of({1, 1, 1});
  for (HashMethod t : {HashMethod::kMapBased, HashMethod::kConsistent}) {
    auto b = make(Algorithm::kUri, t, pool);
    const auto before = placement(*b, pool, 1000);
    for (int state = 0; state < 2; ++state) {
      pool[0].maxconn = state == 0 ? 1 : 5;
      pool[0].active_conns = state == 0 ? 1 : 0;
      pool[0].queued = state == 0 ? 0 : 3;
      for (int i = 0; i < 1000; ++i) {
        PickContext ctx;
        const std::string k = key(i);
        ctx.uri = k;
        const PickResult r = b->pick(ctx, pool, kT0);
        if (before[static_cast<size_t>(i)] == 1) {
          EXPECT_EQ(r, PickResult::server_full(1)) << i;
        } else {
          EXPECT_EQ(r, PickResult::server(before[static_cast<size_t>(i)])) << i;
        }
      }
    }
    pool[0].maxconn = 0;
    pool[0].active_conns = 0;
    pool[0].queued = 0;
    EXPECT_EQ(placement(*b, pool, 1000), before);
  }
}

TEST(Hash, ExcludedServerHandsTheKeyOn) {
  const auto pool = pool_of({1, 1, 1});
  for (HashMethod t : {HashMethod::kMapBased, HashMethod::kConsistent}) {
    auto b = make(Algorithm::kUri, t, pool);
    for (int i = 0; i < 300; ++i) {
      PickContext ctx;
      const std::string k = key(i);
      ctx.uri = k;
      const uint32_t home = b->pick(ctx, pool, kT0).id;
      ctx.exclude = home;
      const PickResult r = b->pick(ctx, pool, kT0);
      ASSERT_TRUE(r.picked());
      EXPECT_NE(r.id, home);
    }
  }
}

}  // namespace
}  // namespace tandem::lb
