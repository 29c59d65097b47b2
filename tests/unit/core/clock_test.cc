#include "core/clock.h"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <thread>
#include <vector>

#include "core/worker.h"

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

// A thread that asked for it reads the clock once per turn of its loop: handlers of one
// turn see the same time however long they take; the next return from epoll_wait(2) moves
// it on. Other threads, and the same thread once it stops asking, see the clock itself.
TEST(SteadyClock, OneReadingPerTurnOfTheLoopWhereAsked) {
  asio::io_context io{1};
  SteadyClock clock(io);
  const TimePoint a = clock.now();
  std::this_thread::sleep_for(milliseconds(2));
  EXPECT_GT(clock.now(), a);  // not asked: live

  TimePoint first{}, later_same_turn{}, next_turn{};
  asio::steady_timer timer(io);
  asio::post(io, [&] {
    first = clock.now();
    std::this_thread::sleep_for(milliseconds(3));
    later_same_turn = clock.now();
    timer.expires_after(milliseconds(2));
    timer.async_wait([&](std::error_code) { next_turn = clock.now(); });
  });
  cache_time_per_turn(true);
  io.run();
  cache_time_per_turn(false);
  EXPECT_EQ(later_same_turn, first);
  EXPECT_GE(next_turn - first, milliseconds(3) + milliseconds(2));

  const TimePoint b = clock.now();
  std::this_thread::sleep_for(milliseconds(2));
  EXPECT_GT(clock.now(), b);  // live again
}

TEST(SteadyClock, WorkerLoopReadsOncePerTurnWhenAsked) {
  for (bool per_turn : {false, true}) {
    Worker w("t");
    if (per_turn) w.cache_time_per_turn();
    Duration seen{};
    w.post([&] {
      const TimePoint t0 = w.clock().now();
      std::this_thread::sleep_for(milliseconds(3));
      seen = w.clock().now() - t0;
      w.stop();
    });
    w.start_thread();
    w.join();
    if (per_turn) {
      EXPECT_EQ(seen, Duration::zero());
    } else {
      EXPECT_GE(seen, milliseconds(3));
    }
  }
}

}  // namespace
}  // namespace tandem::core
