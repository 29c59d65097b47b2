// Copies a proxy run-time snapshot's counters into a StatsView made by view_from_config. Kept
// apart (library tandem_lb_stats_rt) so that the pure stats code does not depend on the
// run-time.
#pragma once

#include "lb/proxy/proxy.h"
#include "lb/stats/view.h"

namespace tandem::lb::stats {

// Proxies and servers are matched by name; what the snapshot does not know stays as it was.
// Maxima (smax) are the highest values seen by the calls so far: keep one view and apply each
// snapshot to it. Also sums the frontends into the process totals.
void apply_snapshot(StatsView& view, const proxy::Snapshot& snapshot);

}  // namespace tandem::lb::stats
