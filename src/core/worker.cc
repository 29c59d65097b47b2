#include "core/worker.h"

#include <pthread.h>

#include <optional>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

namespace tandem::core {

struct Worker::Impl {
  asio::io_context io{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
};

Worker::Worker(std::string name) : name_(std::move(name)), impl_(std::make_unique<Impl>()) {
  clock_ = std::make_unique<SteadyClock>(impl_->io);
  impl_->guard.emplace(impl_->io.get_executor());
}

Worker::~Worker() {
  stop();
  join();
}

asio::io_context& Worker::io() {
  return impl_->io;
}

void Worker::run() {
  // The loop's thread-local settings, for the length of the run.
  struct Settings {
    Settings(bool per_turn, IdlePoll* poll) : per_turn_(per_turn) {
      if (per_turn_) core::cache_time_per_turn(true);
      detail::idle_poll = poll;
    }
    ~Settings() {
      if (per_turn_) core::cache_time_per_turn(false);
      detail::idle_poll = nullptr;
    }
    bool per_turn_;
  };
  Settings settings(time_per_turn_, &idle_poll_);
  impl_->io.run();
}

void Worker::start_thread() {
  thread_ = std::thread([this] {
    // The worker's name on its thread ("lb-0", ...: top -H, /proc/PID/task/*/comm); the
    // kernel keeps 15 bytes of it.
    ::pthread_setname_np(::pthread_self(), name_.substr(0, 15).c_str());
    run();
  });
}

void Worker::stop() {
  impl_->guard.reset();
  impl_->io.stop();
}

void Worker::join() {
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void Worker::post(std::function<void()> fn) {
  asio::post(impl_->io, std::move(fn));
}

bool Worker::running_in_this_thread() const {
  return impl_->io.get_executor().running_in_this_thread();
}

}  // namespace tandem::core
