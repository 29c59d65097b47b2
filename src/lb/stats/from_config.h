// Builds the configured part of a StatsView from an lb::Config (names, haproxy's ids, modes,
// limits, weights, check parameters, initial states) and updates servers from their health
// checkers. The run-time keeps one view, and refreshes its counters from each snapshot.
#pragma once

#include "core/clock.h"
#include "lb/config.h"
#include "lb/health.h"
#include "lb/stats/view.h"

namespace tandem::lb::stats {

// Frontends, backends and listens in config order, numbered as haproxy 2.6 numbers them (its
// CLI proxy takes id 1 when there is a stats socket). Servers start as haproxy's do: checked
// ones UP with health at rise, `disabled` ones in MAINT. A frontend's limit is its maxconn or
// the global one; a backend's fullconn is a tenth of the limits of the frontends that can use
// it (by default_backend or use_backend), as haproxy's default. `process` is left empty.
StatsView view_from_config(const Config& config);

// A server's check state and last result from its checker. `now` gives last_change_s.
void apply_health(ServerView& server, const health::ServerHealth& health, core::TimePoint now);

// The last result as the stats show it.
CheckInfo check_info(const health::CheckResult& result);

}  // namespace tandem::lb::stats
