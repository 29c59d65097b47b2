// tandem-lb: the load balancer. Flags as haproxy's; wiring only.
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "app/flags.h"
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

namespace {

// Two descriptors per connection: take what the hard limit allows, as haproxy does.
void raise_fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
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

  core::LogOptions log;
  log.ident = "tandem-lb";
  log.sink = core::LogOptions::Sink::kStderr;
  log.level = flags->debug ? spdlog::level::debug
                           : (flags->quiet ? spdlog::level::warn : spdlog::level::info);
  if (auto ok = core::init_logging(log); !ok) {
    fmt::print(stderr, "tandem-lb: {}\n", ok.error().message);
    return 1;
  }
  // The proxy run-time of this version does not apply everything the grammar accepts:
  // refuse to serve rather than serve differently from what the file says.
  for (const auto& p : config.proxies) {
    if (p.stats.enabled) {
      fmt::print(stderr,
                 "tandem-lb: {} {}: the stats page is not served by this version's proxy yet "
                 "(tandem-lb -c checks it); remove it to run it\n",
                 lb::to_string(p.kind), p.name);
      return 1;
    }
  }
  raise_fd_limit();
  // Bind everything before going to the background, so port problems reach the terminal.
  lb::proxy::RuntimeOptions options;
  options.rules = std::move(rules);
  // No service is plugged in yet: a config with `use-service` is refused by create().
  auto runtime = lb::proxy::Runtime::create(config, options);
  if (!runtime) {
    fmt::print(stderr, "tandem-lb: cannot start: {}\n", runtime.error().to_string());
    return 1;
  }
  auto& rt = **runtime;
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

  core::Worker main_loop("lb-main");
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
          .reload = [] { core::logger().warn("SIGHUP: reload is not implemented yet"); },
          .stop = soft_stop,
          // haproxy's soft stop (what -sf sends to the old process).
          .dump = [&] { soft_stop(SIGUSR1); },
          .user2 = [] { core::logger().warn("SIGUSR2: reload is not implemented yet"); },
      });
  rt.start();
  // Health checks run on the main loop; a change takes the server out of (or back into)
  // every thread's balancer.
  std::vector<std::unique_ptr<lb::HealthChecker>> checkers;
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
    checkers.push_back(std::move(checker));
  }
  // -sf/-st: the old processes leave once we listen beside them (SO_REUSEPORT).
  for (int pid : flags->soft_stop_pids) ::kill(pid, SIGUSR1);
  for (int pid : flags->hard_stop_pids) ::kill(pid, SIGTERM);
  main_loop.run();
  for (auto& c : checkers) c->stop();
  rt.stop_now();
  rt.join();
  if (!pid_file.empty()) ::unlink(pid_file.c_str());
  core::logger().info("tandem-lb stopped");
  return 0;
}
