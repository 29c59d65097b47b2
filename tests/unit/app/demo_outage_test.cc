// The demo's arithmetic of outages over what the client saw.
#include <gtest/gtest.h>

#include "app/demo_client.h"

namespace tandem::app::demo {
namespace {

// A request every 10 ms from t = 0; `pattern` says which succeeded ('.') and failed ('x').
std::vector<Request> stream(const std::string& pattern) {
  std::vector<Request> out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    Request r;
    r.sent_ms = static_cast<double>(i) * 10;
    r.done_ms = r.sent_ms + 1;
    r.ok = pattern[i] == '.';
    out.push_back(r);
  }
  return out;
}

TEST(DemoOutage, NoFailureIsNoOutage) {
  auto o = measure(stream(".........."), 0, -1);
  EXPECT_EQ(o.requests, 10u);
  EXPECT_EQ(o.failed, 0u);
  EXPECT_EQ(o.outage_ms, 0);
  EXPECT_TRUE(o.recovered);
}

TEST(DemoOutage, FirstFailureToNextSuccess) {
  //                     0123456789
  auto o = measure(stream("...xxx...."), 20, -1);
  EXPECT_EQ(o.requests, 8u);
  EXPECT_EQ(o.failed, 3u);
  EXPECT_DOUBLE_EQ(o.first_fail_ms, 30);
  EXPECT_DOUBLE_EQ(o.outage_ms, 30);  // sent at 30, next success sent at 60
  EXPECT_TRUE(o.recovered);
}

TEST(DemoOutage, WindowBoundsCountOnlyItsRequests) {
  //                     0123456789
  auto s = stream("xx..x..xx.");
  auto o = measure(s, 30, 70);  // requests 3..6
  EXPECT_EQ(o.requests, 4u);
  EXPECT_EQ(o.failed, 1u);
  EXPECT_DOUBLE_EQ(o.outage_ms, 10);
  // The next success may lie after the window's end.
  auto late = measure(s, 70, 80);
  EXPECT_EQ(late.failed, 1u);
  EXPECT_DOUBLE_EQ(late.outage_ms, 20);
}

TEST(DemoOutage, NeverServedAgain) {
  auto o = measure(stream("....xxxx"), 0, -1);
  EXPECT_FALSE(o.recovered);
  EXPECT_EQ(o.failed, 4u);
  EXPECT_DOUBLE_EQ(o.outage_ms, 30);  // until the last request sent
}

TEST(DemoOutage, LaterFailuresCountButTheOutageIsTheFirst) {
  auto o = measure(stream("..xx....x."), 0, -1);
  EXPECT_EQ(o.failed, 3u);
  EXPECT_DOUBLE_EQ(o.outage_ms, 20);
}

TEST(DemoOutage, AFailureInFlightAtTheNextFaultIsThatFaults) {
  //                     0123456789
  auto s = stream("....xxxx..");
  s[4].done_ms = 250;  // sent at 40, timed out at 250: in flight at 50 (the next fault)
  auto first = measure(s, 0, 50);
  EXPECT_EQ(first.failed, 0u);
  EXPECT_EQ(first.requests, 4u);
  auto second = measure(s, 50, -1);
  EXPECT_EQ(second.failed, 4u);
  EXPECT_DOUBLE_EQ(second.first_fail_ms, 40);
  EXPECT_DOUBLE_EQ(second.outage_ms, 40);  // from 40 to the success sent at 80
}

TEST(DemoSettled, NeedsTheWholeWindowOfSuccesses) {
  auto s = stream("xx..........");  // successes from 20 to 110
  EXPECT_TRUE(settled(s, s.size(), 0, 80));
  EXPECT_FALSE(settled(s, s.size(), 0, 100));  // the window reaches the failure at 10
  EXPECT_FALSE(settled(s, s.size(), 50, 80));  // not 80 ms of stream since 50
  EXPECT_FALSE(settled(s, 5, 0, 30));          // only the first 5 are finished: 20..40
  EXPECT_TRUE(settled(s, 6, 0, 30));
  EXPECT_FALSE(settled({}, 0, 0, 10));
}

}  // namespace
}  // namespace tandem::app::demo
