// Daemon signals on the loop: SIGHUP reload, SIGTERM/SIGINT graceful stop, SIGUSR1 dump.
#pragma once

#include <functional>
#include <memory>

namespace asio {
class io_context;
}

namespace tandem::core {

struct SignalHandlers {
  std::function<void()> reload;         // SIGHUP
  std::function<void(int signo)> stop;  // SIGTERM, SIGINT
  std::function<void()> dump;           // SIGUSR1
  std::function<void()> user2;          // SIGUSR2 (optional; e.g. master-worker reload)
};

// Handlers run on the loop, never in signal context. A second SIGTERM/SIGINT while a
// graceful stop is under way calls stop again, so the owner can choose to hurry.
class SignalWatcher {
 public:
  SignalWatcher(asio::io_context& io, SignalHandlers handlers);
  ~SignalWatcher();
  void cancel();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::core
