#include "core/signals.h"

#include <csignal>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

namespace tandem::core {

struct SignalWatcher::Impl {
  Impl(asio::io_context& io, SignalHandlers h) : set(io), handlers(std::move(h)) {}

  void wait() {
    set.async_wait([this](const std::error_code& ec, int signo) {
      if (ec) return;  // cancelled
      switch (signo) {
        case SIGHUP:
          if (handlers.reload) handlers.reload();
          break;
        case SIGTERM:
        case SIGINT:
          if (handlers.stop) handlers.stop(signo);
          break;
        case SIGUSR1:
          if (handlers.dump) handlers.dump();
          break;
        case SIGUSR2:
          if (handlers.user2) handlers.user2();
          break;
        default:
          break;
      }
      wait();
    });
  }

  asio::signal_set set;
  SignalHandlers handlers;
};

SignalWatcher::SignalWatcher(asio::io_context& io, SignalHandlers handlers)
    : impl_(std::make_unique<Impl>(io, std::move(handlers))) {
  impl_->set.add(SIGHUP);
  impl_->set.add(SIGTERM);
  impl_->set.add(SIGINT);
  impl_->set.add(SIGUSR1);
  if (impl_->handlers.user2) impl_->set.add(SIGUSR2);
  // A write to a closed peer must be an error code, not the end of the daemon.
  std::signal(SIGPIPE, SIG_IGN);
  impl_->wait();
}

SignalWatcher::~SignalWatcher() {
  cancel();
}

void SignalWatcher::cancel() {
  std::error_code ignored;
  impl_->set.cancel(ignored);
}

}  // namespace tandem::core
