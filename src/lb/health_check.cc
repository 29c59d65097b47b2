// The asio side of health checks: sockets and time-outs around lb/health.h's pure core.
#include "lb/health_check.h"

#include <array>
#include <random>

#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/write.hpp>

namespace tandem::lb {

core::Result<std::vector<CheckedServer>> checked_servers(const Proxy& backend, uint32_t first_id) {
  std::vector<CheckedServer> out;
  uint32_t id = first_id;
  for (const Server& s : backend.servers) {
    if (!s.params.check) continue;
    CheckedServer c;
    c.id = id++;
    c.backend = backend.name;
    c.name = s.name;
    c.backup = s.params.backup;
    c.params = health::params_from(s.params);
    if (backend.http_check.enabled) c.http = backend.http_check;
    c.timeout_connect = backend.timeouts.connect;
    c.timeout_check = backend.timeouts.check;
    std::string host = s.params.check_addr.value_or(s.address.host);
    uint16_t port = s.params.check_port.value_or(s.address.port_first);
    std::error_code ec;
    asio::ip::address ip = asio::ip::make_address(host, ec);
    if (ec || port == 0) {
      return core::fail("server " + backend.name + "/" + s.name + ": cannot check '" + host +
                        "' port " + std::to_string(port) + ": an IP address and a port are needed");
    }
    c.endpoint = asio::ip::tcp::endpoint(ip, port);
    out.push_back(std::move(c));
  }
  return out;
}

namespace {

using health::CheckResult;
using health::CheckStatus;

CheckResult make_result(CheckStatus s, std::string info = {}) {
  CheckResult r;
  r.status = s;
  r.info = std::move(info);
  return r;
}

}  // namespace

struct HealthChecker::Impl {
  struct Slot;

  // One check in flight. Socket handlers hold it; `slot` goes null when the check is over
  // or abandoned, so a late completion finds nothing to touch.
  struct Attempt {
    explicit Attempt(asio::io_context& io) : socket(io) {}
    Slot* slot = nullptr;
    asio::ip::tcp::socket socket;
    core::TimePoint start{};
    bool connected = false;
    std::optional<health::ResponseReader> reader;
    std::array<char, 4096> buf{};
  };

  struct Slot {
    CheckedServer server;
    health::ServerHealth health;
    std::optional<health::ExpectRule> rule;  // HTTP checks
    std::string request;                     // HTTP checks
    core::TimerPtr next;                     // the next check
    core::TimerPtr deadline;                 // the running check's time-out
    std::shared_ptr<Attempt> attempt;
  };

  Impl(asio::io_context& io_in, core::Clock& clock_in, ChangeFn change, Options opts)
      : io(io_in), clock(clock_in), on_change(std::move(change)), options(std::move(opts)) {}

  asio::io_context& io;
  core::Clock& clock;
  ChangeFn on_change;
  Options options;
  std::vector<std::unique_ptr<Slot>> slots;
  bool running = false;
  std::minstd_rand rng{std::random_device{}()};

  Slot* find(uint32_t id) const {
    for (const auto& s : slots) {
      if (s->server.id == id) return s.get();
    }
    return nullptr;
  }

  void schedule(Slot& s, health::Duration after) {
    s.next->arm_at(clock.now() + after, [this, &s] { begin(s); });
  }

  health::Duration next_interval(const Slot& s) {
    health::Duration d = s.health.interval();
    if (options.spread_percent == 0) return d;
    return health::spread(d, options.spread_percent,
                          std::uniform_real_distribution<double>(0.0, 1.0)(rng));
  }

  void begin(Slot& s) {
    if (!running || s.health.state() == health::State::kMaint) return;
    auto a = std::make_shared<Attempt>(io);
    a->slot = &s;
    a->start = clock.now();
    s.attempt = a;
    std::error_code ec;
    a->socket.open(s.server.endpoint.protocol(), ec);
    if (ec) return finish(s, make_result(CheckStatus::kSockErr, ec.message()));
    health::CheckTimeouts t = health::check_timeouts(
        s.server.params.inter, s.server.timeout_connect, s.server.timeout_check);
    s.deadline->arm_at(a->start + t.connect, [this, &s] { timed_out(s); });
    a->socket.async_connect(s.server.endpoint, [this, a](const std::error_code& e) {
      if (a->slot == nullptr) return;
      connected(*a->slot, e);
    });
  }

  void connected(Slot& s, const std::error_code& ec) {
    if (ec) return finish(s, make_result(CheckStatus::kL4Con, ec.message()));
    Attempt& a = *s.attempt;
    a.connected = true;
    if (!s.rule) return finish(s, make_result(CheckStatus::kL4Ok));
    health::CheckTimeouts t = health::check_timeouts(
        s.server.params.inter, s.server.timeout_connect, s.server.timeout_check);
    // With `timeout check`, the answer gets that much from now; else the inter deadline stays.
    if (t.after_connect)
      s.deadline->arm_at(clock.now() + *t.after_connect, [this, &s] { timed_out(s); });
    a.reader.emplace(*s.rule, s.server.http->method);
    auto ap = s.attempt;
    asio::async_write(a.socket, asio::buffer(s.request),
                      [this, ap](const std::error_code& e, size_t) {
                        if (ap->slot == nullptr) return;
                        if (e)
                          return finish(*ap->slot, make_result(CheckStatus::kSockErr, e.message()));
                        read(ap);
                      });
  }

  void read(const std::shared_ptr<Attempt>& ap) {
    ap->socket.async_read_some(
        asio::buffer(ap->buf), [this, ap](const std::error_code& e, size_t n) {
          if (ap->slot == nullptr) return;
          Slot& s = *ap->slot;
          if (n > 0) {
            if (auto r = ap->reader->feed(std::string_view(ap->buf.data(), n))) {
              return finish(s, std::move(*r));
            }
          }
          if (e == asio::error::eof) return finish(s, ap->reader->finish());
          if (e) return finish(s, make_result(CheckStatus::kSockErr, e.message()));
          read(ap);
        });
  }

  void timed_out(Slot& s) {
    if (!s.attempt) return;
    bool l7 = s.attempt->connected && s.rule;
    finish(s, make_result(l7 ? CheckStatus::kL7Tout : CheckStatus::kL4Tout));
  }

  void abandon(Slot& s) {
    s.deadline->cancel();
    if (!s.attempt) return;
    s.attempt->slot = nullptr;
    std::error_code ignored;
    s.attempt->socket.close(ignored);  // pending handlers complete with operation_aborted
    s.attempt.reset();
  }

  void finish(Slot& s, CheckResult result) {
    core::TimePoint now = clock.now();
    result.duration =
        std::chrono::duration_cast<health::Duration>(now - s.attempt->start);  // truncated
    abandon(s);
    health::Change change = s.health.record(result, now);
    if (options.on_result) options.on_result(s.server, result);
    if (change != health::Change::kNone && on_change) {
      health::PoolCounts counts = options.counts ? options.counts(s.server) : own_counts(s);
      bool up = change == health::Change::kWentUp;
      StateChange sc{
          .server = s.server,
          .state = s.health.state(),
          .result = result,
          .log_line =
              up ? health::up_line(s.server.backend, s.server.name, s.server.backup, result, counts)
                 : health::down_line(s.server.backend, s.server.name, s.server.backup, result,
                                     counts),
          .alert_line = !up && counts.active + counts.backup == 0
                            ? health::no_server_line(s.server.backend)
                            : std::string(),
      };
      on_change(sc);
    }
    if (running && s.health.state() != health::State::kMaint && !s.next->armed()) {
      schedule(s, next_interval(s));
    }
  }

  health::PoolCounts own_counts(const Slot& changed) const {
    health::PoolCounts c;
    for (const auto& s : slots) {
      if (s->server.backend != changed.server.backend || !s->health.up()) continue;
      (s->server.backup ? c.backup : c.active)++;
    }
    return c;
  }
};

HealthChecker::HealthChecker(asio::io_context& io, core::Clock& clock,
                             std::vector<CheckedServer> servers, ChangeFn on_change,
                             Options options)
    : impl_(std::make_unique<Impl>(io, clock, std::move(on_change), std::move(options))) {
  for (CheckedServer& c : servers) {
    health::ServerHealth h(c.params);
    auto slot = std::unique_ptr<Impl::Slot>(new Impl::Slot{
        .server = std::move(c),
        .health = h,
        .rule = std::nullopt,
        .request = {},
        .next = clock.make_timer(),
        .deadline = clock.make_timer(),
        .attempt = nullptr,
    });
    impl_->slots.push_back(std::move(slot));
  }
}

HealthChecker::HealthChecker(asio::io_context& io, core::Clock& clock,
                             std::vector<CheckedServer> servers, ChangeFn on_change)
    : HealthChecker(io, clock, std::move(servers), std::move(on_change), Options{}) {}

HealthChecker::~HealthChecker() {
  stop();
}

core::Result<void> HealthChecker::start() {
  if (impl_->running) return {};
  for (auto& s : impl_->slots) {
    if (!s->server.http) continue;
    auto rule = health::ExpectRule::compile(s->server.http->expect);
    if (!rule) {
      return core::fail("backend " + s->server.backend +
                        ": http-check expect: " + rule.error().message);
    }
    s->rule = std::move(*rule);
    s->request = health::build_request(*s->server.http);
  }
  impl_->running = true;
  // As haproxy: server i of n starts at min_interval * i / n, so checks do not bunch up.
  health::Duration min_interval = health::Duration::max();
  size_t n = 0;
  for (const auto& s : impl_->slots) {
    if (s->health.state() == health::State::kMaint) continue;
    min_interval = std::min(min_interval, s->health.interval());
    ++n;
  }
  size_t i = 0;
  for (auto& s : impl_->slots) {
    if (s->health.state() == health::State::kMaint) continue;
    impl_->schedule(*s, health::first_check_delay(i++, n, min_interval));
  }
  return {};
}

void HealthChecker::stop() {
  impl_->running = false;
  for (auto& s : impl_->slots) {
    s->next->cancel();
    impl_->abandon(*s);
  }
}

void HealthChecker::set_maintenance(uint32_t id, bool on) {
  Impl::Slot* s = impl_->find(id);
  if (s == nullptr) return;
  if (on) {
    s->next->cancel();
    impl_->abandon(*s);
  }
  s->health.set_maintenance(on, impl_->clock.now());
  if (!on && impl_->running && !s->next->armed() && !s->attempt) impl_->schedule(*s, {});
}

void HealthChecker::start_down(uint32_t id) {
  Impl::Slot* s = impl_->find(id);
  if (s != nullptr) s->health.start_down(impl_->clock.now());
}

const health::ServerHealth* HealthChecker::health(uint32_t id) const {
  const Impl::Slot* s = impl_->find(id);
  return s == nullptr ? nullptr : &s->health;
}

size_t HealthChecker::size() const {
  return impl_->slots.size();
}

}  // namespace tandem::lb
