// tandem-lb's master process: opens every listening socket once, runs the proxy in a worker
// process that inherits them, and on reload starts a new worker beside the old one, which
// leaves gracefully once the new one accepts. The sockets stay open across reloads, so the
// kernel's accept queue never goes away and no client is refused. See docs/design/lb-reload.md.
#include "app/lb_master.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string_view>

#include <fmt/format.h>

#include "core/diagnostic.h"
#include "core/log.h"
#include "lb/rules.h"

extern char** environ;

namespace tandem::app {
namespace {

using Clock = std::chrono::steady_clock;
using core::fail;
using core::fail_errno;

// How long a new worker may take to accept before the reload counts as failed.
constexpr auto kReadyTimeout = std::chrono::seconds(30);
// How long past its grace period an old worker may linger before it is killed.
constexpr auto kKillMargin = std::chrono::seconds(10);
constexpr auto kDefaultGrace = std::chrono::seconds(30);  // the run-time's own default
constexpr char kMasterPidEnv[] = "TANDEM_LB_MASTER_PID";
// A memory file the master keeps for its workers: each writes the servers' operator states
// there (`show servers state` format) and the next one reads them at start.
constexpr char kStateFdEnv[] = "TANDEM_LB_STATE_FD";
// Ends every complete state written, so that a reader never takes a half-written one.
constexpr std::string_view kStateEnd = "# end\n";

std::string endpoint_text(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return fmt::format("{}:{}", host, ntohs(in->sin_port));
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
  ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
  return fmt::format("[{}]:{}", host, ntohs(in6->sin6_port));
}

void set_port(sockaddr_storage& ss, uint16_t port) {
  if (ss.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(port);
  }
}

bool parse_int(std::string_view s, int* out) {
  if (s.empty() || s.size() > 9) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

void set_cloexec(int fd, bool on) {
  int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0) return;
  ::fcntl(fd, F_SETFD, on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC));
}

// Is `proxy` one whose binds the run-time listens on?
bool listens(const lb::Proxy& p) {
  return p.is_frontend() && !p.binds.empty();
}

uint32_t backlog_of(const lb::Config& config, const lb::Proxy& p, const lb::Bind& b) {
  // As the run-time: the bind's backlog, else the frontend's or the global maxconn, capped;
  // 4096 when neither is written (the run-time derives its default from the fd limit).
  uint32_t maxconn = p.maxconn ? p.maxconn : config.global.maxconn.value_or(4096);
  return b.backlog.value_or(std::min<uint32_t>(maxconn, 65535));
}

// ---- systemd's notify protocol, without libsystemd ----

void sd_notify_text(const std::string& text) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return;
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  size_t n = std::strlen(path);
  if (n >= sizeof sun.sun_path) return;
  std::memcpy(sun.sun_path, path, n);
  if (sun.sun_path[0] == '@') sun.sun_path[0] = '\0';  // abstract namespace
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n);
  if (::sendto(fd, text.data(), text.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sun), len) <
      0) {
    core::logger().warn("master: cannot notify systemd at {}: {}", path, std::strerror(errno));
  }
  ::close(fd);
}

std::string status_text(int status) {
  if (WIFEXITED(status)) return fmt::format("exit status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {}", WTERMSIG(status));
  return fmt::format("status {:#x}", status);
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// ---- the master ----

struct Listener {
  int fd = -1;
  uint32_t backlog = 0;
};

struct WorkerProc {
  pid_t pid = -1;
  uint64_t generation = 0;
  int ready_fd = -1;  // read end of the readiness pipe, until ready or EOF
  bool ready = false;
  std::set<std::string> keys;                           // the listeners it was given
  Clock::time_point ready_deadline;                     // pending only
  Clock::time_point kill_at{Clock::time_point::max()};  // once told to stop
  Clock::duration grace{kDefaultGrace};
};

class Master {
 public:
  explicit Master(const LbFlags& flags) : flags_(flags) {}
  ~Master() {
    for (auto& [key, l] : listeners_) ::close(l.fd);
    if (sigfd_ >= 0) ::close(sigfd_);
    if (state_fd_ >= 0) ::close(state_fd_);
  }
  int run(const lb::Config& config);

 private:
  core::Result<std::set<std::string>> open_listeners(const lb::Config& config);
  core::Result<pid_t> spawn(const std::set<std::string>& keys, const lb::Config& config);
  void reload();
  void on_ready(WorkerProc& w);
  void on_not_ready(WorkerProc& w, const std::string& why);
  void reap();
  void close_unused_listeners();
  void signal_all(int signo);
  void begin_stop(int signo);
  bool any_worker() const { return current_ || pending_ || !old_.empty(); }
  std::string worker_args_text() const;
  void notify(const std::string& text) {
    if (flags_.systemd_notify) sd_notify_text(text);
  }

  const LbFlags& flags_;
  int state_fd_ = -1;  // the servers' operator states, passed from worker to worker
  std::vector<std::string> config_paths_;  // absolute: the master may chdir("/") with -D
  std::string exe_path_;                   // where the master's binary was at start
  std::map<std::string, Listener> listeners_;
  std::optional<WorkerProc> current_;
  std::optional<WorkerProc> pending_;
  std::vector<WorkerProc> old_;
  uint64_t generation_ = 0;
  bool reload_again_ = false;
  bool stopping_ = false;
  int exit_code_ = 0;
  int sigfd_ = -1;
  sigset_t old_mask_{};
  uint64_t reloads_ok_ = 0;
  uint64_t reloads_failed_ = 0;
};

core::Result<std::set<std::string>> Master::open_listeners(const lb::Config& config) {
  std::set<std::string> keys;
  std::vector<std::string> opened;  // new this time: closed again if a later one fails
  auto undo = [&] {
    for (const auto& k : opened) {
      ::close(listeners_[k].fd);
      listeners_.erase(k);
    }
  };
  for (const lb::Proxy& p : config.proxies) {
    if (!listens(p)) continue;
    for (const lb::Bind& b : p.binds) {
      auto eps = bind_endpoints(b);
      if (!eps) {
        undo();
        return fail(fmt::format("{}: frontend {}: {}", b.where.to_string(), p.name,
                                eps.error().to_string()));
      }
      const uint32_t backlog = backlog_of(config, p, b);
      for (const BindEndpoint& ep : *eps) {
        if (!keys.insert(ep.key).second) continue;  // the same endpoint twice: one socket
        if (auto it = listeners_.find(ep.key); it != listeners_.end()) {
          // Kept across the reload; listen(2) again only updates the backlog.
          if (it->second.backlog != backlog &&
              ::listen(it->second.fd, static_cast<int>(backlog)) == 0)
            it->second.backlog = backlog;
          continue;
        }
        int fd = ::socket(ep.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
          undo();
          return fail_errno("socket for " + ep.key, errno);
        }
        int one = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        // No SO_REUSEPORT: every worker thread takes a copy of this one socket, and a stray
        // second process on the port gets EADDRINUSE rather than half of the connections.
        if (ep.addr.ss_family == AF_INET6 && b.v6only) {
          int v = *b.v6only ? 1 : 0;
          ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof v);
        }
        if (::bind(fd, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len) != 0 ||
            ::listen(fd, static_cast<int>(backlog)) != 0) {
          int err = errno;
          ::close(fd);
          undo();
          return fail_errno(fmt::format("{}: frontend {}: cannot listen on {}", b.where.to_string(),
                                        p.name, ep.key),
                            err);
        }
        listeners_[ep.key] = Listener{fd, backlog};
        opened.push_back(ep.key);
        core::logger().info("master: listening on {} (frontend {})", ep.key, p.name);
      }
    }
  }
  return keys;
}

std::string Master::worker_args_text() const {
  std::string s;
  for (const auto& p : config_paths_) s += " -f " + p;
  return s;
}

core::Result<pid_t> Master::spawn(const std::set<std::string>& keys, const lb::Config& config) {
  // Everything the child needs is built before fork: after it, only async-signal-safe calls.
  std::vector<std::string> args{"tandem-lb"};
  for (const auto& p : config_paths_) {
    args.push_back("-f");
    args.push_back(p);
  }
  if (flags_.debug) args.push_back("-d");
  if (flags_.foreground && !flags_.debug) args.push_back("-db");
  if (flags_.quiet) args.push_back("-q");
  if (flags_.local_name) {
    args.push_back("-L");
    args.push_back(*flags_.local_name);
  }
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return fail_errno("pipe", errno);

  std::string inherited;
  std::vector<int> fds;
  for (const auto& k : keys) {
    int fd = listeners_.at(k).fd;
    fds.push_back(fd);
    if (!inherited.empty()) inherited += ';';
    inherited += fmt::format("{}={}", k, fd);
  }
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view v(*e);
    if (v.starts_with("TANDEM_LB_INHERITED=") || v.starts_with("TANDEM_LB_READY_FD=") ||
        v.starts_with("TANDEM_LB_MASTER_PID=") || v.starts_with("TANDEM_LB_STATE_FD=") ||
        v.starts_with("NOTIFY_SOCKET="))
      continue;
    env.emplace_back(v);
  }
  env.push_back(std::string(kInheritedEnv) + "=" + inherited);
  env.push_back(fmt::format("{}={}", kReadyFdEnv, pipefd[1]));
  env.push_back(fmt::format("{}={}", kMasterPidEnv, ::getpid()));
  if (state_fd_ >= 0) env.push_back(fmt::format("{}={}", kStateFdEnv, state_fd_));
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t master = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    return fail_errno("fork", err);
  }
  if (pid == 0) {
    // The worker: its own process group, so that a terminal's ^C reaches the master only
    // (which passes it on once); it stops when the master dies.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != master) ::_exit(1);
    for (int fd : fds) set_cloexec(fd, false);
    set_cloexec(pipefd[1], false);
    if (state_fd_ >= 0) set_cloexec(state_fd_, false);
    ::signal(SIGPIPE, SIG_DFL);
    ::sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
    // The binary on disk first: after a package upgrade the reload runs the new version
    // (a worker that fails to start fails the reload and nothing else). The master's own
    // image when that path is gone.
    if (!exe_path_.empty()) ::execve(exe_path_.c_str(), argv.data(), envp.data());
    ::execve("/proc/self/exe", argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  WorkerProc w;
  w.pid = pid;
  w.generation = ++generation_;
  w.ready_fd = pipefd[0];
  w.keys = keys;
  w.ready_deadline = Clock::now() + kReadyTimeout;
  w.grace = config.global.hard_stop_after.value_or(kDefaultGrace);
  pending_ = std::move(w);
  core::logger().info("master: started worker {} (generation {}):{}", pid, generation_,
                      worker_args_text());
  return pid;
}

void Master::reload() {
  if (stopping_) return;
  if (pending_) {  // one at a time: do it again once this one is settled
    reload_again_ = true;
    return;
  }
  core::logger().info("master: reloading the configuration");
  notify(fmt::format(
      "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading",
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
          .count()));
  core::Diagnostics diags;
  lb::Config config = lb::load_config(config_paths_, diags);
  if (!diags.has_errors()) {
    for (const auto& p : config.proxies) {
      if (p.kind == lb::Proxy::Kind::kDefaults) continue;
      (void)lb::ProxyRules::compile(p, diags);
    }
  }
  auto fail_reload = [&](const std::string& why) {
    ++reloads_failed_;
    core::logger().error("master: reload failed, worker {} keeps serving: {}",
                         current_ ? current_->pid : -1, why);
    notify(fmt::format("READY=1\nSTATUS=reload failed: {}", why.substr(0, why.find('\n'))));
  };
  if (diags.has_errors()) {
    const std::string text = diags.to_string();
    for (size_t start = 0; start < text.size();) {
      size_t end = std::min(text.find('\n', start), text.size());
      if (end > start) core::logger().error("master: {}", text.substr(start, end - start));
      start = end + 1;
    }
    fail_reload(fmt::format("{} error(s) in the configuration", diags.error_count()));
    return;
  }
  auto keys = open_listeners(config);
  if (!keys) {
    fail_reload(keys.error().to_string());
    return;
  }
  if (auto pid = spawn(*keys, config); !pid) {
    close_unused_listeners();
    fail_reload(pid.error().to_string());
  }
}

void Master::on_ready(WorkerProc& w) {
  w.ready = true;
  ::close(w.ready_fd);
  w.ready_fd = -1;
  const bool first = !current_;
  if (current_) {
    // The old worker stops accepting and finishes its sessions (haproxy's soft stop).
    WorkerProc old = std::move(*current_);
    ::kill(old.pid, SIGUSR1);
    old.kill_at = Clock::now() + old.grace + kKillMargin;
    core::logger().info("master: worker {} (generation {}) ready; old worker {} stopping", w.pid,
                        w.generation, old.pid);
    old_.push_back(std::move(old));
    ++reloads_ok_;
  } else {
    core::logger().info("master: worker {} (generation {}) ready", w.pid, w.generation);
  }
  current_ = std::move(w);
  pending_.reset();
  notify(fmt::format("READY=1\nMAINPID={}\nSTATUS=worker {} serving; {} reload(s), {} failed",
                     ::getpid(), current_->pid, reloads_ok_, reloads_failed_));
  if (first) {
    // -sf/-st given to the master: the processes it replaces leave now that it serves.
    for (int pid : flags_.soft_stop_pids) ::kill(pid, SIGUSR1);
    for (int pid : flags_.hard_stop_pids) ::kill(pid, SIGTERM);
  }
}

void Master::on_not_ready(WorkerProc& w, const std::string& why) {
  if (w.ready_fd >= 0) ::close(w.ready_fd);
  w.ready_fd = -1;
  if (!current_) {
    core::logger().error("master: worker {} did not start: {}", w.pid, why);
    exit_code_ = 1;
    stopping_ = true;
  } else {
    ++reloads_failed_;
    core::logger().error("master: reload failed, worker {} keeps serving: new worker {} {}",
                         current_->pid, w.pid, why);
    notify(fmt::format("READY=1\nSTATUS=reload failed: new worker {}", why));
  }
}

void Master::reap() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    if (pending_ && pending_->pid == pid) {
      WorkerProc w = std::move(*pending_);
      pending_.reset();
      on_not_ready(w, "exited before accepting (" + status_text(status) + ")");
    } else if (current_ && current_->pid == pid) {
      if (stopping_) {
        core::logger().info("master: worker {} ended ({})", pid, status_text(status));
        if (exit_code_ == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
          // Killed by the signal we passed on counts as a clean stop.
          if (!WIFSIGNALED(status)) exit_code_ = exit_code_of(status);
        }
        current_.reset();
      } else {
        // haproxy's default: a worker that dies on its own takes the master with it, so
        // that the service manager sees the failure and restarts the whole.
        core::logger().error("master: worker {} died unexpectedly ({}); stopping", pid,
                             status_text(status));
        exit_code_ = std::max(1, exit_code_of(status));
        current_.reset();
        begin_stop(SIGTERM);
      }
    } else {
      auto it = std::find_if(old_.begin(), old_.end(),
                             [pid](const WorkerProc& w) { return w.pid == pid; });
      if (it != old_.end()) {
        core::logger().info("master: old worker {} (generation {}) left ({})", pid, it->generation,
                            status_text(status));
        old_.erase(it);
      }
    }
  }
  close_unused_listeners();
}

void Master::close_unused_listeners() {
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    bool used = (current_ && current_->keys.count(it->first)) ||
                (pending_ && pending_->keys.count(it->first)) ||
                std::any_of(old_.begin(), old_.end(),
                            [&](const WorkerProc& w) { return w.keys.count(it->first) > 0; });
    if (used) {
      ++it;
      continue;
    }
    core::logger().info("master: closing {}{}", it->first,
                        stopping_ ? "" : " (no longer in the configuration)");
    ::close(it->second.fd);
    it = listeners_.erase(it);
  }
}

void Master::signal_all(int signo) {
  if (current_) ::kill(current_->pid, signo);
  if (pending_) ::kill(pending_->pid, signo);
  for (const auto& w : old_) ::kill(w.pid, signo);
}

void Master::begin_stop(int signo) {
  if (!stopping_) {
    stopping_ = true;
    notify("STOPPING=1\nSTATUS=stopping");
  }
  signal_all(signo);
  auto kill_at =
      Clock::now() + kKillMargin +
      (current_ ? current_->grace : std::chrono::duration_cast<Clock::duration>(kDefaultGrace));
  if (current_) current_->kill_at = std::min(current_->kill_at, kill_at);
  if (pending_) pending_->kill_at = std::min(pending_->kill_at, kill_at);
  for (auto& w : old_) w.kill_at = std::min(w.kill_at, kill_at);
}

int Master::run(const lb::Config& config) {
  for (const auto& p : flags_.config_paths) {
    if (!p.empty() && p[0] != '/') {
      char cwd[4096];
      if (::getcwd(cwd, sizeof cwd) != nullptr) {
        config_paths_.push_back(std::string(cwd) + "/" + p);
        continue;
      }
    }
    config_paths_.push_back(p);
  }
  char exe[4096];
  ssize_t exe_len = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (exe_len > 0) {
    exe_path_.assign(exe, static_cast<size_t>(exe_len));
    constexpr std::string_view kDeleted = " (deleted)";
    if (exe_path_.ends_with(kDeleted)) exe_path_.resize(exe_path_.size() - kDeleted.size());
  }
  state_fd_ = ::memfd_create("tandem-lb-server-state", MFD_CLOEXEC);
  if (state_fd_ < 0)
    fmt::print(stderr, "tandem-lb: memfd_create: {}: server states will not survive reloads\n",
               std::strerror(errno));
  // Signals arrive on a descriptor, read in the loop below; the worker gets the old mask.
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGHUP, SIGUSR1, SIGUSR2, SIGTERM, SIGINT, SIGCHLD}) sigaddset(&mask, s);
  if (::sigprocmask(SIG_BLOCK, &mask, &old_mask_) != 0) {
    fmt::print(stderr, "tandem-lb: sigprocmask: {}\n", std::strerror(errno));
    return 1;
  }
  ::signal(SIGPIPE, SIG_IGN);
  sigfd_ = ::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd_ < 0) {
    fmt::print(stderr, "tandem-lb: signalfd: {}\n", std::strerror(errno));
    return 1;
  }
  // Port problems reach the terminal: bind before going to the background.
  auto keys = open_listeners(config);
  if (!keys) {
    core::logger().error("master: cannot start: {}", keys.error().to_string());
    return 1;
  }
  const bool background = (flags_.daemon || config.global.daemon) && !flags_.foreground;
  if (background && ::daemon(0, 0) != 0) {
    core::logger().error("master: cannot go to the background: {}", std::strerror(errno));
    return 1;
  }
  const std::string pid_file = flags_.pid_file.value_or(config.global.pidfile);
  if (!pid_file.empty()) {
    std::ofstream out(pid_file, std::ios::trunc);
    out << ::getpid() << "\n";
    if (!out) core::logger().warn("master: cannot write pid file {}", pid_file);
  }
  core::logger().info("master {} started", ::getpid());
  if (auto pid = spawn(*keys, config); !pid) {
    core::logger().error("master: cannot start a worker: {}", pid.error().to_string());
    return 1;
  }

  while (any_worker()) {
    // The nearest deadline: a pending worker's readiness, an old worker's grace.
    auto now = Clock::now();
    auto next = now + std::chrono::seconds(5);
    if (pending_ && !pending_->ready) next = std::min(next, pending_->ready_deadline);
    if (current_) next = std::min(next, current_->kill_at);
    for (const auto& w : old_) next = std::min(next, w.kill_at);
    int timeout_ms = static_cast<int>(std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1));
    pollfd pfds[2] = {{sigfd_, POLLIN, 0}, {-1, POLLIN, 0}};
    if (pending_ && pending_->ready_fd >= 0) pfds[1].fd = pending_->ready_fd;
    int n = ::poll(pfds, 2, timeout_ms);
    if (n < 0 && errno != EINTR) {
      core::logger().error("master: poll: {}", std::strerror(errno));
      break;
    }
    if (n > 0 && (pfds[0].revents & POLLIN)) {
      signalfd_siginfo si{};
      while (::read(sigfd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        switch (si.ssi_signo) {
          case SIGHUP:
          case SIGUSR2:
            reload();
            break;
          case SIGTERM:
          case SIGINT:
            core::logger().info("master: signal {}: stopping the workers", si.ssi_signo);
            begin_stop(static_cast<int>(si.ssi_signo));
            break;
          case SIGUSR1:
            core::logger().info("master: signal {}: soft stop of the workers", si.ssi_signo);
            begin_stop(SIGUSR1);
            break;
          case SIGCHLD:
            break;  // reaped below in any case
        }
      }
    }
    if (n > 0 && pfds[1].fd >= 0 && (pfds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      char c = 0;
      ssize_t r = ::read(pending_->ready_fd, &c, 1);
      if (r == 1) {
        WorkerProc w = std::move(*pending_);
        on_ready(w);
      } else if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        // Closed without a word: wait for the exit status (reap) to say why.
        ::close(pending_->ready_fd);
        pending_->ready_fd = -1;
      }
    }
    reap();
    now = Clock::now();
    if (pending_ && !pending_->ready && now >= pending_->ready_deadline) {
      core::logger().error("master: worker {} not ready after {} s; killing it", pending_->pid,
                           std::chrono::duration_cast<std::chrono::seconds>(kReadyTimeout).count());
      ::kill(pending_->pid, SIGKILL);
      pending_->ready_deadline = Clock::time_point::max();
    }
    auto overdue = [&](WorkerProc& w) {
      if (now < w.kill_at) return;
      core::logger().error("master: worker {} still running past its grace period; killing it",
                           w.pid);
      ::kill(w.pid, SIGKILL);
      w.kill_at = Clock::time_point::max();
    };
    if (current_) overdue(*current_);
    for (auto& w : old_) overdue(w);
    if (!pending_ && reload_again_ && !stopping_) {
      reload_again_ = false;
      reload();
    }
  }
  if (!pid_file.empty()) ::unlink(pid_file.c_str());
  core::logger().info("master {} stopped ({} reload(s), {} failed)", ::getpid(), reloads_ok_,
                      reloads_failed_);
  return exit_code_;
}

int g_ready_fd = -1;
int g_state_fd = -1;
bool g_under_master = false;

}  // namespace

core::Result<std::vector<BindEndpoint>> bind_endpoints(const lb::Bind& b) {
  using Kind = lb::Address::Kind;
  const lb::Address& a = b.address;
  std::vector<BindEndpoint> out;
  if (a.kind != Kind::kIpv4 && a.kind != Kind::kIpv6 && a.kind != Kind::kName) return out;
  BindEndpoint base;
  if (a.kind == Kind::kName) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* res = nullptr;
    int rc = ::getaddrinfo(a.host.c_str(), nullptr, &hints, &res);
    if (rc != 0 || res == nullptr)
      return fail("cannot resolve " + a.host + ": " + ::gai_strerror(rc));
    std::memcpy(&base.addr, res->ai_addr, res->ai_addrlen);
    base.len = res->ai_addrlen;
    ::freeaddrinfo(res);
  } else {
    std::string host = a.host;
    if (host.empty()) host = a.kind == Kind::kIpv6 ? "::" : "0.0.0.0";
    auto* in = reinterpret_cast<sockaddr_in*>(&base.addr);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&base.addr);
    if (::inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
      in->sin_family = AF_INET;
      base.len = sizeof(sockaddr_in);
    } else if (::inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
      in6->sin6_family = AF_INET6;
      base.len = sizeof(sockaddr_in6);
    } else {
      return fail("address " + a.to_string() + ": not an IP address");
    }
  }
  for (uint32_t p = a.port_first; p <= std::max(a.port_first, a.port_last); ++p) {
    BindEndpoint ep = base;
    set_port(ep.addr, static_cast<uint16_t>(p));
    ep.key = endpoint_text(ep.addr);
    if (ep.addr.ss_family == AF_INET6 && b.v6only) ep.key += *b.v6only ? "/v6only" : "/v4v6";
    out.push_back(std::move(ep));
  }
  return out;
}

bool wants_master(const LbFlags& flags, const lb::Config& config) {
  if (std::getenv(kInheritedEnv) != nullptr) return false;  // a worker
  return flags.master_worker || config.global.master_worker;
}

int run_master(const LbFlags& flags, const lb::Config& config) {
  core::LogOptions log;
  log.ident = "tandem-lb";
  log.sink = core::LogOptions::Sink::kStderr;
  log.level = flags.debug ? spdlog::level::debug
                          : (flags.quiet ? spdlog::level::warn : spdlog::level::info);
  if (auto ok = core::init_logging(log); !ok) {
    fmt::print(stderr, "tandem-lb: {}\n", ok.error().message);
    return 1;
  }
  Master master(flags);
  return master.run(config);
}

core::Result<size_t> prepare_worker(lb::Config& config) {
  const char* text = std::getenv(kInheritedEnv);
  if (text == nullptr) return size_t{0};
  std::map<std::string, int, std::less<>> fds;
  std::string_view rest(text);
  while (!rest.empty()) {
    size_t end = rest.find(';');
    std::string_view item = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    size_t eq = item.rfind('=');
    int fd = -1;
    if (eq == std::string_view::npos || !parse_int(item.substr(eq + 1), &fd)) {
      return fail(fmt::format("{}: malformed entry '{}'", kInheritedEnv, item));
    }
    fds.emplace(std::string(item.substr(0, eq)), fd);
  }
  if (const char* r = std::getenv(kReadyFdEnv); r != nullptr) {
    int fd = -1;
    if (parse_int(r, &fd)) {
      g_ready_fd = fd;
      set_cloexec(fd, true);  // health-check scripts must not hold the master waiting
    }
  }
  for (auto& [key, fd] : fds) set_cloexec(fd, true);
  if (const char* st = std::getenv(kStateFdEnv); st != nullptr) {
    int fd = -1;
    if (parse_int(st, &fd)) {
      g_state_fd = fd;
      set_cloexec(fd, true);
    }
  }
  ::unsetenv(kStateFdEnv);
  g_under_master = true;
  ::unsetenv(kInheritedEnv);
  ::unsetenv(kReadyFdEnv);
  ::unsetenv(kMasterPidEnv);

  size_t taken = 0;
  for (lb::Proxy& p : config.proxies) {
    if (!listens(p)) continue;
    std::vector<lb::Bind> binds;
    for (const lb::Bind& b : p.binds) {
      auto eps = bind_endpoints(b);
      if (!eps) return fail(fmt::format("frontend {}: {}", p.name, eps.error().to_string()));
      if (eps->empty()) {  // unix@, abns@, fd@: the worker's own business
        binds.push_back(b);
        continue;
      }
      for (const BindEndpoint& ep : *eps) {
        auto it = fds.find(ep.key);
        if (it == fds.end()) {
          return fail(fmt::format(
              "{}: frontend {}: the master did not open {} (the configuration changed during "
              "the reload? reload again)",
              b.where.to_string(), p.name, ep.key));
        }
        lb::Bind nb = b;
        nb.address = lb::Address{};
        nb.address.kind = lb::Address::Kind::kFd;
        nb.address.fd = it->second;
        binds.push_back(std::move(nb));
        ++taken;
      }
    }
    p.binds = std::move(binds);
  }
  // The master writes the pid file and stays in the foreground or not; the worker does neither.
  config.global.daemon = false;
  config.global.pidfile.clear();
  config.global.master_worker = false;
  return taken;
}

void notify_master_ready() {
  if (g_ready_fd < 0) return;
  char c = 'R';
  while (::write(g_ready_fd, &c, 1) < 0 && errno == EINTR) {
  }
  ::close(g_ready_fd);
  g_ready_fd = -1;
}

core::Result<void> drop_privileges(const lb::Global& g) {
  if (g.user.empty() && g.group.empty() && g.chroot.empty()) return {};
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  if (!g.user.empty()) {
    const passwd* pw = ::getpwnam(g.user.c_str());
    if (pw == nullptr) return fail("global user " + g.user + ": no such user");
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  }
  if (!g.group.empty()) {
    const group* gr = ::getgrnam(g.group.c_str());
    if (gr == nullptr) return fail("global group " + g.group + ": no such group");
    gid = gr->gr_gid;
  }
  if (::geteuid() != 0) {
    // Not root: nothing can change; fine only when the file asks for what already is.
    if ((uid && *uid != ::geteuid()) || (gid && *gid != ::getegid()) || !g.chroot.empty()) {
      return fail("global user/group/chroot need tandem-lb to start as root");
    }
    return {};
  }
  if (!g.chroot.empty()) {
    if (::chroot(g.chroot.c_str()) != 0) return fail_errno("chroot " + g.chroot, errno);
    if (::chdir("/") != 0) return fail_errno("chdir / in " + g.chroot, errno);
  }
  if (gid) {
    if (::setgroups(1, &*gid) != 0) return fail_errno("setgroups", errno);
    if (::setgid(*gid) != 0) return fail_errno("setgid " + std::to_string(*gid), errno);
  }
  if (uid && ::setuid(*uid) != 0) return fail_errno("setuid " + std::to_string(*uid), errno);
  // Changing credentials clears the parent-death signal: ask again under the master.
  if (g_under_master && (uid || gid)) ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  return {};
}

std::string read_saved_server_state() {
  if (g_state_fd < 0) return {};
  // The old worker may be writing it right now: a complete text ends with kStateEnd.
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string text;
    char buf[16384];
    off_t off = 0;
    ssize_t n;
    while ((n = ::pread(g_state_fd, buf, sizeof buf, off)) > 0) {
      text.append(buf, static_cast<size_t>(n));
      off += n;
    }
    if (text.empty()) return {};
    if (text.ends_with(kStateEnd)) return text.substr(0, text.size() - kStateEnd.size());
    ::usleep(2000);
  }
  return {};
}

void save_server_state(std::string_view text) {
  if (g_state_fd < 0) return;
  std::string all(text);
  all += kStateEnd;
  if (::ftruncate(g_state_fd, 0) != 0) return;
  size_t done = 0;
  while (done < all.size()) {
    ssize_t n =
        ::pwrite(g_state_fd, all.data() + done, all.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

}  // namespace tandem::app
