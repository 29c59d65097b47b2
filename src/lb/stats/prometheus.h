// The Prometheus text exposition (format 0.0.4) of a StatsView, with the metric names of
// haproxy 2.6's prometheus-exporter service (haproxy_process_*, haproxy_frontend_*,
// haproxy_backend_*, haproxy_server_*) so that its dashboards work, plus tandem_* metrics.
#pragma once

#include <string>
#include <string_view>

#include "lb/stats/view.h"

namespace tandem::lb::stats {

// The Content-Type to serve it with.
inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4";

// Every family once, with # HELP and # TYPE lines; labels proxy=, server=, state=, code=.
// A value haproxy has no number for (no limit) is NaN, as haproxy writes it.
std::string render_prometheus(const StatsView& view);

}  // namespace tandem::lb::stats
