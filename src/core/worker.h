// A Worker is one event loop (asio::io_context with concurrency hint 1) on one thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/idle_poll.h"

namespace tandem::core {

class Worker {
 public:
  explicit Worker(std::string name);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  asio::io_context& io();
  Clock& clock() { return *clock_; }
  const std::string& name() const { return name_; }

  // Runs the loop on the calling thread until stop(); work_guard keeps it alive when idle.
  void run();
  // Before run(): the loop's thread reads the clock once per turn (cache_time_per_turn).
  void cache_time_per_turn() { time_per_turn_ = true; }
  // Before run(): whether the loop naps (kAdaptive) or polls (kAlways) before it sleeps
  // (core/idle_poll.h; by default it sleeps at once).
  void poll_before_sleep(IdlePoll::Mode mode) { idle_poll_.set_mode(mode); }
  // From the loop's own thread: sleep at once from now on, neither napping nor polling.
  void stop_polling() { idle_poll_.set_mode(IdlePoll::Mode::kOff); }
  // Runs the loop on a thread of its own.
  void start_thread();
  // Asks the loop to return; safe from any thread.
  void stop();
  // Waits for the thread started by start_thread().
  void join();
  // Runs fn on this worker's loop; safe from any thread.
  void post(std::function<void()> fn);
  bool running_in_this_thread() const;

 private:
  struct Impl;
  std::string name_;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<Clock> clock_;
  std::thread thread_;
  bool time_per_turn_ = false;
  IdlePoll idle_poll_{IdlePoll::Mode::kOff};
};

}  // namespace tandem::core
