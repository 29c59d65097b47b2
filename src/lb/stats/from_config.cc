#include "lb/stats/from_config.h"

#include <chrono>

namespace tandem::lb::stats {

CheckInfo check_info(const health::CheckResult& r) {
  CheckInfo c;
  c.status = std::string(health::status_name(r.status));
  if (r.status == health::CheckStatus::kL7Ok || r.status == health::CheckStatus::kL7Sts) {
    c.code = r.code;
  }
  c.duration_ms = static_cast<uint64_t>(r.duration.count());
  c.description = std::string(health::status_description(r.status));
  c.info = r.info;
  c.passed = r.passed();
  return c;
}

void apply_health(ServerView& s, const health::ServerHealth& h, core::TimePoint now) {
  s.checked = true;
  s.rise = h.params().rise;
  s.fall = h.params().fall;
  s.health = h.health();
  switch (h.state()) {
    case health::State::kUp:
      s.op = OpState::kRunning;
      break;
    case health::State::kDown:
      s.op = OpState::kStopped;
      break;
    case health::State::kMaint:
      s.admin = AdminState::kMaint;
      break;
  }
  if (h.last_result()) s.last_check = check_info(*h.last_result());
  s.check_failures = h.failed_checks();
  s.check_downs = h.down_transitions();
  if (h.last_change() != core::TimePoint{} && now >= h.last_change()) {
    s.last_change_s = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(now - h.last_change()).count());
  }
}

namespace {

std::string address_host(const Address& a) {
  return a.kind == Address::Kind::kIpv6 ? "[" + a.host + "]" : a.host;
}

}  // namespace

StatsView view_from_config(const Config& config) {
  StatsView v;
  const uint32_t global_maxconn = config.global.maxconn.value_or(0);
  uint32_t id = config.global.stats_sockets.empty() ? 1 : 2;
  for (const auto& p : config.proxies) {
    ProxyView pv;
    pv.name = p.name;
    pv.id = id++;
    pv.kind = p.kind == Proxy::Kind::kFrontend  ? ProxyKind::kFrontend
              : p.kind == Proxy::Kind::kBackend ? ProxyKind::kBackend
                                                : ProxyKind::kListen;
    pv.mode = std::string(to_string(p.mode));
    pv.maxconn = p.maxconn ? p.maxconn : global_maxconn;
    if (p.is_backend()) {
      pv.algorithm = std::string(to_string(p.balance.algorithm));
      const auto a = p.balance.algorithm;
      const bool hashed = a == Balance::Algorithm::kSource || a == Balance::Algorithm::kUri ||
                          a == Balance::Algorithm::kHdr;
      pv.static_weights = a == Balance::Algorithm::kStaticRr ||
                          (hashed && p.hash_type.method == HashType::Method::kMapBased);
      uint32_t id_in_backend = 1;
      for (const auto& s : p.servers) {
        ServerView sv;
        sv.name = s.name;
        sv.id = id_in_backend++;
        sv.host = s.address.host;
        sv.port = s.address.port_first;
        sv.address = s.address.kind == Address::Kind::kUnix
                         ? s.address.host
                         : address_host(s.address) + ":" + std::to_string(s.address.port_first);
        sv.backup = s.params.backup;
        sv.weight = sv.initial_weight = s.params.weight;
        sv.maxconn = s.params.maxconn;
        sv.maxqueue = s.params.maxqueue;
        sv.checked = s.params.check && !s.params.disabled;
        sv.rise = s.params.rise;
        sv.fall = s.params.fall;
        sv.health = sv.checked ? s.params.rise : 0;
        if (s.params.disabled) {
          sv.admin = AdminState::kMaint;
          sv.maint_from_config = true;
        }
        pv.servers.push_back(std::move(sv));
      }
    }
    v.proxies.push_back(std::move(pv));
  }
  // fullconn: a tenth of the limits of the frontends that may send traffic to the backend.
  for (size_t i = 0; i < config.proxies.size(); ++i) {
    const Proxy& b = config.proxies[i];
    if (!b.is_backend()) continue;
    uint64_t sum = 0;
    for (size_t j = 0; j < config.proxies.size(); ++j) {
      const Proxy& f = config.proxies[j];
      if (!f.is_frontend()) continue;
      bool uses = (i == j) || f.default_backend == b.name;
      for (const auto& rule : f.use_backends) uses = uses || rule.backend == b.name;
      if (uses) sum += v.proxies[j].maxconn;
    }
    v.proxies[i].fullconn = static_cast<uint32_t>((sum ? sum : global_maxconn) / 10);
  }
  return v;
}

}  // namespace tandem::lb::stats
