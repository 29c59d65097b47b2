#include "vrrp/track.h"

#include <gtest/gtest.h>

namespace tandem::vrrp {
namespace {

TEST(PriorityTracker, PositiveWeightsAddWhileUpNegativeWhileDown) {
  PriorityTracker t(100);
  size_t plus = t.add("chk_haproxy", {2, false}, true);
  size_t minus = t.add("chk_disk", {-20, false}, true);
  EXPECT_EQ(t.verdict().priority, 102);
  EXPECT_TRUE(t.set(plus, false));
  EXPECT_FALSE(t.set(plus, false));
  EXPECT_EQ(t.verdict().priority, 100);
  t.set(minus, false);
  EXPECT_EQ(t.verdict().priority, 80);
  EXPECT_FALSE(t.verdict().fault);
}

TEST(PriorityTracker, ReverseSwapsWhichStateCounts) {
  PriorityTracker t(100);
  size_t r = t.add("maintenance_flag", {-50, true}, true);
  EXPECT_EQ(t.verdict().priority, 50);  // "up" counts as down with reverse
  t.set(r, false);
  EXPECT_EQ(t.verdict().priority, 100);
}

TEST(PriorityTracker, WeightZeroDownIsFault) {
  PriorityTracker t(100);
  size_t eth = t.add("eth0", {0, false}, true);
  EXPECT_FALSE(t.verdict().fault);
  t.set(eth, false);
  EXPECT_TRUE(t.verdict().fault);
  EXPECT_EQ(t.verdict().priority, 100);
}

TEST(PriorityTracker, ClampsToOneTo254AndLeavesOwnersAlone) {
  PriorityTracker low(10);
  low.add("a", {-100, false}, false);
  EXPECT_EQ(low.verdict().priority, 1);
  PriorityTracker high(250);
  high.add("a", {50, false}, true);
  EXPECT_EQ(high.verdict().priority, 254);
  PriorityTracker owner(255);
  owner.add("a", {-100, false}, false);
  EXPECT_EQ(owner.verdict().priority, 255);
}

TEST(PriorityTracker, FileValuesMultiplyTheWeight) {
  PriorityTracker t(100);
  size_t f = t.add_value("maintenance", {-10, false}, 0);
  EXPECT_EQ(t.verdict().priority, 100);
  EXPECT_TRUE(t.set_value(f, 3));
  EXPECT_EQ(t.verdict().priority, 70);
  EXPECT_FALSE(t.set_value(f, 3));
  EXPECT_TRUE(t.set_value(f, -2));
  EXPECT_EQ(t.verdict().priority, 120);
  size_t r = t.add_value("boost", {5, true}, 2);  // reverse: -10
  EXPECT_EQ(t.verdict().priority, 110);
  t.set_value(r, 0);
  EXPECT_EQ(t.verdict().priority, 120);
  EXPECT_FALSE(t.verdict().fault);
  t.set_value(f, 26);  // -260: keepalived's "-254 or less" means FAULT
  EXPECT_TRUE(t.verdict().fault);
}

TEST(PriorityTracker, FileWithWeightZeroIsFaultOnAnyNonZeroValue) {
  PriorityTracker t(100);
  size_t f = t.add_value("down_flag", {0, false}, 1);
  EXPECT_TRUE(t.verdict().fault);
  t.set_value(f, 0);
  EXPECT_FALSE(t.verdict().fault);
  EXPECT_EQ(t.verdict().priority, 100);
}

TEST(RiseFall, NeedsFallFailuresAndRiseSuccessesInARow) {
  RiseFall rf(2, 3, true);
  EXPECT_FALSE(rf.result(false));
  EXPECT_FALSE(rf.result(false));
  EXPECT_FALSE(rf.result(true));  // the run is broken
  EXPECT_FALSE(rf.result(false));
  EXPECT_FALSE(rf.result(false));
  EXPECT_TRUE(rf.result(false));
  EXPECT_FALSE(rf.up());
  EXPECT_FALSE(rf.result(true));
  EXPECT_TRUE(rf.result(true));
  EXPECT_TRUE(rf.up());
}

TEST(RiseFall, OneAndOneFollowsEveryResult) {
  RiseFall rf(1, 1, false);
  EXPECT_TRUE(rf.result(true));
  EXPECT_TRUE(rf.result(false));
  EXPECT_FALSE(rf.result(false));
}

}  // namespace
}  // namespace tandem::vrrp
