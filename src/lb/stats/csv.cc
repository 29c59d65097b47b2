#include "lb/stats/csv.h"

#include <fmt/format.h>

#include <vector>

namespace tandem::lb::stats {
namespace {

constexpr size_t kFirstModuleColumn = kModules + 1;

// One CSV row: every field starts empty, as haproxy leaves the ones a row type has no use for.
class Row {
 public:
  Row() : fields_(kColumnCount) {}
  void set(Col c, std::string v) { fields_[c] = std::move(v); }
  void num(Col c, uint64_t v) { fields_[c] = std::to_string(v); }
  void nums(std::initializer_list<std::pair<Col, uint64_t>> list) {
    for (const auto& [c, v] : list) num(c, v);
  }
  void append_to(std::string& out) const {
    for (const auto& f : fields_) {
      out += csv_escape(f);
      out += ',';
    }
    out += '\n';
  }

 private:
  std::vector<std::string> fields_;
};

bool is_http(const ProxyView& p) {
  return p.mode == "http";
}

void fill_http_responses(Row& r, const Traffic& t) {
  r.nums({{kHrsp1xx, t.http_responses[1]},
          {kHrsp2xx, t.http_responses[2]},
          {kHrsp3xx, t.http_responses[3]},
          {kHrsp4xx, t.http_responses[4]},
          {kHrsp5xx, t.http_responses[5]},
          {kHrspOther, t.http_responses[0]}});
}

void fill_times(Row& r, const Traffic& t) {
  r.set(kLastsess, t.last_session_s ? std::to_string(*t.last_session_s) : "-1");
  r.nums({{kQtime, t.queue_time_ms},
          {kCtime, t.connect_time_ms},
          {kRtime, t.response_time_ms},
          {kTtime, t.total_time_ms},
          {kQtimeMax, t.queue_time_max_ms},
          {kCtimeMax, t.connect_time_max_ms},
          {kRtimeMax, t.response_time_max_ms},
          {kTtimeMax, t.total_time_max_ms}});
}

// The ssl, h2 and h1 module columns: proxies show all of them, servers only the ssl ones.
void fill_modules(Row& r, bool all) {
  r.set(kModules, "-");
  const size_t end = all ? static_cast<size_t>(kColumnCount) : kFirstModuleColumn + 3;
  for (size_t c = kFirstModuleColumn; c < end; ++c) r.num(static_cast<Col>(c), 0);
}

void common(Row& r, const ProxyView& p, std::string_view svname, uint64_t type, uint64_t sid) {
  r.set(kPxname, p.name);
  r.set(kSvname, std::string(svname));
  r.nums({{kPid, 1}, {kIid, p.id}, {kSid, sid}, {kType, type}});
  r.set(kMode, p.mode);
}

Row frontend_row(const ProxyView& p) {
  const Traffic& t = p.frontend;
  Row r;
  common(r, p, "FRONTEND", 0, 0);
  r.nums({{kScur, t.sessions_current},
          {kSmax, t.sessions_max},
          {kSlim, p.maxconn},
          {kStot, t.sessions_total},
          {kBin, t.bytes_in},
          {kBout, t.bytes_out},
          {kDreq, t.denied_requests},
          {kDresp, t.denied_responses},
          {kEreq, t.request_errors},
          {kRate, t.session_rate},
          {kRateLim, 0},
          {kRateMax, t.session_rate_max},
          {kReqRate, t.request_rate},
          {kReqRateMax, t.request_rate_max},
          {kReqTot, t.http_requests},
          {kCompIn, 0},
          {kCompOut, 0},
          {kCompByp, 0},
          {kCompRsp, 0},
          {kConnRate, t.conn_rate},
          {kConnRateMax, t.conn_rate_max},
          {kConnTot, t.connections_total},
          {kDcon, t.denied_connections},
          {kDses, 0},
          {kWrew, 0},
          {kEint, t.internal_errors}});
  r.set(kStatus, p.stopped ? "STOP" : "OPEN");
  if (is_http(p)) {
    fill_http_responses(r, t);
    r.nums({{kIntercepted, t.intercepted}, {kCacheLookups, 0}, {kCacheHits, 0}});
  }
  fill_modules(r, true);
  return r;
}

Row server_row(const ProxyView& p, const ServerView& s, const CsvOptions& o) {
  const Traffic& t = s.traffic;
  Row r;
  common(r, p, s.name, 2, s.id);
  r.nums({{kQcur, t.queue_current},
          {kQmax, t.queue_max},
          {kScur, t.sessions_current},
          {kSmax, t.sessions_max},
          {kStot, t.sessions_total},
          {kBin, t.bytes_in},
          {kBout, t.bytes_out},
          {kDresp, t.denied_responses},
          {kEcon, t.connect_errors},
          {kEresp, t.response_errors},
          {kWretr, t.retries},
          {kWredis, t.redispatches},
          {kWeight, s.weight},
          {kAct, s.backup ? 0u : 1u},
          {kBck, s.backup ? 1u : 0u},
          {kLastchg, s.last_change_s},
          {kLbtot, t.lb_total},
          {kRate, t.session_rate},
          {kRateMax, t.session_rate_max},
          {kCliAbrt, t.client_aborts},
          {kSrvAbrt, t.server_aborts},
          {kWrew, 0},
          {kConnect, t.connect_attempts},
          {kReuse, t.reuses},
          {kSrvIcur, 0},
          {kEint, t.internal_errors},
          {kIdleConnCur, 0},
          {kSafeConnCur, 0},
          {kUsedConnCur, t.sessions_current},
          {kNeedConnEst, 0},
          {kUweight, s.weight}});
  r.set(kStatus, s.status());
  if (s.maxconn) r.num(kSlim, s.maxconn);
  if (s.maxqueue) r.num(kQlimit, s.maxqueue);
  if (s.throttle_pct) r.num(kThrottle, *s.throttle_pct);
  if (s.checked) {
    r.nums({{kChkfail, s.check_failures},
            {kChkdown, s.check_downs},
            {kDowntime, s.downtime_s},
            {kCheckRise, s.rise},
            {kCheckFall, s.fall},
            {kCheckHealth, s.health}});
    if (s.last_check) {
      const CheckInfo& c = *s.last_check;
      r.set(kCheckStatus, c.status);
      if (c.code) r.num(kCheckCode, static_cast<uint64_t>(*c.code));
      r.num(kCheckDuration, c.duration_ms);
      r.set(kLastChk, c.info);
      r.set(kCheckDesc, c.description);
    } else {
      r.set(kCheckStatus, "INI");
      r.set(kCheckDesc, "Initializing");
    }
  }
  if (is_http(p)) {
    fill_http_responses(r, t);
    r.num(kReqTot, t.http_requests);
  }
  fill_times(r, t);
  if (o.show_legends) r.set(kAddr, s.address);
  fill_modules(r, false);
  return r;
}

Row backend_row(const ProxyView& p, const CsvOptions& o) {
  const Traffic& t = p.backend;
  Row r;
  common(r, p, "BACKEND", 1, 0);
  const uint32_t weight = p.backend_weight();
  r.nums({{kQcur, t.queue_current},
          {kQmax, t.queue_max},
          {kScur, t.sessions_current},
          {kSmax, t.sessions_max},
          {kSlim, p.fullconn},
          {kStot, t.sessions_total},
          {kBin, t.bytes_in},
          {kBout, t.bytes_out},
          {kDreq, t.denied_requests},
          {kDresp, t.denied_responses},
          {kEcon, t.connect_errors},
          {kEresp, t.response_errors},
          {kWretr, t.retries},
          {kWredis, t.redispatches},
          {kWeight, weight},
          {kAct, p.active_servers()},
          {kBck, p.backup_servers()},
          {kChkdown, p.check_downs},
          {kLastchg, p.last_change_s},
          {kDowntime, p.downtime_s},
          {kLbtot, t.lb_total},
          {kRate, t.session_rate},
          {kRateMax, t.session_rate_max},
          {kCliAbrt, t.client_aborts},
          {kSrvAbrt, t.server_aborts},
          {kCompIn, 0},
          {kCompOut, 0},
          {kCompByp, 0},
          {kCompRsp, 0},
          {kWrew, 0},
          {kConnect, t.connect_attempts},
          {kReuse, t.reuses},
          {kEint, t.internal_errors},
          {kUweight, weight},
          {kAggServerStatus, 0},
          {kAggServerCheckStatus, 0},
          {kAggCheckStatus, 0}});
  r.set(kStatus, p.backend_up() ? "UP" : "DOWN");
  if (is_http(p)) {
    fill_http_responses(r, t);
    r.nums({{kReqTot, t.http_requests}, {kCacheLookups, 0}, {kCacheHits, 0}});
  }
  fill_times(r, t);
  if (o.show_legends) r.set(kAlgo, p.algorithm);
  fill_modules(r, true);
  return r;
}

}  // namespace

std::string csv_escape(std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(field);
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string csv_header() {
  std::string out = "# ";
  for (auto name : kColumnNames) {
    out += name;
    out += ',';
  }
  out += '\n';
  return out;
}

std::string render_csv(const StatsView& view, const CsvOptions& options) {
  std::string out = csv_header();
  for (const auto& p : view.proxies) {
    if (p.is_frontend()) frontend_row(p).append_to(out);
    if (!p.is_backend()) continue;
    for (const auto& s : p.servers) {
      if (options.no_maint && s.admin == AdminState::kMaint) continue;
      if (options.up_only && s.state_label() != "UP") continue;
      server_row(p, s, options).append_to(out);
    }
    backend_row(p, options).append_to(out);
  }
  return out;
}

std::string render_info(const StatsView& view) {
  const ProcessInfo& p = view.process;
  const std::string uptime =
      fmt::format("{}d {}h{:02}m{:02}s", p.uptime_s / 86400, p.uptime_s / 3600 % 24,
                  p.uptime_s / 60 % 60, p.uptime_s % 60);
  const std::vector<std::pair<std::string_view, std::string>> fields = {
      {"Name", p.name},
      {"Version", p.version},
      {"Release_date", p.release_date},
      {"Nbthread", std::to_string(p.nbthread)},
      {"Nbproc", "1"},
      {"Process_num", "1"},
      {"Pid", std::to_string(p.pid)},
      {"Uptime", uptime},
      {"Uptime_sec", std::to_string(p.uptime_s)},
      {"Memmax_MB", "0"},
      {"PoolAlloc_MB", "0"},
      {"PoolUsed_MB", "0"},
      {"PoolFailed", "0"},
      {"Ulimit-n", std::to_string(p.ulimit_n)},
      {"Maxsock", std::to_string(p.ulimit_n)},
      {"Maxconn", std::to_string(p.maxconn)},
      {"Hard_maxconn", std::to_string(p.hard_maxconn)},
      {"CurrConns", std::to_string(p.current_conns)},
      {"CumConns", std::to_string(p.total_conns)},
      {"CumReq", std::to_string(p.total_requests)},
      {"MaxSslConns", "0"},
      {"CurrSslConns", "0"},
      {"CumSslConns", "0"},
      {"Maxpipes", "0"},
      {"PipesUsed", "0"},
      {"PipesFree", "0"},
      {"ConnRate", std::to_string(p.conn_rate)},
      {"ConnRateLimit", "0"},
      {"MaxConnRate", std::to_string(p.max_conn_rate)},
      {"SessRate", std::to_string(p.sess_rate)},
      {"SessRateLimit", "0"},
      {"MaxSessRate", std::to_string(p.max_sess_rate)},
      {"SslRate", "0"},
      {"SslRateLimit", "0"},
      {"MaxSslRate", "0"},
      {"SslFrontendKeyRate", "0"},
      {"SslFrontendMaxKeyRate", "0"},
      {"SslFrontendSessionReuse_pct", "0"},
      {"SslBackendKeyRate", "0"},
      {"SslBackendMaxKeyRate", "0"},
      {"SslCacheLookups", "0"},
      {"SslCacheMisses", "0"},
      {"CompressBpsIn", "0"},
      {"CompressBpsOut", "0"},
      {"CompressBpsRateLim", "0"},
      {"Tasks", std::to_string(p.jobs)},
      {"Run_queue", "0"},
      {"Idle_pct", std::to_string(p.idle_pct)},
      {"node", p.node},
      {"Stopping", p.stopping ? "1" : "0"},
      {"Jobs", std::to_string(p.jobs)},
      {"Unstoppable Jobs", "0"},
      {"Listeners", std::to_string(p.listeners)},
      {"ActivePeers", "0"},
      {"ConnectedPeers", "0"},
      {"DroppedLogs", std::to_string(p.dropped_logs)},
      {"BusyPolling", "0"},
      {"FailedResolutions", "0"},
      {"TotalBytesOut", std::to_string(p.bytes_out_total)},
      // haproxy's spelling, kept so that parsers find it.
      {"TotalSplicdedBytesOut", std::to_string(p.spliced_bytes_out_total)},
      {"BytesOutRate", "0"},
      {"DebugCommandsIssued", "0"},
      {"CumRecvLogs", "0"},
      {"Build info", p.version},
      {"Memmax_bytes", "0"},
      {"PoolAlloc_bytes", "0"},
      {"PoolUsed_bytes", "0"},
      {"Start_time_sec", std::to_string(p.start_time_s)},
      {"Tainted", "0"},
  };
  std::string out;
  for (const auto& [name, value] : fields) out += fmt::format("{}: {}\n", name, value);
  return out;
}

namespace {

// haproxy 2.6's numbers in `show servers state` (enum srv_state, SRV_ADMF_*, HCHK_STATUS_*,
// CHK_RES_*, CHK_ST_*).
int op_state_number(const ServerView& s) {
  if (s.admin == AdminState::kMaint) return 0;  // maintenance stops the server
  switch (s.op) {
    case OpState::kRunning:
      return 2;
    case OpState::kStopping:
      return 3;
    case OpState::kStopped:
      return 0;
  }
  return 0;
}

int admin_state_number(const ServerView& s) {
  switch (s.admin) {
    case AdminState::kReady:
      return 0;
    case AdminState::kDrain:
      return 0x08;  // SRV_ADMF_FDRAIN
    case AdminState::kMaint:
      return s.maint_from_config ? 0x05 : 0x01;  // FMAINT, plus CMAINT when from config
  }
  return 0;
}

int check_status_number(const ServerView& s) {
  if (!s.last_check) return 1;  // INI
  static constexpr std::array<std::pair<std::string_view, int>, 11> kNumbers = {{
      {"HANA", 4},
      {"SOCKERR", 5},
      {"L4OK", 6},
      {"L4TOUT", 7},
      {"L4CON", 8},
      {"L6OK", 9},
      {"L6TOUT", 10},
      {"L6RSP", 11},
      {"L7TOUT", 12},
      {"L7RSP", 13},
      {"L7OK", 15},
  }};
  for (const auto& [name, n] : kNumbers) {
    if (s.last_check->status == name) return n;
  }
  if (s.last_check->status == "L7OKC") return 16;
  if (s.last_check->status == "L7STS") return 17;
  return 0;
}

}  // namespace

std::string render_servers_state(const StatsView& view, std::string_view backend) {
  std::string out =
      "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
      "srv_iweight srv_time_since_last_change srv_check_status srv_check_result "
      "srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id "
      "srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr "
      "srv_agent_port\n";
  for (const auto& p : view.proxies) {
    if (!p.is_backend() || (!backend.empty() && p.name != backend)) continue;
    for (const auto& s : p.servers) {
      int result = 0, check_state = 0;
      if (s.last_check) result = s.last_check->passed ? 3 : 2;
      if (s.checked) check_state = 0x02 | 0x04;                // CONFIGURED | ENABLED
      if (s.admin == AdminState::kMaint) check_state |= 0x08;  // PAUSED
      // An unchecked server counts as fully risen, except in maintenance.
      uint32_t health = s.health;
      if (!s.checked) health = s.admin == AdminState::kMaint ? 0 : s.rise;
      out += fmt::format("{} {} {} {} {} {} {} {} {} {} {} {} {} {} 0 0 0 - {} - 0 0 - - 0\n", p.id,
                         p.name, s.id, s.name, s.host.empty() ? "-" : s.host, op_state_number(s),
                         admin_state_number(s), s.weight, s.initial_weight, s.last_change_s,
                         check_status_number(s), result, health, check_state, s.port);
    }
  }
  return out;
}

}  // namespace tandem::lb::stats
