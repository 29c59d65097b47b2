// The adapter from the proxy run-time's snapshot to the stats view.
#include "lb/stats/snapshot.h"

#include <gtest/gtest.h>

#include "sample_view.h"

namespace tandem::lb::stats {
namespace {

TEST(StatsSnapshot, CopiesCountersByName) {
  StatsView v = testing::sample_view();
  proxy::Snapshot snap;
  proxy::ProxySnapshot fe;
  fe.name = "fe";
  fe.frontend.sessions_current = 3;
  fe.frontend.sessions_total = 10;
  fe.frontend.bytes_out = 999;
  fe.frontend.spliced_in = 100;
  fe.frontend.spliced_out = 900;
  fe.frontend.http_requests = 12;
  fe.frontend.http_status[2] = 11;
  fe.frontend.rejected[static_cast<size_t>(http1::RejectReason::kMissingHost)] = 1;
  snap.proxies.push_back(fe);
  proxy::ProxySnapshot be;
  be.name = "be";
  be.backend.sessions_total = 10;
  be.backend.retries = 2;
  be.backend.reused = 7;
  be.servers.push_back({"s3", {}});
  be.servers[0].counters.sessions_current = 2;
  be.servers[0].counters.connect_errors = 4;
  be.servers.push_back({"gone", {}});  // not in the view: ignored
  snap.proxies.push_back(be);
  snap.proxies.push_back({"nope", {}, {}, {}});

  apply_snapshot(v, snap);
  const ProxyView& f = v.proxies[0];
  EXPECT_EQ(f.frontend.sessions_current, 3u);
  EXPECT_EQ(f.frontend.sessions_max, 3u);
  EXPECT_EQ(f.frontend.connections_total, 10u);
  EXPECT_EQ(f.frontend.http_responses[2], 11u);
  EXPECT_EQ(f.rejects[static_cast<size_t>(http1::RejectReason::kMissingHost)], 1u);
  EXPECT_EQ(v.process.current_conns, 3u);
  EXPECT_EQ(v.process.total_requests, 12u);
  EXPECT_EQ(v.process.bytes_out_total, 999u);
  EXPECT_EQ(v.process.spliced_bytes_out_total, 900u);
  EXPECT_EQ(v.tandem.spliced_bytes, 1000u);
  EXPECT_EQ(v.tandem.reuse_hits, 7u);
  EXPECT_EQ(v.proxies[1].backend.connect_attempts, 12u);
  const ServerView& s3 = v.proxies[1].servers[2];
  EXPECT_EQ(s3.traffic.sessions_current, 2u);
  EXPECT_EQ(s3.traffic.connect_errors, 4u);

  // Maxima stay when the next snapshot is lower.
  snap.proxies[0].frontend.sessions_current = 1;
  apply_snapshot(v, snap);
  EXPECT_EQ(v.proxies[0].frontend.sessions_current, 1u);
  EXPECT_EQ(v.proxies[0].frontend.sessions_max, 3u);
  EXPECT_EQ(v.process.current_conns, 1u);
  EXPECT_EQ(v.tandem.reuse_hits, 7u);  // sums of this snapshot, not added to the last
}

}  // namespace
}  // namespace tandem::lb::stats
