#include "core/process.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <map>

#include <fmt/format.h>
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>

#include "core/log.h"

namespace tandem::core {

namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

bool all_digits(std::string_view s) {
  if (s.empty() || s.size() > 10) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

std::string mode_string(mode_t mode) {
  return fmt::format("{:04o}", mode & 07777);
}

// "group", "others" or "group and others" for a mode that lets them write.
std::string writers(mode_t mode) {
  bool g = mode & S_IWGRP, o = mode & S_IWOTH;
  if (g && o) return "group and others";
  return g ? "group" : "others";
}

struct Account {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups, for setgroups() in the child
};

// Resolves user and group before fork: the child may only make async-signal-safe calls,
// and reading /etc/passwd or /etc/group is not one.
Result<Account> resolve_account(const ProcessSpec& spec) {
  Account a;
  a.uid = geteuid();
  a.gid = getegid();
  std::optional<std::string> pw_name;
  if (spec.user) {
    std::vector<char> buf(16384);
    struct passwd pw {};
    struct passwd* found = nullptr;
    int rc = all_digits(*spec.user)
                 ? getpwuid_r(static_cast<uid_t>(std::stoul(*spec.user)), &pw, buf.data(),
                              buf.size(), &found)
                 : getpwnam_r(spec.user->c_str(), &pw, buf.data(), buf.size(), &found);
    if (found) {
      a.uid = pw.pw_uid;
      a.gid = pw.pw_gid;
      pw_name = pw.pw_name;
    } else if (all_digits(*spec.user)) {
      // A bare number without a passwd entry (containers): its group defaults to the same.
      a.uid = a.gid = static_cast<uint32_t>(std::stoul(*spec.user));
    } else if (rc != 0) {
      return fail_errno("cannot look up user '" + *spec.user + "'", rc);
    } else {
      return fail("unknown user '" + *spec.user + "'");
    }
  }
  if (spec.group) {
    auto gid = lookup_gid(*spec.group);
    if (!gid) return tl::unexpected(gid.error());
    a.gid = *gid;
  }
  if (pw_name) {
    int n = 64;
    a.groups.resize(n);
    while (getgrouplist(pw_name->c_str(), a.gid, a.groups.data(), &n) < 0) {
      if (n > 65536) return fail("user '" + *pw_name + "' has too many groups");
      a.groups.resize(n);
    }
    a.groups.resize(n);
  } else {
    a.groups = {a.gid};
  }
  return a;
}

// Finds a program without '/' in the PATH the child will get.
Result<std::string> find_program(const std::string& program, const std::string& path_var) {
  if (program.find('/') != std::string::npos) return program;
  size_t start = 0;
  while (start <= path_var.size()) {
    size_t end = path_var.find(':', start);
    if (end == std::string::npos) end = path_var.size();
    std::string dir = path_var.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + program;
    struct stat st {};
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111))
      return candidate;
    start = end + 1;
  }
  return fail(program + ": not found in PATH " + path_var);
}

// What the child reports through the CLOEXEC pipe when it fails before or at exec.
enum class ChildStage : int { kSetgroups = 1, kSetgid, kSetuid, kStdio, kExec };
struct ChildFailure {
  int stage;
  int err;
};

[[noreturn]] void child_fail(int fd, ChildStage stage) {
  ChildFailure f{static_cast<int>(stage), errno};
  ssize_t unused = write(fd, &f, sizeof f);
  (void)unused;
  _exit(127);
}

}  // namespace

Result<uint32_t> lookup_uid(std::string_view user) {
  if (all_digits(user)) return static_cast<uint32_t>(std::stoul(std::string(user)));
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::string name(user);
  int rc = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (found) return pw.pw_uid;
  if (rc != 0) return fail_errno("cannot look up user '" + name + "'", rc);
  return fail("unknown user '" + name + "'");
}

Result<uint32_t> lookup_gid(std::string_view group) {
  if (all_digits(group)) return static_cast<uint32_t>(std::stoul(std::string(group)));
  std::vector<char> buf(16384);
  struct group gr {};
  struct group* found = nullptr;
  std::string name(group);
  int rc = getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found);
  if (found) return gr.gr_gid;
  if (rc != 0) return fail_errno("cannot look up group '" + name + "'", rc);
  return fail("unknown group '" + name + "'");
}

Result<void> check_script(const std::string& path, bool secure, uint32_t run_as_uid) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT) return fail(path + ": no such file");
    return fail_errno(path + ": cannot stat", err);
  }
  if (!S_ISREG(st.st_mode)) return fail(path + ": not a regular file");
  if ((st.st_mode & 0111) == 0)
    return fail(path + ": not executable (mode " + mode_string(st.st_mode) + ")");
  // Root may run a file with any x bit; anyone else needs their own permission.
  if (geteuid() != 0 && access(path.c_str(), X_OK) != 0)
    return fail_errno(path + ": not executable by us", errno);
  if (!secure) return {};

  // Judge the real file and the real folders it lives in, symlinks resolved.
  char real[PATH_MAX];
  if (!realpath(path.c_str(), real)) return fail_errno(path + ": cannot resolve", errno);
  std::string file = real;
  if (st.st_uid != 0 && st.st_uid != run_as_uid)
    return fail(path + ": insecure: owned by uid " + std::to_string(st.st_uid) + ", not root" +
                (run_as_uid ? " or uid " + std::to_string(run_as_uid) : ""));
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return fail(path + ": insecure: writable by " + writers(st.st_mode) + " (mode " +
                mode_string(st.st_mode) + ")");
  std::string dir = file;
  while (dir.size() > 1) {
    dir.resize(dir.rfind('/'));
    if (dir.empty()) dir = "/";
    struct stat ds {};
    if (stat(dir.c_str(), &ds) != 0) return fail_errno(path + ": cannot stat folder " + dir, errno);
    if (ds.st_uid != 0)
      return fail(path + ": insecure: folder " + dir + " is owned by uid " +
                  std::to_string(ds.st_uid) + ", not root");
    if (ds.st_mode & (S_IWGRP | S_IWOTH))
      return fail(path + ": insecure: folder " + dir + " is writable by " + writers(ds.st_mode));
  }
  return {};
}

std::string ProcessResult::describe() const {
  switch (outcome) {
    case Outcome::kExited:
      return fmt::format("exited {}", exit_code);
    case Outcome::kSignaled: {
      const char* abbrev = sigabbrev_np(term_signal);
      return abbrev ? fmt::format("killed by signal {} (SIG{})", term_signal, abbrev)
                    : fmt::format("killed by signal {}", term_signal);
    }
    case Outcome::kTimedOut:
      return fmt::format("timed out after {:.1f}s",
                         std::chrono::duration<double>(run_time).count());
    case Outcome::kSpawnFailed:
      return "failed to start: " + error;
    case Outcome::kCancelled:
      return "cancelled before it started";
  }
  return "unknown outcome";
}

struct ProcessRunner::Impl {
  struct Run {
    uint64_t id = 0;
    ProcessSpec spec;
    ProcessCallback callback;
    Impl* owner = nullptr;  // null once the runner is gone: late asio handlers do nothing
    bool started = false;
    bool done = false;
    pid_t pid = -1;
    std::unique_ptr<asio::posix::stream_descriptor> pidfd;   // readable when the child exits
    std::unique_ptr<asio::posix::stream_descriptor> output;  // read end of stdout+stderr
    bool output_eof = false;
    TimerPtr timer;
    TimePoint start{};
    bool timed_out = false;
    std::string pending_line;  // output not yet logged (no newline seen)
    ProcessResult result;
  };
  using RunPtr = std::shared_ptr<Run>;

  asio::io_context& io;
  Clock& clock;
  Options options;
  uint64_t next_id = 0;
  size_t running = 0;
  std::deque<RunPtr> queue;
  std::map<uint64_t, RunPtr> runs;  // every run whose callback has not been delivered

  Impl(asio::io_context& i, Clock& c, Options o) : io(i), clock(c), options(o) {}

  ~Impl() {
    for (auto& [id, run] : runs) {
      run->owner = nullptr;
      if (run->started && !run->done) {
        ::kill(-run->pid, SIGKILL);
        release(*run);
        reap_after_kill(run->pid);
      }
    }
  }

  // SIGKILL takes effect promptly, but a child stuck in the kernel (say, on a dead NFS
  // server) must not hang our shutdown: wait a bounded time, then leave it.
  static void reap_after_kill(pid_t pid) {
    for (int i = 0; i < 100; ++i) {
      siginfo_t info{};
      if (waitid(P_PID, pid, &info, WEXITED | WNOHANG) != 0) return;
      if (info.si_pid == pid) return;
      poll(nullptr, 0, 10);
    }
  }

  // Closes descriptors and the timer; pending asio handlers complete as aborted.
  static void release(Run& run) {
    run.timer.reset();
    run.pidfd.reset();
    run.output.reset();
  }

  void pump() {
    while (running < options.max_concurrent && !queue.empty()) {
      RunPtr run = std::move(queue.front());
      queue.pop_front();
      start(run);
    }
  }

  void spawn_failed(const RunPtr& run, std::string error) {
    run->result.outcome = ProcessResult::Outcome::kSpawnFailed;
    run->result.error = std::move(error);
    if (run->spec.name.empty())
      logger().warn("cannot run script: {}", run->result.error);
    else
      logger().warn("{}: cannot run: {}", run->spec.name, run->result.error);
    deliver(run);
  }

  std::string label(const Run& run) const {
    if (!run.spec.name.empty()) return run.spec.name;
    return run.spec.argv.empty() ? std::string("(no program)") : run.spec.argv[0];
  }

  // Marks a run finished and posts its callback: never inline, so a caller of run() or
  // kill() never sees its callback re-enter it.
  void deliver(const RunPtr& run) {
    run->done = true;
    asio::post(io, [run] {
      Impl* self = run->owner;
      if (!self) return;
      self->runs.erase(run->id);
      if (run->callback) run->callback(run->result);
    });
  }

  void start(const RunPtr& run) {
    const ProcessSpec& spec = run->spec;
    if (spec.argv.empty()) return spawn_failed(run, "no program given");

    // Everything the child needs is built here, before fork.
    std::vector<std::string> env_strings{std::string("PATH=") + kDefaultPath};
    for (const auto& kv : spec.env) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        return spawn_failed(run, "bad environment entry '" + kv + "' (KEY=VALUE expected)");
      std::string key = kv.substr(0, eq + 1);
      std::erase_if(env_strings, [&](const std::string& e) { return e.starts_with(key); });
      env_strings.push_back(kv);
    }
    std::string path_var = kDefaultPath;
    for (const auto& e : env_strings)
      if (e.starts_with("PATH=")) path_var = e.substr(5);

    auto program = find_program(spec.argv[0], path_var);
    if (!program) return spawn_failed(run, program.error().to_string());
    if (auto ok = check_script(*program, false); !ok)
      return spawn_failed(run, ok.error().to_string());
    auto account = resolve_account(spec);
    if (!account) return spawn_failed(run, account.error().to_string());
    const bool change_ids = spec.user || spec.group;
    const bool set_groups = change_ids && geteuid() == 0;

    std::vector<char*> argv;
    for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);

    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0) return spawn_failed(run, "cannot open /dev/null: " + errno_text(errno));
    int out[2], err_pipe[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
      int e = errno;
      close(devnull);
      return spawn_failed(run, "cannot make a pipe: " + errno_text(e));
    }
    if (pipe2(err_pipe, O_CLOEXEC) != 0) {
      int e = errno;
      close(devnull), close(out[0]), close(out[1]);
      return spawn_failed(run, "cannot make a pipe: " + errno_text(e));
    }
    fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);

    pid_t pid = fork();
    if (pid == 0) {
      // Child: async-signal-safe calls only from here to exec.
      setpgid(0, 0);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);  // fails harmlessly
      if (dup2(devnull, 0) < 0 || dup2(out[1], 1) < 0 || dup2(out[1], 2) < 0)
        child_fail(err_pipe[1], ChildStage::kStdio);
      if (set_groups && setgroups(account->groups.size(), account->groups.data()) != 0)
        child_fail(err_pipe[1], ChildStage::kSetgroups);
      if (change_ids && setgid(account->gid) != 0) child_fail(err_pipe[1], ChildStage::kSetgid);
      if (change_ids && setuid(account->uid) != 0) child_fail(err_pipe[1], ChildStage::kSetuid);
      // Descriptors opened elsewhere without CLOEXEC (sockets) must not leak into scripts.
      syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
      execve(program->c_str(), argv.data(), envp.data());
      child_fail(err_pipe[1], ChildStage::kExec);
    }
    int fork_errno = errno;
    close(devnull);
    close(out[1]);
    close(err_pipe[1]);
    if (pid < 0) {
      close(out[0]);
      close(err_pipe[0]);
      return spawn_failed(run, "cannot fork: " + errno_text(fork_errno));
    }
    // Also set here: the group must exist before we could ever kill it.
    setpgid(pid, pid);

    // EOF means exec succeeded; a record means the child failed before running anything.
    ChildFailure failure{};
    ssize_t n;
    do n = read(err_pipe[0], &failure, sizeof failure);
    while (n < 0 && errno == EINTR);
    close(err_pipe[0]);
    if (n == static_cast<ssize_t>(sizeof failure)) {
      close(out[0]);
      siginfo_t info{};
      waitid(P_PID, pid, &info, WEXITED);
      return spawn_failed(run, child_error(*run, *program, *account, failure));
    }

    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) {
      int e = errno;
      ::kill(-pid, SIGKILL);
      close(out[0]);
      siginfo_t info{};
      waitid(P_PID, pid, &info, WEXITED);
      return spawn_failed(run, "pidfd_open: " + errno_text(e));
    }

    run->started = true;
    run->pid = pid;
    run->start = clock.now();
    ++running;
    run->pidfd = std::make_unique<asio::posix::stream_descriptor>(io, pidfd);
    run->output = std::make_unique<asio::posix::stream_descriptor>(io, out[0]);
    run->timer = clock.make_timer();
    clock.arm_after(*run->timer, spec.timeout, [this, run] { on_timeout(run); });
    logger().debug("{}: started pid {}", label(*run), pid);
    wait_exit(run);
    wait_output(run);
  }

  static std::string errno_text(int err) { return std::strerror(err); }

  std::string child_error(const Run& run, const std::string& program, const Account& a,
                          ChildFailure f) {
    std::string who = run.spec.user ? "user '" + *run.spec.user + "'" : "our user";
    switch (static_cast<ChildStage>(f.stage)) {
      case ChildStage::kSetgroups:
        return fmt::format("cannot set the groups of {}: {}", who, errno_text(f.err));
      case ChildStage::kSetgid:
        return fmt::format("cannot switch to group {}: {}", a.gid, errno_text(f.err));
      case ChildStage::kSetuid:
        return fmt::format("cannot switch to {} (uid {}): {}", who, a.uid, errno_text(f.err));
      case ChildStage::kStdio:
        return fmt::format("cannot set up stdin/stdout: {}", errno_text(f.err));
      case ChildStage::kExec:
        if (f.err == ENOEXEC)
          return fmt::format("{}: cannot execute: {} (a script needs a #! line)", program,
                             errno_text(f.err));
        return fmt::format("{}: cannot execute: {}", program, errno_text(f.err));
    }
    return fmt::format("{}: child failed: {}", program, errno_text(f.err));
  }

  void wait_exit(const RunPtr& run) {
    run->pidfd->async_wait(asio::posix::stream_descriptor::wait_read,
                           [run](const std::error_code& ec) {
                             if (!run->owner || run->done || ec) return;
                             run->owner->on_exit(run);
                           });
  }

  void wait_output(const RunPtr& run) {
    run->output->async_wait(asio::posix::stream_descriptor::wait_read,
                            [run](const std::error_code& ec) {
                              if (!run->owner || run->done || ec) return;
                              run->owner->read_output(*run);
                              if (!run->output_eof) run->owner->wait_output(run);
                            });
  }

  // Reads what the pipe holds now; keeps up to max_output_bytes and drops the rest, so a
  // chatty child never blocks on a full pipe.
  void read_output(Run& run) {
    std::array<char, 4096> buf;
    while (!run.output_eof) {
      ssize_t n = read(run.output->native_handle(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        if (errno != EAGAIN) run.output_eof = true;
        return;
      }
      if (n == 0) {
        run.output_eof = true;
        return;
      }
      std::string& out = run.result.output;
      size_t keep = std::min(static_cast<size_t>(n), options.max_output_bytes - out.size());
      out.append(buf.data(), keep);
      run.result.output_dropped += static_cast<size_t>(n) - keep;
      if (options.log_output) log_lines(run, std::string_view(buf.data(), keep));
    }
  }

  void log_lines(Run& run, std::string_view chunk) {
    run.pending_line.append(chunk);
    size_t pos;
    while ((pos = run.pending_line.find('\n')) != std::string::npos) {
      logger().info("{}: {}", label(run), std::string_view(run.pending_line).substr(0, pos));
      run.pending_line.erase(0, pos + 1);
    }
  }

  void on_timeout(const RunPtr& run) {
    if (run->done) return;
    run->timed_out = true;
    logger().warn("{}: timed out after {:.1f}s, killing process group {}", label(*run),
                  std::chrono::duration<double>(run->spec.timeout).count(), run->pid);
    ::kill(-run->pid, SIGKILL);
    // The exit arrives through the pidfd as usual.
  }

  void on_exit(const RunPtr& run) {
    siginfo_t info{};
    int rc;
    do rc = waitid(P_PID, run->pid, &info, WEXITED | WNOHANG);
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      int e = errno;
      // ECHILD: someone else reaped it (SIGCHLD set to SIG_IGN?); the status is lost.
      run->result.outcome = ProcessResult::Outcome::kExited;
      run->result.error = "exit status lost: " + errno_text(e);
    } else if (info.si_pid == 0) {
      return wait_exit(run);  // spurious wake-up: not a zombie yet
    } else if (run->timed_out && info.si_code != CLD_EXITED) {
      // (An exit that beat our SIGKILL by a hair is reported as the exit it was.)
      run->result.outcome = ProcessResult::Outcome::kTimedOut;
      run->result.term_signal = info.si_status;
      run->result.error = fmt::format("timed out after {:.1f}s",
                                      std::chrono::duration<double>(run->spec.timeout).count());
    } else if (info.si_code == CLD_EXITED) {
      run->result.outcome = ProcessResult::Outcome::kExited;
      run->result.exit_code = info.si_status;
    } else {
      run->result.outcome = ProcessResult::Outcome::kSignaled;
      run->result.term_signal = info.si_status;
    }
    run->result.run_time = clock.now() - run->start;
    // The child wrote everything before exiting; take it now rather than wait for EOF,
    // which a background grandchild holding the pipe could delay for ever.
    read_output(*run);
    if (options.log_output && !run->pending_line.empty())
      logger().info("{}: {}", label(*run), run->pending_line);
    if (run->result.output_dropped > 0)
      logger().info("{}: {} bytes of output dropped (limit {})", label(*run),
                    run->result.output_dropped, options.max_output_bytes);
    logger().debug("{}: pid {} {}", label(*run), run->pid, run->result.describe());
    release(*run);
    --running;
    deliver(run);
    pump();
  }

  uint64_t add(ProcessSpec spec, ProcessCallback callback) {
    auto run = std::make_shared<Run>();
    run->id = ++next_id;
    run->spec = std::move(spec);
    run->callback = std::move(callback);
    run->owner = this;
    runs.emplace(run->id, run);
    queue.push_back(run);
    pump();
    return run->id;
  }

  void kill(uint64_t id) {
    auto it = runs.find(id);
    if (it == runs.end() || it->second->done) return;
    RunPtr run = it->second;
    if (run->started) {
      logger().info("{}: killing process group {} on request", label(*run), run->pid);
      run->result.error = "killed on request";
      ::kill(-run->pid, SIGKILL);
      return;
    }
    std::erase(queue, run);
    run->result.outcome = ProcessResult::Outcome::kCancelled;
    run->result.error = "cancelled before it started";
    deliver(run);
  }
};

ProcessRunner::ProcessRunner(asio::io_context& io, Clock& clock, Options options)
    : impl_(std::make_unique<Impl>(io, clock, options)) {}

ProcessRunner::ProcessRunner(asio::io_context& io, Clock& clock)
    : ProcessRunner(io, clock, Options{}) {}

ProcessRunner::~ProcessRunner() = default;

uint64_t ProcessRunner::run(ProcessSpec spec, ProcessCallback callback) {
  return impl_->add(std::move(spec), std::move(callback));
}

void ProcessRunner::kill(uint64_t id) {
  impl_->kill(id);
}

size_t ProcessRunner::running() const {
  return impl_->running;
}

size_t ProcessRunner::queued() const {
  return impl_->queue.size();
}

}  // namespace tandem::core
