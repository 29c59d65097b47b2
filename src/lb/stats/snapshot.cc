#include "lb/stats/snapshot.h"

#include <algorithm>

namespace tandem::lb::stats {
namespace {

void copy(Traffic& t, const proxy::Counters& c) {
  t.sessions_current = c.sessions_current;
  t.sessions_max = std::max(t.sessions_max, c.sessions_current);
  t.sessions_total = c.sessions_total;
  t.bytes_in = c.bytes_in;
  t.bytes_out = c.bytes_out;
  t.connect_errors = c.connect_errors;
  t.response_errors = c.response_errors;
  t.request_errors = c.request_errors;
  t.retries = c.retries;
  t.redispatches = c.redispatches;
  t.denied_connections = c.denied_conns;
  t.denied_requests = c.denied_req;
  t.denied_responses = c.denied_resp;
  t.intercepted = c.intercepted;
  t.queue_current = c.queue_current;
  t.queue_max = std::max(t.queue_max, c.queue_max);
  t.http_requests = c.http_requests;
  t.http_responses = c.http_status;  // same order: [0] other, [1..5] 1xx..5xx
}

}  // namespace

void apply_snapshot(StatsView& view, const proxy::Snapshot& snapshot) {
  ProcessInfo& p = view.process;
  p.current_conns = p.total_conns = p.total_requests = p.bytes_out_total = 0;
  p.spliced_bytes_out_total = 0;
  view.tandem = {};
  for (const auto& ps : snapshot.proxies) {
    ProxyView* pv = view.find_proxy(ps.name);
    if (!pv) continue;
    if (pv->is_frontend()) {
      copy(pv->frontend, ps.frontend);
      pv->frontend.connections_total = ps.frontend.sessions_total;
      p.current_conns += ps.frontend.sessions_current;
      p.total_conns += ps.frontend.sessions_total;
      p.total_requests += ps.frontend.http_requests;
      p.bytes_out_total += ps.frontend.bytes_out;
      p.spliced_bytes_out_total += ps.frontend.spliced_out;
      view.tandem.spliced_bytes += ps.frontend.spliced_in + ps.frontend.spliced_out;
    }
    if (pv->is_backend()) {
      copy(pv->backend, ps.backend);
      pv->backend.lb_total = ps.backend.sessions_total;
      pv->backend.connect_attempts = ps.backend.sessions_total + ps.backend.retries;
      view.tandem.reuse_hits += ps.backend.reused;
    }
    for (size_t r = 0; r < pv->rejects.size(); ++r) {
      pv->rejects[r] = ps.frontend.rejected[r] + ps.backend.rejected[r];
    }
    for (const auto& ss : ps.servers) {
      ServerView* sv = pv->find_server(ss.name);
      if (!sv) continue;
      copy(sv->traffic, ss.counters);
      sv->traffic.lb_total = ss.counters.sessions_total;
      sv->traffic.connect_attempts = ss.counters.sessions_total + ss.counters.retries;
    }
  }
}

}  // namespace tandem::lb::stats
