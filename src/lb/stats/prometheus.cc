#include "lb/stats/prometheus.h"

#include <fmt/format.h>

#include <cmath>
#include <functional>
#include <optional>

namespace tandem::lb::stats {
namespace {

using Value = std::optional<double>;  // unset: NaN

constexpr std::array<std::string_view, 5> kStates = {"DOWN", "UP", "MAINT", "DRAIN", "NOLB"};
constexpr std::array<std::string_view, 15> kCheckStates = {
    "HANA",   "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK",    "L6TOUT",  "L6RSP",
    "L7TOUT", "L7RSP",   "L7OK", "L7OKC",  "L7STS", "PROCERR", "PROCTOUT"};
constexpr std::array<std::string_view, 6> kCodes = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

std::string escape_label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string format_value(Value v) {
  if (!v || std::isnan(*v)) return "NaN";
  double d = *v;
  if (d == std::floor(d) && std::fabs(d) < 1e15) return fmt::format("{}", static_cast<int64_t>(d));
  return fmt::format("{:.6f}", d);
}

double seconds(uint64_t ms) {
  return static_cast<double>(ms) / 1000.0;
}

class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(std::string_view name, std::string_view labels, Value v) {
    out_ += name;
    if (!labels.empty()) out_ += fmt::format("{{{}}}", labels);
    out_ += ' ';
    out_ += format_value(v);
    out_ += '\n';
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string proxy_label(const ProxyView& p) {
  return fmt::format("proxy=\"{}\"", escape_label(p.name));
}
std::string server_label(const ProxyView& p, const ServerView& s) {
  return fmt::format("proxy=\"{}\",server=\"{}\"", escape_label(p.name), escape_label(s.name));
}

template <class T>
struct Def {
  std::string_view name;  // without the haproxy_<scope>_ prefix
  std::string_view type;
  std::string_view help;
  std::function<Value(const T&)> get;
};

// A plain family over each proxy in one role.
void proxy_families(Writer& w, const StatsView& v, std::string_view scope, bool backend,
                    const std::vector<Def<ProxyView>>& defs) {
  for (const auto& d : defs) {
    const std::string name = fmt::format("haproxy_{}_{}", scope, d.name);
    w.family(name, d.type, d.help);
    for (const auto& p : v.proxies) {
      if (backend ? !p.is_backend() : !p.is_frontend()) continue;
      w.sample(name, proxy_label(p), d.get(p));
    }
  }
}

void process_metrics(Writer& w, const StatsView& v) {
  const ProcessInfo& info = v.process;
  const std::vector<Def<ProcessInfo>> defs = {
      {"nbthread", "gauge", "Worker threads.", [](auto& p) { return p.nbthread; }},
      {"nbproc", "gauge", "Worker processes (always 1).", [](auto&) { return 1; }},
      {"relative_process_id", "gauge", "Process number (always 1).", [](auto&) { return 1; }},
      {"uptime_seconds", "gauge", "Seconds since the process started.",
       [](auto& p) { return p.uptime_s; }},
      {"max_fds", "gauge", "File descriptor limit.", [](auto& p) { return p.ulimit_n; }},
      {"max_sockets", "gauge", "Socket limit.", [](auto& p) { return p.ulimit_n; }},
      {"max_connections", "gauge", "Connection limit (global maxconn).",
       [](auto& p) { return p.maxconn; }},
      {"hard_max_connections", "gauge", "Hard connection limit.",
       [](auto& p) { return p.hard_maxconn; }},
      {"current_connections", "gauge", "Open client connections.",
       [](auto& p) { return p.current_conns; }},
      {"connections_total", "counter", "Client connections accepted.",
       [](auto& p) { return p.total_conns; }},
      {"requests_total", "counter", "HTTP requests received.",
       [](auto& p) { return p.total_requests; }},
      {"current_connection_rate", "gauge", "Connections accepted in the last second.",
       [](auto& p) { return p.conn_rate; }},
      {"max_connection_rate", "gauge", "Highest connection rate seen.",
       [](auto& p) { return p.max_conn_rate; }},
      {"current_session_rate", "gauge", "Sessions created in the last second.",
       [](auto& p) { return p.sess_rate; }},
      {"max_session_rate", "gauge", "Highest session rate seen.",
       [](auto& p) { return p.max_sess_rate; }},
      {"idle_time_percent", "gauge", "Share of time the threads were idle.",
       [](auto& p) { return p.idle_pct; }},
      {"stopping", "gauge", "1 while the process stops gracefully.",
       [](auto& p) { return p.stopping ? 1 : 0; }},
      {"jobs", "gauge", "Active jobs (listeners, sessions, ...).", [](auto& p) { return p.jobs; }},
      {"listeners", "gauge", "Listening sockets.", [](auto& p) { return p.listeners; }},
      {"dropped_logs_total", "counter", "Log messages dropped.",
       [](auto& p) { return p.dropped_logs; }},
      {"bytes_out_total", "counter", "Bytes sent to clients.",
       [](auto& p) { return p.bytes_out_total; }},
      {"spliced_bytes_out_total", "counter", "Bytes sent to clients by splicing.",
       [](auto& p) { return p.spliced_bytes_out_total; }},
      {"start_time_seconds", "gauge", "Start time of the process, Unix seconds.",
       [](auto& p) { return p.start_time_s; }},
  };
  for (const auto& d : defs) {
    const std::string name = fmt::format("haproxy_process_{}", d.name);
    w.family(name, d.type, d.help);
    w.sample(name, "", d.get(info));
  }
  w.family("haproxy_process_build_info", "gauge", "Build information.");
  w.sample("haproxy_process_build_info", fmt::format("version=\"{}\"", escape_label(info.version)),
           1);
}

Value limit(uint64_t v) {
  return v ? Value(static_cast<double>(v)) : std::nullopt;
}

void frontend_metrics(Writer& w, const StatsView& v) {
  const std::vector<Def<ProxyView>> defs = {
      {"current_sessions", "gauge", "Current sessions.",
       [](auto& p) { return p.frontend.sessions_current; }},
      {"max_sessions", "gauge", "Highest number of concurrent sessions.",
       [](auto& p) { return p.frontend.sessions_max; }},
      {"limit_sessions", "gauge", "Session limit (maxconn).", [](auto& p) { return p.maxconn; }},
      {"sessions_total", "counter", "Sessions since the start.",
       [](auto& p) { return p.frontend.sessions_total; }},
      {"bytes_in_total", "counter", "Bytes received from clients.",
       [](auto& p) { return p.frontend.bytes_in; }},
      {"bytes_out_total", "counter", "Bytes sent to clients.",
       [](auto& p) { return p.frontend.bytes_out; }},
      {"requests_denied_total", "counter", "Requests denied by rules.",
       [](auto& p) { return p.frontend.denied_requests; }},
      {"responses_denied_total", "counter", "Responses denied by rules.",
       [](auto& p) { return p.frontend.denied_responses; }},
      {"request_errors_total", "counter", "Invalid or failed requests.",
       [](auto& p) { return p.frontend.request_errors; }},
      {"limit_session_rate", "gauge", "Session rate limit (0: none).", [](auto&) { return 0; }},
      {"max_session_rate", "gauge", "Highest session rate seen.",
       [](auto& p) { return p.frontend.session_rate_max; }},
      {"connections_rate_max", "gauge", "Highest connection rate seen.",
       [](auto& p) { return p.frontend.conn_rate_max; }},
      {"connections_total", "counter", "Connections accepted.",
       [](auto& p) { return p.frontend.connections_total; }},
      {"denied_connections_total", "counter", "Connections denied by rules.",
       [](auto& p) { return p.frontend.denied_connections; }},
      {"internal_errors_total", "counter", "Internal errors.",
       [](auto& p) { return p.frontend.internal_errors; }},
  };
  proxy_families(w, v, "frontend", false, defs);

  w.family("haproxy_frontend_status", "gauge", "Frontend state: 1 for the current one.");
  for (const auto& p : v.proxies) {
    if (!p.is_frontend()) continue;
    for (std::string_view st : {"DOWN", "UP"}) {
      const bool on = (st == "UP") != p.stopped;
      w.sample("haproxy_frontend_status", fmt::format("{},state=\"{}\"", proxy_label(p), st), on);
    }
  }
  const std::vector<Def<ProxyView>> http = {
      {"http_requests_rate_max", "gauge", "Highest HTTP request rate seen.",
       [](auto& p) { return p.frontend.request_rate_max; }},
      {"http_requests_total", "counter", "HTTP requests received.",
       [](auto& p) { return p.frontend.http_requests; }},
      {"intercepted_requests_total", "counter", "Requests answered by a rule or a service.",
       [](auto& p) { return p.frontend.intercepted; }},
  };
  for (const auto& d : http) {
    const std::string name = fmt::format("haproxy_frontend_{}", d.name);
    w.family(name, d.type, d.help);
    for (const auto& p : v.proxies) {
      if (p.is_frontend() && p.mode == "http") w.sample(name, proxy_label(p), d.get(p));
    }
  }
  w.family("haproxy_frontend_http_responses_total", "counter", "HTTP responses by status class.");
  for (const auto& p : v.proxies) {
    if (!p.is_frontend() || p.mode != "http") continue;
    for (size_t i = 1; i <= kCodes.size(); ++i) {
      const size_t c = i % kCodes.size();  // 1xx..5xx, then other
      w.sample("haproxy_frontend_http_responses_total",
               fmt::format("{},code=\"{}\"", proxy_label(p), kCodes[c]),
               p.frontend.http_responses[c]);
    }
  }
}

// Families the backend and server scopes share, read from a Traffic.
std::vector<Def<Traffic>> traffic_defs() {
  return {
      {"current_queue", "gauge", "Requests waiting in the queue.",
       [](auto& t) { return t.queue_current; }},
      {"max_queue", "gauge", "Longest queue seen.", [](auto& t) { return t.queue_max; }},
      {"current_sessions", "gauge", "Current sessions.",
       [](auto& t) { return t.sessions_current; }},
      {"max_sessions", "gauge", "Highest number of concurrent sessions.",
       [](auto& t) { return t.sessions_max; }},
      {"sessions_total", "counter", "Sessions since the start.",
       [](auto& t) { return t.sessions_total; }},
      {"bytes_in_total", "counter", "Bytes received from clients.",
       [](auto& t) { return t.bytes_in; }},
      {"bytes_out_total", "counter", "Bytes sent to clients.", [](auto& t) { return t.bytes_out; }},
      {"responses_denied_total", "counter", "Responses denied by rules.",
       [](auto& t) { return t.denied_responses; }},
      {"connection_errors_total", "counter", "Failed connections to servers.",
       [](auto& t) { return t.connect_errors; }},
      {"response_errors_total", "counter", "Invalid or aborted server responses.",
       [](auto& t) { return t.response_errors; }},
      {"retry_warnings_total", "counter", "Connection retries.", [](auto& t) { return t.retries; }},
      {"redispatch_warnings_total", "counter", "Requests sent to another server on retry.",
       [](auto& t) { return t.redispatches; }},
      {"loadbalanced_total", "counter", "Times picked by the load balancer.",
       [](auto& t) { return t.lb_total; }},
      {"max_session_rate", "gauge", "Highest session rate seen.",
       [](auto& t) { return t.session_rate_max; }},
      {"client_aborts_total", "counter", "Transfers aborted by the client.",
       [](auto& t) { return t.client_aborts; }},
      {"server_aborts_total", "counter", "Transfers aborted by the server.",
       [](auto& t) { return t.server_aborts; }},
      {"last_session_seconds", "gauge", "Seconds since the last session (NaN: none yet).",
       [](auto& t) -> Value {
         if (!t.last_session_s) return std::nullopt;
         return static_cast<double>(*t.last_session_s);
       }},
      {"queue_time_average_seconds", "gauge", "Average queue time of recent requests.",
       [](auto& t) { return seconds(t.queue_time_ms); }},
      {"connect_time_average_seconds", "gauge", "Average connect time of recent requests.",
       [](auto& t) { return seconds(t.connect_time_ms); }},
      {"response_time_average_seconds", "gauge", "Average response time of recent requests.",
       [](auto& t) { return seconds(t.response_time_ms); }},
      {"total_time_average_seconds", "gauge", "Average total time of recent requests.",
       [](auto& t) { return seconds(t.total_time_ms); }},
      {"max_queue_time_seconds", "gauge", "Longest queue time seen.",
       [](auto& t) { return seconds(t.queue_time_max_ms); }},
      {"max_connect_time_seconds", "gauge", "Longest connect time seen.",
       [](auto& t) { return seconds(t.connect_time_max_ms); }},
      {"max_response_time_seconds", "gauge", "Longest response time seen.",
       [](auto& t) { return seconds(t.response_time_max_ms); }},
      {"max_total_time_seconds", "gauge", "Longest total time seen.",
       [](auto& t) { return seconds(t.total_time_max_ms); }},
      {"connection_attempts_total", "counter", "Connection attempts to servers.",
       [](auto& t) { return t.connect_attempts; }},
      {"connection_reuses_total", "counter", "Requests sent on a kept server connection.",
       [](auto& t) { return t.reuses; }},
      {"internal_errors_total", "counter", "Internal errors.",
       [](auto& t) { return t.internal_errors; }},
  };
}

void http_responses(Writer& w, std::string_view name, const std::string& labels, const Traffic& t) {
  for (size_t i = 1; i <= kCodes.size(); ++i) {
    const size_t c = i % kCodes.size();
    w.sample(name, fmt::format("{},code=\"{}\"", labels, kCodes[c]), t.http_responses[c]);
  }
}

void backend_metrics(Writer& w, const StatsView& v) {
  for (const auto& d : traffic_defs()) {
    const std::string name = fmt::format("haproxy_backend_{}", d.name);
    w.family(name, d.type, d.help);
    for (const auto& p : v.proxies) {
      if (p.is_backend()) w.sample(name, proxy_label(p), d.get(p.backend));
    }
  }
  const std::vector<Def<ProxyView>> defs = {
      {"limit_sessions", "gauge", "Session limit (fullconn).", [](auto& p) { return p.fullconn; }},
      {"requests_denied_total", "counter", "Requests denied by rules.",
       [](auto& p) { return p.backend.denied_requests; }},
      {"weight", "gauge", "Sum of the usable servers' weights.",
       [](auto& p) { return p.backend_weight(); }},
      {"uweight", "gauge", "Sum of the usable servers' weights as set.",
       [](auto& p) { return p.backend_weight(); }},
      {"active_servers", "gauge", "Usable active servers.",
       [](auto& p) { return p.active_servers(); }},
      {"backup_servers", "gauge", "Usable backup servers.",
       [](auto& p) { return p.backup_servers(); }},
      {"check_up_down_total", "counter", "Times the backend went DOWN.",
       [](auto& p) { return p.check_downs; }},
      {"check_last_change_seconds", "gauge", "Seconds since the last state change.",
       [](auto& p) { return p.last_change_s; }},
      {"downtime_seconds_total", "counter", "Seconds spent DOWN.",
       [](auto& p) { return p.downtime_s; }},
  };
  proxy_families(w, v, "backend", true, defs);
  w.family("haproxy_backend_status", "gauge", "Backend state: 1 for the current one.");
  for (const auto& p : v.proxies) {
    if (!p.is_backend()) continue;
    for (std::string_view st : {"DOWN", "UP"}) {
      w.sample("haproxy_backend_status", fmt::format("{},state=\"{}\"", proxy_label(p), st),
               (st == "UP") == p.backend_up());
    }
  }
  w.family("haproxy_backend_agg_server_status", "gauge", "Servers of the backend by state.");
  for (const auto& p : v.proxies) {
    if (!p.is_backend()) continue;
    for (auto st : kStates) {
      uint64_t n = 0;
      for (const auto& s : p.servers) n += s.state_label() == st;
      w.sample("haproxy_backend_agg_server_status",
               fmt::format("{},state=\"{}\"", proxy_label(p), st), n);
    }
  }
  w.family("haproxy_backend_http_requests_total", "counter", "HTTP requests sent.");
  for (const auto& p : v.proxies) {
    if (p.is_backend() && p.mode == "http") {
      w.sample("haproxy_backend_http_requests_total", proxy_label(p), p.backend.http_requests);
    }
  }
  w.family("haproxy_backend_http_responses_total", "counter", "HTTP responses by status class.");
  for (const auto& p : v.proxies) {
    if (p.is_backend() && p.mode == "http") {
      http_responses(w, "haproxy_backend_http_responses_total", proxy_label(p), p.backend);
    }
  }
}

template <class F>
void for_servers(const StatsView& v, F f) {
  for (const auto& p : v.proxies) {
    if (!p.is_backend()) continue;
    for (const auto& s : p.servers) f(p, s);
  }
}

void server_metrics(Writer& w, const StatsView& v) {
  for (const auto& d : traffic_defs()) {
    const std::string name = fmt::format("haproxy_server_{}", d.name);
    w.family(name, d.type, d.help);
    for_servers(v, [&](auto& p, auto& s) { w.sample(name, server_label(p, s), d.get(s.traffic)); });
  }
  const std::vector<Def<ServerView>> defs = {
      {"limit_sessions", "gauge", "Session limit (maxconn; NaN: none).",
       [](auto& s) { return limit(s.maxconn); }},
      {"queue_limit", "gauge", "Queue limit (maxqueue; NaN: none).",
       [](auto& s) { return limit(s.maxqueue); }},
      {"weight", "gauge", "Current weight.", [](auto& s) { return s.weight; }},
      {"uweight", "gauge", "Weight as set by config or the runtime API.",
       [](auto& s) { return s.weight; }},
      {"current_throttle", "gauge", "Slowstart throttle in percent (NaN: none).",
       [](auto& s) -> Value {
         if (!s.throttle_pct) return std::nullopt;
         return *s.throttle_pct;
       }},
      {"check_failures_total", "counter", "Failed checks while UP.",
       [](auto& s) -> Value {
         if (!s.checked) return std::nullopt;
         return static_cast<double>(s.check_failures);
       }},
      {"check_up_down_total", "counter", "Times the server went DOWN.",
       [](auto& s) -> Value {
         if (!s.checked) return std::nullopt;
         return static_cast<double>(s.check_downs);
       }},
      {"check_last_change_seconds", "gauge", "Seconds since the last state change.",
       [](auto& s) { return s.last_change_s; }},
      {"downtime_seconds_total", "counter", "Seconds spent DOWN.",
       [](auto& s) -> Value {
         if (!s.checked) return std::nullopt;
         return static_cast<double>(s.downtime_s);
       }},
      {"used_connections_current", "gauge", "Server connections in use.",
       [](auto& s) { return s.traffic.sessions_current; }},
  };
  for (const auto& d : defs) {
    const std::string name = fmt::format("haproxy_server_{}", d.name);
    w.family(name, d.type, d.help);
    for_servers(v, [&](auto& p, auto& s) { w.sample(name, server_label(p, s), d.get(s)); });
  }
  w.family("haproxy_server_status", "gauge", "Server state: 1 for the current one.");
  for_servers(v, [&](auto& p, auto& s) {
    for (auto st : kStates) {
      w.sample("haproxy_server_status", fmt::format("{},state=\"{}\"", server_label(p, s), st),
               s.state_label() == st);
    }
  });
  w.family("haproxy_server_check_status", "gauge", "Result of the last check: 1 for it.");
  for_servers(v, [&](auto& p, auto& s) {
    if (!s.checked || !s.last_check) return;
    for (auto st : kCheckStates) {
      w.sample("haproxy_server_check_status",
               fmt::format("{},state=\"{}\"", server_label(p, s), st), s.last_check->status == st);
    }
  });
  w.family("haproxy_server_check_code", "gauge", "HTTP status of the last check (0: none).");
  for_servers(v, [&](auto& p, auto& s) {
    if (s.checked && s.last_check) {
      w.sample("haproxy_server_check_code", server_label(p, s), s.last_check->code.value_or(0));
    }
  });
  w.family("haproxy_server_check_duration_seconds", "gauge", "Duration of the last check.");
  for_servers(v, [&](auto& p, auto& s) {
    if (s.checked && s.last_check) {
      w.sample("haproxy_server_check_duration_seconds", server_label(p, s),
               seconds(s.last_check->duration_ms));
    }
  });
  w.family("haproxy_server_http_responses_total", "counter", "HTTP responses by status class.");
  for_servers(v, [&](auto& p, auto& s) {
    if (p.mode == "http") {
      http_responses(w, "haproxy_server_http_responses_total", server_label(p, s), s.traffic);
    }
  });
}

void tandem_metrics(Writer& w, const StatsView& v) {
  w.family("tandem_http_parser_rejections_total", "counter",
           "Messages the HTTP/1 parser refused, by reason.");
  for (const auto& p : v.proxies) {
    for (size_t r = 1; r < http1::kRejectReasonCount; ++r) {
      w.sample("tandem_http_parser_rejections_total",
               fmt::format("{},reason=\"{}\"", proxy_label(p),
                           http1::reject_name(static_cast<http1::RejectReason>(r))),
               p.rejects[r]);
    }
  }
  w.family("tandem_connection_reuse_hits_total", "counter",
           "Requests sent on a pooled idle server connection.");
  w.sample("tandem_connection_reuse_hits_total", "", v.tandem.reuse_hits);
  w.family("tandem_spliced_bytes_total", "counter", "Bytes forwarded with splice(2).");
  w.sample("tandem_spliced_bytes_total", "", v.tandem.spliced_bytes);
}

}  // namespace

std::string render_prometheus(const StatsView& view) {
  Writer w;
  process_metrics(w, view);
  frontend_metrics(w, view);
  backend_metrics(w, view);
  server_metrics(w, view);
  tandem_metrics(w, view);
  return w.take();
}

}  // namespace tandem::lb::stats
