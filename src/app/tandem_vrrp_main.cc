// tandem-vrrp: the VRRP failover daemon. Flags as keepalived's; wiring only.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/flags.h"
#include "app/version.h"
#include "core/diagnostic.h"
#include "core/log.h"
#include "core/signals.h"
#include "core/worker.h"
#include "vrrp/config.h"
#include "vrrp/daemon.h"

int main(int argc, char** argv) {
  using namespace tandem;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto flags = app::parse_vrrp_flags(args);
  if (!flags) {
    fmt::print(stderr, "tandem-vrrp: {}\n", flags.error().message);
    return 2;
  }
  if (flags->help) {
    fmt::print("{}", app::vrrp_usage());
    return 0;
  }
  if (flags->version) {
    fmt::print("tandem-vrrp {} (keepalived.conf syntax)\n", app::kVersion);
    return 0;
  }

  if (flags->config_test) {
    core::Diagnostics diags;
    auto config = vrrp::load_config(flags->config_path, diags);
    if (!diags.empty()) fmt::print(stderr, "{}", diags.to_string());
    if (diags.has_errors()) {
      fmt::print(stderr, "tandem-vrrp: {}: {} error(s), {} warning(s)\n", flags->config_path,
                 diags.error_count(), diags.warning_count());
      return 1;
    }
    fmt::print("tandem-vrrp: configuration file {} is valid ({} instance(s), {} script(s))\n",
               flags->config_path, config.instances.size(), config.scripts.size());
    return 0;
  }

  core::LogOptions log;
  log.ident = "tandem-vrrp";
  log.level = flags->log_detail ? spdlog::level::debug : spdlog::level::info;
  if (flags->log_file) {
    log.sink = core::LogOptions::Sink::kFile;
    log.path = *flags->log_file;
  } else if (flags->log_console) {
    log.sink = core::LogOptions::Sink::kStderr;
  } else {
    log.sink = core::LogOptions::Sink::kSyslog;  // keepalived's default
  }
  if (auto ok = core::init_logging(log); !ok) {
    fmt::print(stderr, "tandem-vrrp: {}\n", ok.error().message);
    return 1;
  }
  if (!flags->dont_fork && ::daemon(0, 0) != 0) {
    fmt::print(stderr, "tandem-vrrp: cannot go to the background: {}\n", std::strerror(errno));
    return 1;
  }
  if (flags->pid_file) {
    std::ofstream pid(*flags->pid_file, std::ios::trunc);
    pid << ::getpid() << "\n";
    if (!pid) core::logger().warn("cannot write pid file {}", *flags->pid_file);
  }

  core::Worker worker("vrrp");
  vrrp::DaemonOptions options;
  options.config_path = flags->config_path;
  options.control_socket = flags->control_socket;
  vrrp::Daemon daemon(worker, options);
  if (auto ok = daemon.start(); !ok) {
    core::logger().error("cannot start: {}", ok.error().to_string());
    if (log.sink != core::LogOptions::Sink::kStderr)
      fmt::print(stderr, "tandem-vrrp: cannot start: {}\n", ok.error().to_string());
    return 1;
  }
  core::logger().info("tandem-vrrp {} started with {}", app::kVersion, flags->config_path);

  bool stopping = false;
  core::SignalWatcher signals(
      worker.io(), core::SignalHandlers{
                       .reload =
                           [&] {
                             core::logger().info("SIGHUP: reloading {}", flags->config_path);
                             daemon.reload();
                           },
                       .stop =
                           [&](int signo) {
                             if (stopping) {  // a second signal: leave now, do not wait
                               daemon.stop_now();
                               worker.stop();
                               return;
                             }
                             stopping = true;
                             core::logger().info("signal {}: leaving gracefully", signo);
                             daemon.stop([&] { worker.stop(); });
                           },
                       .dump =
                           [&] {
                             std::ofstream out(options.dump_path, std::ios::trunc);
                             out << daemon.status().dump(2) << "\n";
                             core::logger().info("state written to {}", options.dump_path);
                           },
                       .user2 = nullptr,
                   });
  worker.run();
  if (flags->pid_file) ::unlink(flags->pid_file->c_str());
  core::logger().info("tandem-vrrp stopped");
  return 0;
}
