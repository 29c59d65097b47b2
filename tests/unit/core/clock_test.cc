#include "core/clock.h"

#include <gtest/gtest.h>

#include <vector>

namespace tandem::core {
namespace {

using std::chrono::milliseconds;

TEST(ManualClock, StartsWhereToldAndMovesOnlyWhenAdvanced) {
  ManualClock clock(TimePoint(std::chrono::seconds(5)));
  EXPECT_EQ(clock.now(), TimePoint(std::chrono::seconds(5)));
  clock.advance(milliseconds(250));
  EXPECT_EQ(clock.now(), TimePoint(milliseconds(5250)));
}

TEST(ManualClock, FiresDueTimersInDeadlineOrderWithNowAtEachDeadline) {
  ManualClock clock;
  const TimePoint t0 = clock.now();
  std::vector<std::pair<int, Duration>> fired;
  auto a = clock.make_timer();
  auto b = clock.make_timer();
  auto c = clock.make_timer();
  a->arm_at(t0 + milliseconds(30), [&] { fired.emplace_back(1, clock.now() - t0); });
  b->arm_at(t0 + milliseconds(10), [&] { fired.emplace_back(2, clock.now() - t0); });
  c->arm_at(t0 + milliseconds(10), [&] { fired.emplace_back(3, clock.now() - t0); });
  clock.advance(milliseconds(20));
  ASSERT_EQ(fired.size(), 2u);
  EXPECT_EQ(fired[0], std::make_pair(2, Duration(milliseconds(10))));
  EXPECT_EQ(fired[1], std::make_pair(3, Duration(milliseconds(10))));  // ties: arming order
  EXPECT_TRUE(a->armed());
  EXPECT_FALSE(b->armed());
  clock.advance(milliseconds(20));
  ASSERT_EQ(fired.size(), 3u);
  EXPECT_EQ(fired[2], std::make_pair(1, Duration(milliseconds(30))));
  EXPECT_EQ(clock.now() - t0, Duration(milliseconds(40)));
}

TEST(ManualClock, CancelAndRearmAndDestroyNeverFireTheOldCallback) {
  ManualClock clock;
  int fired = 0;
  auto t = clock.make_timer();
  t->arm_at(clock.now() + milliseconds(10), [&] { fired += 1; });
  t->cancel();
  EXPECT_FALSE(t->armed());
  t->arm_at(clock.now() + milliseconds(10), [&] { fired += 10; });
  t->arm_at(clock.now() + milliseconds(20), [&] { fired += 100; });  // replaces
  EXPECT_EQ(t->deadline(), clock.now() + milliseconds(20));
  {
    auto gone = clock.make_timer();
    gone->arm_at(clock.now() + milliseconds(5), [&] { fired += 1000; });
  }
  EXPECT_EQ(clock.pending(), 1u);
  clock.advance(milliseconds(50));
  EXPECT_EQ(fired, 100);
}

TEST(ManualClock, CallbackMayRearmItsOwnTimerAndChainRunsInOrder) {
  ManualClock clock;
  auto t = clock.make_timer();
  int count = 0;
  std::function<void()> tick = [&] {
    ++count;
    if (count < 5) t->arm_at(clock.now() + milliseconds(100), tick);
  };
  t->arm_at(clock.now() + milliseconds(100), tick);
  clock.advance(milliseconds(1000));
  EXPECT_EQ(count, 5);
  EXPECT_EQ(clock.next_deadline(), TimePoint::max());
}

TEST(ManualClock, TimerOutlivingItsClockIsHarmless) {
  TimerPtr t;
  {
    ManualClock clock;
    t = clock.make_timer();
    t->arm_at(clock.now() + milliseconds(1), [] {});
  }
  EXPECT_FALSE(t->armed());
  t->cancel();
}

TEST(ManualClock, ArmingForNowRunsOnRunDue) {
  ManualClock clock;
  bool fired = false;
  auto t = clock.make_timer();
  t->arm_at(clock.now(), [&] { fired = true; });
  EXPECT_FALSE(fired);
  clock.run_due();
  EXPECT_TRUE(fired);
}

}  // namespace
}  // namespace tandem::core
