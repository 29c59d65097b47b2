#include "vrrp/proxy_watch.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <nlohmann/json.hpp>

#include "core/log.h"

namespace tandem::vrrp {

using core::logger;

struct ProxyWatch::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& i, core::Clock& c, TrackProxy s, os::FileWatch& f,
       std::function<void(bool, const std::string&)> cb)
      : io(i),
        clock(c),
        spec(std::move(s)),
        files(f),
        changed(std::move(cb)),
        stats_timer(c.make_timer()),
        probe_timer(c.make_timer()) {}

  asio::io_context& io;
  core::Clock& clock;
  TrackProxy spec;
  os::FileWatch& files;
  std::function<void(bool, const std::string&)> changed;

  // The process part: true when no process is watched.
  bool process_up = false;
  int pid = 0;
  std::unique_ptr<asio::posix::stream_descriptor> pidfd;
  // The backend part (stats socket): true when no backend is watched.
  bool backends_up = false;
  uint32_t stats_run = 0;
  core::TimerPtr stats_timer;
  uint64_t stats_queries = 0, stats_failures = 0;
  // The listener part: true when no listener is watched.
  bool listeners_up = false;
  uint32_t run = 0;  // probes in a row against the current listener state
  core::TimerPtr probe_timer;
  uint64_t probes = 0, probe_failures = 0;
  bool verdict = false;
  std::string last_why = "not checked yet";
  bool stopped = false;

  void decide(const std::string& why) {
    const bool v = process_up && listeners_up && backends_up;
    last_why = why;
    if (v == verdict) return;
    verdict = v;
    logger().info("track_proxy {}: {} ({})", spec.name, v ? "UP" : "DOWN", why);
    changed(v, why);
  }

  // Reads the pid file and follows that process through a pidfd.
  void follow_pidfile() {
    std::ifstream in(*spec.pidfile);
    int p = 0;
    if (!(in >> p) || p <= 0) {
      pidfd.reset();
      pid = 0;
      process_up = false;
      decide("no pid in " + *spec.pidfile);
      return;
    }
    if (p == pid && pidfd) return;  // the same process
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, p, 0));
    if (fd < 0) {
      pidfd.reset();
      pid = 0;
      process_up = false;
      decide(fmt::format("pid {} from {} is not running", p, *spec.pidfile));
      return;
    }
    pid = p;
    pidfd = std::make_unique<asio::posix::stream_descriptor>(io, fd);
    std::weak_ptr<Impl> weak = shared_from_this();
    const int watched = p;
    pidfd->async_wait(asio::posix::stream_descriptor::wait_read,
                      [weak, watched](const std::error_code& ec) {
                        auto self = weak.lock();
                        if (ec || !self || self->stopped || self->pid != watched) return;
                        self->pidfd.reset();
                        self->pid = 0;
                        self->process_up = false;
                        self->decide(fmt::format("process {} exited", watched));
                      });
    process_up = true;
    decide(fmt::format("process {} runs", p));
  }

  void probe() {
    if (stopped) return;
    auto self = shared_from_this();
    auto pending = std::make_shared<size_t>(spec.listens.size());
    auto failed = std::make_shared<std::string>();
    for (const auto& l : spec.listens) {
      auto sock = std::make_shared<asio::ip::tcp::socket>(io);
      auto timer = std::shared_ptr<core::Timer>(clock.make_timer());
      auto done = std::make_shared<bool>(false);
      const std::string where = fmt::format("{}:{}", l.address.to_string(), l.port);
      auto finish = [self, pending, failed, done, sock, timer, where](const std::string& err) {
        if (*done) return;
        *done = true;
        timer->cancel();
        std::error_code ignored;
        sock->close(ignored);
        if (!err.empty() && failed->empty()) *failed = where + ": " + err;
        if (--*pending == 0) self->probe_result(*failed);
      };
      asio::ip::address addr =
          l.address.is_v4() ? asio::ip::address(asio::ip::make_address_v4(l.address.to_string()))
                            : asio::ip::address(asio::ip::make_address_v6(l.address.to_string()));
      timer->arm_at(clock.now() + spec.timeout, [finish] { finish("no answer in time"); });
      sock->async_connect(asio::ip::tcp::endpoint(addr, l.port),
                          [finish](const std::error_code& ec) {
                            if (ec == asio::error::operation_aborted) return;
                            finish(ec ? ec.message() : "");
                          });
    }
  }

  // Asks the stats socket for `show stat` (HAProxy's CSV, which tandem-lb also speaks) and
  // looks at each named backend's BACKEND row.
  void query_stats() {
    if (stopped) return;
    auto self = shared_from_this();
    auto sock = std::make_shared<asio::local::stream_protocol::socket>(io);
    auto text = std::make_shared<std::string>();
    auto chunk = std::make_shared<std::array<char, 4096>>();
    auto timer = std::shared_ptr<core::Timer>(clock.make_timer());
    auto done = std::make_shared<bool>(false);
    auto finish = [self, sock, timer, done](const std::string& err, const std::string& csv) {
      if (*done) return;
      *done = true;
      timer->cancel();
      std::error_code ignored;
      sock->close(ignored);
      self->stats_result(err.empty() ? self->backends_verdict(csv) : err);
    };
    timer->arm_at(clock.now() + spec.timeout, [finish] { finish("no answer in time", ""); });
    auto read_more = std::make_shared<std::function<void()>>();
    *read_more = [sock, text, chunk, finish, read_more] {
      sock->async_read_some(asio::buffer(*chunk), [sock, text, chunk, finish, read_more](
                                                      const std::error_code& ec, size_t n) {
        text->append(chunk->data(), n);
        if (ec == asio::error::eof) {
          finish("", *text);
          *read_more = nullptr;
        } else if (ec) {
          if (ec != asio::error::operation_aborted) finish(ec.message(), "");
          *read_more = nullptr;
        } else if (text->size() > (1u << 20)) {
          finish("answer larger than 1 MiB", "");
          *read_more = nullptr;
        } else {
          (*read_more)();
        }
      });
    };
    sock->async_connect(asio::local::stream_protocol::endpoint(*spec.stats_socket),
                        [sock, finish, read_more](const std::error_code& ec) {
                          if (ec) {
                            if (ec != asio::error::operation_aborted) finish(ec.message(), "");
                            return;
                          }
                          static const std::string kCmd = "show stat\n";
                          asio::async_write(
                              *sock, asio::buffer(kCmd),
                              [finish, read_more](const std::error_code& wec, size_t) {
                                if (wec) {
                                  finish(wec.message(), "");
                                  return;
                                }
                                (*read_more)();
                              });
                        });
  }

  // "" when every named backend's BACKEND row says UP, else why not.
  std::string backends_verdict(const std::string& csv) const {
    std::istringstream in(csv);
    std::string line;
    int px = -1, sv = -1, st = -1;
    std::map<std::string, std::string> status;
    while (std::getline(in, line)) {
      std::vector<std::string> cells;
      std::string cell;
      std::istringstream fields(line.starts_with("# ") ? line.substr(2) : line);
      while (std::getline(fields, cell, ',')) cells.push_back(cell);
      if (line.starts_with("# ")) {
        for (int i = 0; i < static_cast<int>(cells.size()); ++i) {
          if (cells[i] == "pxname") px = i;
          if (cells[i] == "svname") sv = i;
          if (cells[i] == "status") st = i;
        }
        continue;
      }
      if (px < 0 || sv < 0 || st < 0 || static_cast<int>(cells.size()) <= std::max({px, sv, st}))
        continue;
      if (cells[sv] == "BACKEND") status[cells[px]] = cells[st];
    }
    if (st < 0) return "the stats socket did not answer `show stat` with CSV";
    for (const auto& b : spec.backends) {
      auto it = status.find(b);
      if (it == status.end()) return "no backend " + b + " in show stat";
      if (!it->second.starts_with("UP")) return "backend " + b + " is " + it->second;
    }
    return "";
  }

  void stats_result(const std::string& failure) {
    if (stopped) return;
    ++stats_queries;
    const bool ok = failure.empty();
    if (!ok) ++stats_failures;
    if (ok == backends_up) {
      stats_run = 0;
    } else if (++stats_run >= (ok ? spec.rise : spec.fall) || stats_queries == 1) {
      stats_run = 0;
      backends_up = ok;
      decide(ok ? "backends have servers UP" : failure);
    }
    clock.arm_after(*stats_timer, spec.interval,
                    [self = shared_from_this()] { self->query_stats(); });
  }

  void probe_result(const std::string& failure) {
    if (stopped) return;
    ++probes;
    const bool ok = failure.empty();
    if (!ok) ++probe_failures;
    if (ok == listeners_up) {
      run = 0;
    } else if (++run >= (ok ? spec.rise : spec.fall) || probes == 1) {
      // The first probe decides at once: the state before it is only a guess.
      run = 0;
      listeners_up = ok;
      decide(ok ? "listeners accept" : "listener " + failure);
    }
    clock.arm_after(*probe_timer, spec.interval, [self = shared_from_this()] { self->probe(); });
  }
};

ProxyWatch::ProxyWatch(asio::io_context& io, core::Clock& clock, TrackProxy spec,
                       os::FileWatch& files, std::function<void(bool, const std::string&)> changed)
    : impl_(std::make_shared<Impl>(io, clock, std::move(spec), files, std::move(changed))) {}

ProxyWatch::~ProxyWatch() {
  impl_->stopped = true;
  impl_->probe_timer->cancel();
  impl_->stats_timer->cancel();
  if (impl_->pidfd) {
    std::error_code ignored;
    impl_->pidfd->cancel(ignored);
  }
}

core::Result<void> ProxyWatch::start() {
  Impl& d = *impl_;
  d.process_up = !d.spec.pidfile && !d.spec.process;
  d.listeners_up = d.spec.listens.empty();
  d.backends_up = !d.spec.stats_socket;
  if (d.spec.pidfile) {
    std::weak_ptr<Impl> weak = impl_;
    auto ok = d.files.watch(*d.spec.pidfile, [weak] {
      if (auto self = weak.lock(); self && !self->stopped) self->follow_pidfile();
    });
    if (!ok) return ok;
    d.follow_pidfile();
  }
  if (!d.spec.listens.empty()) d.probe();
  if (d.spec.stats_socket) d.query_stats();
  if (!d.spec.pidfile && !d.spec.process && d.spec.listens.empty() && !d.spec.stats_socket)
    d.decide("nothing to watch");
  return {};
}

void ProxyWatch::set_process_count(size_t count) {
  impl_->process_up = count > 0;
  impl_->decide(count > 0 ? fmt::format("{} process(es) of {} run", count, *impl_->spec.process)
                          : fmt::format("no process of {} runs", *impl_->spec.process));
}

bool ProxyWatch::up() const {
  return impl_->verdict;
}
bool ProxyWatch::settled() const {
  const Impl& d = *impl_;
  // The pid file is read at start(); a process name is counted by the daemon before it.
  return (d.spec.listens.empty() || d.probes > 0) && (!d.spec.stats_socket || d.stats_queries > 0);
}
const TrackProxy& ProxyWatch::spec() const {
  return impl_->spec;
}

nlohmann::json ProxyWatch::status() const {
  const Impl& d = *impl_;
  return {{"name", d.spec.name},
          {"up", d.verdict},
          {"why", d.last_why},
          {"pid", d.pid},
          {"probes", d.probes},
          {"probe_failures", d.probe_failures},
          {"process_up", d.process_up},
          {"listeners_up", d.listeners_up},
          {"backends_up", d.backends_up},
          {"stats_queries", d.stats_queries},
          {"stats_failures", d.stats_failures}};
}

}  // namespace tandem::vrrp
