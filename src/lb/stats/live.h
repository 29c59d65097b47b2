// The statistics of a running tandem-lb: a StatsView the main loop refreshes from the proxy
// run-time (counters, server states) and the health checkers, published for the workers, and
// the runtime API's AdminTarget over the run-time.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string_view>

#include "core/worker.h"
#include "lb/config.h"
#include "lb/proxy/proxy.h"
#include "lb/stats/admin_api.h"
#include "lb/stats/view.h"

namespace tandem::lb::stats {

class LiveStats final : public AdminTarget {
 public:
  struct Hooks {
    // Main loop: a server enters (true) or leaves (false) maintenance; health checks stop or
    // start again. May be empty.
    std::function<void(std::string_view backend, std::string_view server, bool maint)> on_maint;
    // Main loop: copies the health checkers' states into the view. May be empty.
    std::function<void(StatsView&)> apply_health;
    // Main loop: an operator changed a server's admin state or weight (to save the states
    // for the next worker). May be empty.
    std::function<void()> on_admin_change;
  };

  // `process` gives the fixed fields of `show info` (name, version, node, pid, limits);
  // `main_loop` is where refresh() and the hooks run.
  LiveStats(const Config& config, proxy::Runtime& runtime, core::Worker& main_loop,
            ProcessInfo process, Hooks hooks);

  // Main loop only: a run-time snapshot, the checks and the states into the view, published.
  void refresh();
  // The last published view; any thread, cheap (a shared pointer under a lock).
  std::shared_ptr<const StatsView> current() const;

  // AdminTarget, safe from any thread. view() is fresh on the main loop; on a worker it is
  // the last published one with the servers' states read now.
  StatsView view() override;
  core::Result<void> set_admin_state(std::string_view backend, std::string_view server,
                                     AdminState state) override;
  core::Result<void> set_weight(std::string_view backend, std::string_view server,
                                uint32_t weight) override;
  core::Result<void> set_maxconn(std::string_view backend, std::string_view server,
                                 uint32_t maxconn) override;
  core::Result<void> shutdown_sessions(std::string_view backend, std::string_view server) override;

 private:
  void overlay_states(StatsView& view) const;
  void admin_changed();  // runs hooks_.on_admin_change on the main loop

  proxy::Runtime& runtime_;
  core::Worker& main_loop_;
  Hooks hooks_;
  StatsView view_;  // main loop only
  core::TimePoint started_;
  mutable std::mutex mu_;
  std::shared_ptr<const StatsView> published_;
};

}  // namespace tandem::lb::stats
