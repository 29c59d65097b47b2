// tandem-lb: the load balancer. Flags as haproxy's; wiring only.
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "app/flags.h"
#include "app/lb_master.h"
#include "app/version.h"
#include "core/diagnostic.h"
#include "core/log.h"
#include "core/signals.h"
#include "core/worker.h"
#include "lb/acl.h"
#include "lb/config.h"
#include "lb/health_check.h"
#include "lb/proxy/proxy.h"
#include "lb/rules.h"
#include "lb/stats/csv.h"
#include "lb/stats/from_config.h"
#include "lb/stats/live.h"
#include "lb/stats/page.h"
#include "lb/stats/server_state.h"
#include "lb/stats/socket_server.h"

namespace {

// Two descriptors per connection: take what the hard limit allows, as haproxy does.
void raise_fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// The services `http-request use-service` may name.
constexpr std::string_view kPrometheus = "prometheus-exporter";

std::string node_name() {
  utsname u{};
  return ::uname(&u) == 0 ? std::string(u.nodename) : std::string();
}

int64_t unix_now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// A server state file, read before chroot: haproxy reads them at start-up as well.
struct StateFileRead {
  tandem::lb::stats::FileInfo info;
  tandem::lb::stats::StateFile parsed;
};

constexpr size_t kMaxStateFile = 64u << 20;  // far above a dump of 100k servers

StateFileRead read_state_file(const std::string& path) {
  StateFileRead r;
  std::FILE* f = std::fopen(path.c_str(), "re");
  if (f == nullptr) {
    // As haproxy: no file is not an error; the servers start as configured.
    r.parsed.warnings.push_back(
        fmt::format("cannot open server state file '{}': {}", path, std::strerror(errno)));
    return r;
  }
  struct stat st {};
  if (::fstat(::fileno(f), &st) == 0) {
    r.info.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  }
  std::string text;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && text.size() <= kMaxStateFile) {
    text.append(buf, n);
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed || text.size() > kMaxStateFile) {
    r.parsed.warnings.push_back(fmt::format("server state file '{}' not read: {}", path,
                                            failed ? "read error" : "larger than 64 MiB"));
    return r;
  }
  r.info.found = true;
  r.parsed = tandem::lb::stats::parse_state_file(text, path);
  return r;
}

// The saved states a starting worker restores: the master's hand-over and the server state
// files the backends name, each backend from the fresher of the two (see
// stats::choose_state_source). Returns the lines to restore.
std::vector<tandem::lb::stats::SavedServer> saved_states_to_restore(
    const tandem::lb::Config& config, const std::string& handover_text,
    const std::map<std::string, StateFileRead>& files) {
  namespace stats = tandem::lb::stats;
  using tandem::core::logger;
  std::vector<stats::SavedServer> handover;
  std::optional<int64_t> handover_ns;
  if (!handover_text.empty()) {
    auto parsed = stats::parse_servers_state(handover_text);
    if (!parsed) {
      logger().warn("server states of the previous worker not restored: {}",
                    parsed.error().to_string());
    } else {
      handover = std::move(*parsed);
      handover_ns = stats::saved_time(handover_text);
    }
  }
  std::vector<stats::SavedServer> out;
  for (const auto& p : config.proxies) {
    if (!p.is_backend()) continue;
    const bool in_handover = std::any_of(handover.begin(), handover.end(),
                                         [&](const auto& s) { return s.backend == p.name; });
    const std::string path = stats::state_file_path(config.global, p);
    std::optional<stats::FileInfo> file;
    const StateFileRead* read = nullptr;
    if (auto it = files.find(path); !path.empty() && it != files.end()) {
      read = &it->second;
      file = read->info;
    }
    switch (stats::choose_state_source(in_handover, handover_ns, file)) {
      case stats::StateSource::kNone:
        break;
      case stats::StateSource::kHandOver:
        if (file && file->found) {
          logger().info("backend {}: server states from the previous worker, newer than '{}'",
                        p.name, path);
        }
        for (const auto& s : handover)
          if (s.backend == p.name) out.push_back(s);
        break;
      case stats::StateSource::kFile:
        for (const auto& s : read->parsed.servers)
          if (s.backend == p.name) out.push_back(s);
        break;
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tandem;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto flags = app::parse_lb_flags(args);
  if (!flags) {
    fmt::print(stderr, "tandem-lb: {}\n{}", flags.error().message, app::lb_usage());
    return 1;
  }
  if (flags->help) {
    fmt::print("{}", app::lb_usage());
    return 0;
  }
  if (flags->version_level > 0) {
    fmt::print("tandem-lb version {} (haproxy.cfg syntax)\n", app::kVersion);
    return 0;
  }
  if (flags->condition) {
    // -cc: haproxy's .if condition language, answered by the exit status.
    auto result = lb::eval_condition(*flags->condition);
    if (!result) {
      fmt::print(stderr, "tandem-lb: -cc '{}': {}\n", *flags->condition, result.error().message);
      return 2;
    }
    return *result ? 0 : 1;
  }
  if (flags->config_paths.empty()) {
    fmt::print(stderr, "tandem-lb: no configuration file given (use -f PATH)\n{}", app::lb_usage());
    return 1;
  }

  core::Diagnostics diags;
  auto config = lb::load_config(flags->config_paths, diags);
  if (!diags.empty()) fmt::print(stderr, "{}", diags.to_string());
  if (diags.has_errors()) {
    fmt::print(stderr, "tandem-lb: fatal errors found in configuration ({} error(s))\n",
               diags.error_count());
    return 1;
  }
  // ACLs and rules of every proxy, compiled once: -c reports their errors too, and the
  // run-time applies these (use_backend, http-request, http-response).
  std::vector<std::shared_ptr<const lb::ProxyRules>> rules;
  for (const auto& p : config.proxies)
    rules.push_back(std::make_shared<const lb::ProxyRules>(lb::ProxyRules::compile(p, diags)));
  if (diags.has_errors()) {
    fmt::print(stderr, "{}", diags.to_string());
    fmt::print(stderr, "tandem-lb: fatal errors found in configuration ({} error(s))\n",
               diags.error_count());
    return 1;
  }
  if (flags->check_only) {
    if (!flags->quiet)
      fmt::print("Configuration file is valid ({} proxies)\n", config.proxies.size());
    return 0;
  }
  // -W/-Ws or `master-worker`: this process becomes the master; its workers run what follows.
  if (app::wants_master(*flags, config)) return app::run_master(*flags, config);
  // A worker under a master listens on the sockets the master passed down (fd@N binds).
  if (auto ok = app::prepare_worker(config); !ok) {
    fmt::print(stderr, "tandem-lb: cannot start: {}\n", ok.error().to_string());
    return 1;
  }

  core::LogOptions log;
  log.ident = "tandem-lb";
  log.sink = core::LogOptions::Sink::kStderr;
  log.level = flags->debug ? spdlog::level::debug
                           : (flags->quiet ? spdlog::level::warn : spdlog::level::info);
  if (auto ok = core::init_logging(log); !ok) {
    fmt::print(stderr, "tandem-lb: {}\n", ok.error().message);
    return 1;
  }
  // Only the Prometheus exporter is built in: refuse another service rather than answer 503.
  for (const auto& p : config.proxies) {
    for (const auto& r : p.http_request) {
      if (r.action == lb::HttpRule::Action::kUseService && r.service != kPrometheus) {
        fmt::print(stderr, "tandem-lb: {}: use-service {}: unknown service (only {} exists)\n",
                   r.where.to_string(), r.service, kPrometheus);
        return 1;
      }
    }
  }
  raise_fd_limit();
  // Bind everything before going to the background, so port problems reach the terminal.
  // The stats page and the exporter read `live`, set before the workers start.
  lb::stats::LiveStats* live = nullptr;
  lb::proxy::RuntimeOptions options;
  options.rules = std::move(rules);
  options.service = [&live](std::string_view service,
                            const lb::proxy::RequestContext& ctx) -> std::optional<std::string> {
    if (service != kPrometheus || live == nullptr) return std::nullopt;
    const bool head = ctx.head != nullptr && ctx.head->method == "HEAD";
    return lb::stats::to_http_response(lb::stats::prometheus_reply(*live->current()), true, head);
  };
  options.stats_page = [&live](const lb::proxy::StatsRequest& req) -> std::string {
    if (live == nullptr) return std::string(lb::proxy::error_response(503));
    std::string_view auth;
    if (const auto* h = lb::http1::find_header(req.head->headers, "authorization")) {
      auth = h->value;
    }
    lb::stats::PageInput in{req.head->method, req.head->target, auth, req.body, req.admin_allowed};
    const lb::stats::StatsView view = live->view();
    auto reply = lb::stats::serve_stats_page(req.frontend->stats, in, view, live);
    return lb::stats::to_http_response(reply, true, req.head->method == "HEAD");
  };
  auto runtime = lb::proxy::Runtime::create(config, options);
  if (!runtime) {
    fmt::print(stderr, "tandem-lb: cannot start: {}\n", runtime.error().to_string());
    return 1;
  }
  auto& rt = **runtime;
  core::Worker main_loop("lb-main");
  // Health checkers by backend/server, for the stats and the runtime API (main loop only).
  struct Checked {
    lb::HealthChecker* checker = nullptr;
    uint32_t id = 0;
  };
  std::vector<std::unique_ptr<lb::HealthChecker>> checkers;
  std::map<std::pair<std::string, std::string>, Checked> checked;
  lb::stats::ProcessInfo process;
  process.version = app::kVersion;
  process.node = node_name();
  process.start_time_s = static_cast<uint64_t>(::time(nullptr));
  process.maxconn = process.hard_maxconn = rt.maxconn();
  if (rlimit rl{}; ::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    process.ulimit_n = static_cast<uint32_t>(std::min<rlim_t>(rl.rlim_cur, UINT32_MAX));
  }
  process.listeners = static_cast<uint32_t>(rt.listeners().size());
  lb::stats::LiveStats::Hooks hooks;
  hooks.apply_health = [&](lb::stats::StatsView& view) {
    const core::TimePoint now = main_loop.clock().now();
    for (const auto& [key, c] : checked) {
      lb::stats::ProxyView* pv = view.find_proxy(key.first);
      lb::stats::ServerView* sv = pv != nullptr ? pv->find_server(key.second) : nullptr;
      const lb::health::ServerHealth* h = c.checker->health(c.id);
      if (sv != nullptr && h != nullptr) lb::stats::apply_health(*sv, *h, now);
    }
  };
  hooks.on_maint = [&](std::string_view backend, std::string_view server, bool maint) {
    auto it = checked.find({std::string(backend), std::string(server)});
    if (it == checked.end()) return;
    it->second.checker->set_maintenance(it->second.id, maint);
    // Out of maintenance a checked server starts UP again, as at boot; checks then decide.
    if (!maint) rt.set_server_up(backend, server, true);
  };
  // Under a master, the servers' operator states go to the next worker (reloads keep them).
  // The time of writing lets the next worker tell whether a server state file is newer.
  hooks.on_admin_change = [&live] {
    if (live == nullptr) return;
    app::save_server_state(
        lb::stats::with_saved_time(lb::stats::render_servers_state(live->view()), unix_now_ns()));
  };
  lb::stats::LiveStats live_stats(config, rt, main_loop, process, std::move(hooks));
  live = &live_stats;
  // stats socket: served on the main loop; bound now, so a bad path reaches the terminal.
  std::vector<std::unique_ptr<lb::stats::StatsSocketServer>> stats_sockets;
  for (const auto& sock : config.global.stats_sockets) {
    lb::stats::StatsSocketServer::Options so;
    so.idle_timeout = std::chrono::duration_cast<core::Duration>(config.global.stats_timeout);
    so.max_line = config.global.tune_bufsize;
    auto server = lb::stats::StatsSocketServer::open(main_loop.io(), sock, live_stats, so);
    if (!server) {
      fmt::print(stderr, "tandem-lb: cannot start: {}\n", server.error().to_string());
      return 1;
    }
    stats_sockets.push_back(std::move(*server));
  }
  const bool background = (flags->daemon || config.global.daemon) && !flags->foreground;
  if (background && ::daemon(0, 0) != 0) {
    fmt::print(stderr, "tandem-lb: cannot go to the background: {}\n", std::strerror(errno));
    return 1;
  }
  std::string pid_file = flags->pid_file.value_or(config.global.pidfile);
  if (!pid_file.empty()) {
    std::ofstream pid(pid_file, std::ios::trunc);
    pid << ::getpid() << "\n";
    if (!pid) core::logger().warn("cannot write pid file {}", pid_file);
  }

  bool stopping = false;
  auto soft_stop = [&](int signo) {
    if (stopping) {  // a second signal: do not wait for sessions
      core::logger().info("signal {}: stopping now", signo);
      rt.stop_now();
      return;
    }
    stopping = true;
    core::logger().info("signal {}: stopping gracefully", signo);
    rt.stop_gracefully([&main_loop] { main_loop.stop(); });
  };
  core::SignalWatcher signals(
      main_loop.io(),
      core::SignalHandlers{
          .reload = [] { core::logger().warn("SIGHUP: ignored: reloads need the master (-W)"); },
          .stop = soft_stop,
          // haproxy's soft stop (what -sf sends to the old process).
          .dump = [&] { soft_stop(SIGUSR1); },
          .user2 = [] { core::logger().warn("SIGUSR2: ignored: reloads need the master (-W)"); },
      });
  // server-state-file / load-server-state-from-file: read now, before a chroot; each file once.
  std::map<std::string, StateFileRead> state_files;
  for (const auto& p : config.proxies) {
    if (!p.is_backend()) continue;
    std::string path = lb::stats::state_file_path(config.global, p);
    if (path.empty() || state_files.contains(path)) continue;
    StateFileRead read = read_state_file(path);
    for (const auto& w : read.parsed.warnings) core::logger().warn("{}", w);
    state_files.emplace(std::move(path), std::move(read));
  }
  // global user/group/chroot: everything is bound, no worker thread runs yet.
  if (auto ok = app::drop_privileges(config.global); !ok) {
    core::logger().error("cannot start: {}", ok.error().to_string());
    return 1;
  }
  // The saved operator states (maintenance, drain, weight): the previous worker's, handed
  // over by the master, and the server state files; applied before any traffic, as haproxy.
  std::set<std::pair<std::string, std::string>> restored_maint, restored_down;
  {
    auto saved = saved_states_to_restore(config, app::read_saved_server_state(), state_files);
    for (const auto& c : lb::stats::changes_to_restore(live_stats.view(), saved)) {
      if (!c.note.empty()) core::logger().info("server {}/{}: {}", c.backend, c.server, c.note);
      if (c.start_down) {
        // Out of the balancer now; its checker starts DOWN too (below) and brings it back.
        rt.set_server_up(c.backend, c.server, false);
        restored_down.insert({c.backend, c.server});
        core::logger().info(
            "server {}/{}: DOWN restored from the saved server state; checks "
            "bring it UP",
            c.backend, c.server);
      }
      if (!c.set_admin && !c.set_weight) continue;
      if (c.set_admin) (void)live_stats.set_admin_state(c.backend, c.server, c.admin);
      if (c.set_admin && c.admin == lb::stats::AdminState::kMaint)
        restored_maint.insert({c.backend, c.server});
      if (c.set_weight) (void)live_stats.set_weight(c.backend, c.server, c.weight);
      core::logger().info("server {}/{}: {}{}{} restored from the saved server state", c.backend,
                          c.server, c.set_admin ? lb::stats::to_string(c.admin) : "",
                          c.set_admin && c.set_weight ? ", " : "",
                          c.set_weight ? fmt::format("weight {}", c.weight) : "");
    }
  }
  rt.start();
  // Health checks run on the main loop; a change takes the server out of (or back into)
  // the backend's balancer.
  uint32_t next_id = 0;
  for (const auto& p : config.proxies) {
    if (p.kind != lb::Proxy::Kind::kBackend && p.kind != lb::Proxy::Kind::kListen) continue;
    auto servers = lb::checked_servers(p, next_id);
    if (!servers) {
      core::logger().error("{}: health checks: {}", p.name, servers.error().to_string());
      continue;
    }
    if (servers->empty()) continue;
    next_id += static_cast<uint32_t>(servers->size());
    std::vector<std::pair<std::pair<std::string, std::string>, uint32_t>> names;
    for (const auto& cs : *servers) names.push_back({{cs.backend, cs.name}, cs.id});
    auto checker = std::make_unique<lb::HealthChecker>(
        main_loop.io(), main_loop.clock(), std::move(*servers), [&rt](const lb::StateChange& c) {
          core::logger().warn("{}", c.log_line);
          if (!c.alert_line.empty()) core::logger().error("{}", c.alert_line);
          rt.set_server_up(c.server.backend, c.server.name, c.state == lb::health::State::kUp);
        });
    if (auto ok = checker->start(); !ok) {
      core::logger().error("{}: health checks: {}", p.name, ok.error().to_string());
      continue;
    }
    for (const auto& [key, id] : names) {
      checked[key] = {checker.get(), id};
      // Restored into maintenance before the checkers existed: no checks for it either.
      if (restored_maint.contains(key)) checker->set_maintenance(id, true);
      if (restored_down.contains(key)) checker->start_down(id);
    }
    checkers.push_back(std::move(checker));
  }
  // The stats view: refreshed every second on the main loop, read by the page, the exporter
  // and the stats socket.
  live_stats.refresh();
  asio::steady_timer stats_timer(main_loop.io());
  std::function<void()> tick = [&] {
    stats_timer.expires_after(std::chrono::seconds(1));
    stats_timer.async_wait([&](const std::error_code& ec) {
      if (ec || stopping) return;
      live_stats.refresh();
      tick();
    });
  };
  tick();
  for (auto& s : stats_sockets) s->start();
  // -sf/-st: the old processes leave once we listen beside them (SO_REUSEPORT).
  for (int pid : flags->soft_stop_pids) ::kill(pid, SIGUSR1);
  for (int pid : flags->hard_stop_pids) ::kill(pid, SIGTERM);
  app::notify_master_ready();  // under a master: the old worker may leave now
  main_loop.run();
  stats_timer.cancel();
  for (auto& s : stats_sockets) s->stop();
  for (auto& c : checkers) c->stop();
  rt.stop_now();
  rt.join();
  if (!pid_file.empty()) ::unlink(pid_file.c_str());
  core::logger().info("tandem-lb stopped");
  return 0;
}
