#include "core/worker.h"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <csignal>

#include "core/signals.h"

namespace tandem::core {
namespace {

using std::chrono::milliseconds;

TEST(Worker, RunsPostedWorkOnItsThreadAndStops) {
  Worker w("w0");
  std::atomic<bool> ran{false};
  std::atomic<bool> on_loop{false};
  w.start_thread();
  w.post([&] {
    on_loop = w.running_in_this_thread();
    ran = true;
    w.stop();
  });
  w.join();
  EXPECT_TRUE(ran);
  EXPECT_TRUE(on_loop);
  EXPECT_FALSE(w.running_in_this_thread());
}

TEST(Worker, SteadyClockTimerFiresOnTheLoopAndCancelledOneDoesNot) {
  Worker w("w1");
  auto t1 = w.clock().make_timer();
  auto t2 = w.clock().make_timer();
  bool fired1 = false, fired2 = false;
  TimePoint start = w.clock().now();
  TimePoint at1{};
  t1->arm_at(start + milliseconds(20), [&] {
    fired1 = true;
    at1 = w.clock().now();
    w.stop();
  });
  t2->arm_at(start + milliseconds(5), [&] { fired2 = true; });
  t2->cancel();
  w.run();
  EXPECT_TRUE(fired1);
  EXPECT_FALSE(fired2);
  EXPECT_GE(at1 - start, Duration(milliseconds(20)));
}

TEST(SignalWatcher, DeliversEachSignalToItsHandlerOnTheLoop) {
  Worker w("sig");
  std::vector<std::string> seen;
  SignalWatcher watcher(w.io(), SignalHandlers{
                                    .reload = [&] { seen.push_back("reload"); },
                                    .stop =
                                        [&](int signo) {
                                          seen.push_back(signo == SIGTERM ? "term" : "int");
                                          w.stop();
                                        },
                                    .dump = [&] { seen.push_back("dump"); },
                                    .user2 = nullptr,
                                });
  // Raised in order; asio queues each and the loop delivers them in that order.
  w.post([] {
    std::raise(SIGHUP);
    std::raise(SIGUSR1);
    std::raise(SIGTERM);
  });
  w.run();
  EXPECT_EQ(seen, (std::vector<std::string>{"reload", "dump", "term"}));
}

}  // namespace
}  // namespace tandem::core
