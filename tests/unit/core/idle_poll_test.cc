#include "core/idle_poll.h"

#include <pthread.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/worker.h"

namespace tandem::core {
namespace {

constexpr int64_t kUs = 1000;

// Drives `p` through `rounds` turns of `busy_us` of work then a wait of `wait_us`, from
// `t` on; returns the poll or nap asked for at the last wait.
int64_t run_pattern(IdlePoll& p, int64_t& t, int64_t busy_us, int64_t wait_us, int rounds) {
  int64_t ahead = 0;
  for (int i = 0; i < rounds; ++i) {
    t += busy_us * kUs;
    ahead = p.before_wait(t);
    t += wait_us * kUs;
    p.after_wait(t);
  }
  return ahead;
}

TEST(IdlePoll, SleepsAtOnceUntilTheLoopIsBusyWithShortWaits) {
  IdlePoll p;
  int64_t t = 1'000'000'000;
  EXPECT_EQ(p.before_wait(t), 0);  // nothing known yet: sleep
  p.after_wait(t += 5 * kUs);
  // Busy 90% of the time, waits of 10 µs: nap.
  EXPECT_EQ(run_pattern(p, t, 90, 10, 200), IdlePoll::kNapNs);
  EXPECT_NEAR(p.busy_share(), 0.9, 0.01);
}

TEST(IdlePoll, ALightlyLoadedLoopSleepsAtOnce) {
  IdlePoll p;
  int64_t t = 1'000'000'000;
  // Busy 30%: the waits are short but the core is mostly idle.
  EXPECT_EQ(run_pattern(p, t, 3, 7, 5000), 0);
  EXPECT_NEAR(p.busy_share(), 0.3, 0.01);
}

TEST(IdlePoll, ABusyLoopWithLongWaitsSleepsAtOnce) {
  IdlePoll p;
  int64_t t = 1'000'000'000;
  // Busy 90%, but each wait is 100 µs, longer than a nap.
  EXPECT_EQ(run_pattern(p, t, 900, 100, 200), 0);
}

TEST(IdlePoll, StopsAfterAnIdlePeriodAndResumesUnderLoad) {
  IdlePoll p;
  int64_t t = 1'000'000'000;
  ASSERT_EQ(run_pattern(p, t, 90, 10, 200), IdlePoll::kNapNs);
  // A second asleep: the next waits sleep at once...
  run_pattern(p, t, 90, 1'000'000, 1);
  EXPECT_EQ(run_pattern(p, t, 90, 10, 5), 0);
  // ...until the load has lasted again (a few of the 16 ms window).
  EXPECT_EQ(run_pattern(p, t, 90, 10, 2000), IdlePoll::kNapNs);
}

TEST(IdlePoll, ModesOffAndAlways) {
  IdlePoll p(IdlePoll::Mode::kAlways);
  int64_t t = 1'000'000'000;
  EXPECT_EQ(run_pattern(p, t, 1, 1000, 3), IdlePoll::kForeverNs);
  p.set_mode(IdlePoll::Mode::kOff);
  EXPECT_EQ(run_pattern(p, t, 90, 10, 200), 0);
}

// What wait_for_events did, with a fake epoll_wait, nap and clock.
struct FakeLoop {
  std::vector<std::string> calls;
  std::vector<int> answers;  // what each poll returns, in order; then 0
  size_t next = 0;
  int64_t t = 1'000'000'000;
  int wait(IdlePoll& p, int timeout_ms) {
    calls.clear();
    return wait_for_events(
        p, timeout_ms,
        [&](int ms) {
          calls.push_back("poll " + std::to_string(ms));
          t += kUs;  // each poll takes 1 µs
          return next < answers.size() ? answers[next++] : 0;
        },
        [&](int64_t ns) {
          calls.push_back("nap " + std::to_string(ns));
          t += ns;
        },
        [&] { return t; });
  }
};

// A busy loop: one poll without waiting, then a nap, then the ordinary wait, which finds
// at once what came during the nap.
TEST(IdlePoll, ABusyLoopNapsBeforeItSleeps) {
  IdlePoll p;
  FakeLoop loop;
  int64_t t = loop.t;
  run_pattern(p, t, 90, 10, 200);
  loop.t = t + 90 * kUs;
  loop.answers = {0, 3};
  EXPECT_EQ(loop.wait(p, 1000), 3);
  EXPECT_EQ(loop.calls, (std::vector<std::string>{
                            "poll 0", "nap " + std::to_string(IdlePoll::kNapNs), "poll 1000"}));
  // Something there already: no nap.
  loop.answers = {2};
  loop.next = 0;
  EXPECT_EQ(loop.wait(p, 1000), 2);
  EXPECT_EQ(loop.calls, (std::vector<std::string>{"poll 0"}));
}

TEST(IdlePoll, AnIdleLoopAndANullTimeoutOnlyWait) {
  IdlePoll p;
  FakeLoop loop;
  EXPECT_EQ(loop.wait(p, 1000), 0);  // nothing known yet
  EXPECT_EQ(loop.calls, (std::vector<std::string>{"poll 1000"}));
  EXPECT_EQ(loop.wait(p, 0), 0);
  EXPECT_EQ(loop.calls, (std::vector<std::string>{"poll 0"}));
  p.set_mode(IdlePoll::Mode::kOff);
  EXPECT_EQ(loop.wait(p, -1), 0);
  EXPECT_EQ(loop.calls, (std::vector<std::string>{"poll -1"}));
}

// haproxy's busy-polling: polls without waiting until something comes, never naps.
TEST(IdlePoll, AlwaysPollsUntilAnEvent) {
  IdlePoll p(IdlePoll::Mode::kAlways);
  FakeLoop loop;
  loop.answers = {0, 0, 0, 1};
  EXPECT_EQ(loop.wait(p, -1), 1);
  EXPECT_EQ(loop.calls, (std::vector<std::string>{"poll 0", "poll 0", "poll 0", "poll 0"}));
}

// The CPU time the worker's thread used over `wall` with nothing to do.
std::chrono::nanoseconds idle_cpu(IdlePoll::Mode mode, std::chrono::milliseconds wall) {
  Worker w("poll");
  w.poll_before_sleep(mode);
  // A timer far off: the loop then waits in the reactor (epoll), as a proxy's does, rather
  // than on asio's condition variable (a loop with no I/O object at all).
  auto far = w.clock().make_timer();
  w.clock().arm_after(*far, std::chrono::hours(1), [] {});
  std::atomic<pthread_t> tid{};
  std::atomic<bool> started{false};
  w.post([&] {
    tid = pthread_self();
    started = true;
  });
  w.start_thread();
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  clockid_t cid{};
  timespec a{}, b{};
  EXPECT_EQ(pthread_getcpuclockid(tid.load(), &cid), 0);
  EXPECT_EQ(clock_gettime(cid, &a), 0);
  std::this_thread::sleep_for(wall);
  clock_gettime(cid, &b);
  w.stop();
  w.join();
  return std::chrono::seconds(b.tv_sec - a.tv_sec) +
         std::chrono::nanoseconds(b.tv_nsec - a.tv_nsec);
}

// Through asio's reactor: a loop told to poll always burns its core while idle (haproxy's
// busy-polling), an adaptive or plain one sleeps.
TEST(IdlePoll, AnIdleWorkerSpinsOnlyWhenToldToAlways) {
  using std::chrono::milliseconds;
  EXPECT_GE(idle_cpu(IdlePoll::Mode::kAlways, milliseconds(300)), milliseconds(60));
  EXPECT_LE(idle_cpu(IdlePoll::Mode::kAdaptive, milliseconds(300)), milliseconds(20));
  EXPECT_LE(idle_cpu(IdlePoll::Mode::kOff, milliseconds(300)), milliseconds(20));
}

}  // namespace
}  // namespace tandem::core
