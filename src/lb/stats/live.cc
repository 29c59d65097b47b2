#include "lb/stats/live.h"

#include <unistd.h>

#include <chrono>

#include "lb/stats/from_config.h"
#include "lb/stats/snapshot.h"

namespace tandem::lb::stats {
namespace {

AdminState admin_of(proxy::ServerAdmin a) {
  switch (a) {
    case proxy::ServerAdmin::kDrain:
      return AdminState::kDrain;
    case proxy::ServerAdmin::kMaint:
      return AdminState::kMaint;
    case proxy::ServerAdmin::kReady:
      break;
  }
  return AdminState::kReady;
}

proxy::ServerAdmin to_runtime(AdminState a) {
  switch (a) {
    case AdminState::kDrain:
      return proxy::ServerAdmin::kDrain;
    case AdminState::kMaint:
      return proxy::ServerAdmin::kMaint;
    case AdminState::kReady:
      break;
  }
  return proxy::ServerAdmin::kReady;
}

core::Result<void> no_such_server() {
  return core::fail("No such server.\n");
}

}  // namespace

LiveStats::LiveStats(const Config& config, proxy::Runtime& runtime, core::Worker& main_loop,
                     ProcessInfo process, Hooks hooks)
    : runtime_(runtime),
      main_loop_(main_loop),
      hooks_(std::move(hooks)),
      view_(view_from_config(config)),
      started_(main_loop.clock().now()) {
  view_.process = std::move(process);
  view_.process.nbthread = runtime.thread_count();
  published_ = std::make_shared<const StatsView>(view_);
}

void LiveStats::refresh() {
  apply_snapshot(view_, runtime_.snapshot());
  if (hooks_.apply_health) hooks_.apply_health(view_);
  overlay_states(view_);
  const auto up = main_loop_.clock().now() - started_;
  view_.process.pid = static_cast<uint32_t>(::getpid());  // changes when going to the background
  view_.process.uptime_s =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(up).count());
  auto copy = std::make_shared<const StatsView>(view_);
  std::lock_guard lock(mu_);
  published_ = std::move(copy);
}

std::shared_ptr<const StatsView> LiveStats::current() const {
  std::lock_guard lock(mu_);
  return published_;
}

void LiveStats::overlay_states(StatsView& view) const {
  for (ProxyView& p : view.proxies) {
    if (!p.is_backend()) continue;
    for (ServerView& s : p.servers) {
      auto st = runtime_.server_state(p.name, s.name);
      if (!st) continue;
      s.admin = admin_of(st->admin);
      s.weight = st->weight;
      s.maxconn = st->maxconn;
      // Unchecked servers follow the run-time; checked ones were set by apply_health.
      if (!s.checked) s.op = st->up ? OpState::kRunning : OpState::kStopped;
    }
  }
}

StatsView LiveStats::view() {
  if (main_loop_.running_in_this_thread()) {
    refresh();
    return view_;
  }
  StatsView v = *current();
  overlay_states(v);
  return v;
}

core::Result<void> LiveStats::set_admin_state(std::string_view backend, std::string_view server,
                                              AdminState state) {
  auto before = runtime_.server_state(backend, server);
  if (!before) return no_such_server();
  runtime_.set_server_admin(backend, server, to_runtime(state));
  const bool was_maint = before->admin == proxy::ServerAdmin::kMaint;
  const bool maint = state == AdminState::kMaint;
  if (was_maint != maint && hooks_.on_maint) {
    auto apply = [this, b = std::string(backend), s = std::string(server), maint] {
      hooks_.on_maint(b, s, maint);
    };
    if (main_loop_.running_in_this_thread()) {
      apply();
    } else {
      main_loop_.post(apply);
    }
  }
  admin_changed();
  return {};
}

void LiveStats::admin_changed() {
  if (!hooks_.on_admin_change) return;
  if (main_loop_.running_in_this_thread()) {
    hooks_.on_admin_change();
  } else {
    main_loop_.post([this] { hooks_.on_admin_change(); });
  }
}

core::Result<void> LiveStats::set_weight(std::string_view backend, std::string_view server,
                                         uint32_t weight) {
  if (!runtime_.set_server_weight(backend, server, weight)) {
    return core::fail("Absolute weight can only be between 0 and 256 inclusive.\n");
  }
  admin_changed();
  return {};
}

core::Result<void> LiveStats::set_maxconn(std::string_view backend, std::string_view server,
                                          uint32_t maxconn) {
  if (!runtime_.set_server_maxconn(backend, server, maxconn)) return no_such_server();
  return {};
}

core::Result<void> LiveStats::shutdown_sessions(std::string_view backend, std::string_view server) {
  if (!runtime_.shutdown_server_sessions(backend, server)) return no_such_server();
  return {};
}

}  // namespace tandem::lb::stats
