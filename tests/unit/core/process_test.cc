// ProcessRunner and check_script on a real loop: real children, real signals, a guard
// timer on every loop so a bug fails a test instead of hanging it.
#include "core/process.h"

#include <gtest/gtest.h>

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "core/worker.h"

namespace tandem::core {
namespace {

using namespace std::chrono_literals;
using Outcome = ProcessResult::Outcome;

// A folder of its own for each test, removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& parent = "/tmp") {
    std::string tmpl = parent + "/tandem-proc-XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp: " + tmpl);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string write_file(const std::string& path, const std::string& body, mode_t mode) {
  std::ofstream(path) << body;
  chmod(path.c_str(), mode);
  return path;
}

std::string script(const TempDir& dir, const std::string& name, const std::string& body,
                   mode_t mode = 0755) {
  return write_file(dir / name, "#!/bin/sh\n" + body, mode);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs the loop until a callback calls w.stop(); fails the test if `limit` passes first.
void run_loop(Worker& w, Duration limit = 10s) {
  auto guard = w.clock().make_timer();
  bool expired = false;
  w.clock().arm_after(*guard, limit, [&] {
    expired = true;
    w.stop();
  });
  w.run();
  EXPECT_FALSE(expired) << "the loop guard expired: a callback never came";
}

ProcessResult run_one(ProcessSpec spec, ProcessRunner::Options options = {}) {
  Worker w("proc");
  ProcessRunner runner(w.io(), w.clock(), options);
  ProcessResult result;
  int calls = 0;
  runner.run(std::move(spec), [&](const ProcessResult& r) {
    result = r;
    ++calls;
    w.stop();
  });
  run_loop(w);
  EXPECT_EQ(calls, 1);
  return result;
}

// Dead, or a zombie nobody has reaped yet (our PID 1 may not reap orphans).
bool gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

// Polling is the only way to watch a process that is not our child; bounded.
bool wait_gone(pid_t pid, Duration limit = 2s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (gone(pid)) return true;
    std::this_thread::sleep_for(10ms);
  }
  return gone(pid);
}

pid_t read_pid(const std::string& path) {
  std::string text = read_file(path);
  return text.empty() ? -1 : static_cast<pid_t>(std::stol(text));
}

TEST(ProcessRunner, ReportsExitCodes) {
  TempDir dir;
  auto ok = run_one({.argv = {script(dir, "ok.sh", "exit 0\n")}});
  EXPECT_EQ(ok.outcome, Outcome::kExited);
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_TRUE(ok.success());
  EXPECT_EQ(ok.describe(), "exited 0");

  auto three = run_one({.argv = {script(dir, "three.sh", "exit 3\n")}});
  EXPECT_EQ(three.outcome, Outcome::kExited);
  EXPECT_EQ(three.exit_code, 3);
  EXPECT_FALSE(three.success());
  EXPECT_EQ(three.describe(), "exited 3");
}

TEST(ProcessRunner, PassesArgumentsAndAMinimalEnvironment) {
  TempDir dir;
  setenv("TANDEM_LEAK_CHECK", "leaked", 1);
  auto r = run_one(
      {.argv = {script(dir, "args.sh", "echo \"$1|$2|$FOO|$PATH|${TANDEM_LEAK_CHECK:-unset}\"\n"),
                "a b", "c"},
       .env = {"FOO=bar"}});
  unsetenv("TANDEM_LEAK_CHECK");
  EXPECT_TRUE(r.success()) << r.describe();
  EXPECT_EQ(r.output,
            "a b|c|bar|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|unset\n");
}

TEST(ProcessRunner, FindsAProgramInPath) {
  auto r = run_one({.argv = {"true"}});
  EXPECT_TRUE(r.success()) << r.describe();
  auto missing = run_one({.argv = {"tandem-no-such-program"}});
  EXPECT_EQ(missing.outcome, Outcome::kSpawnFailed);
  EXPECT_NE(missing.error.find("tandem-no-such-program: not found in PATH"), std::string::npos)
      << missing.error;
}

TEST(ProcessRunner, ReportsDeathBySignal) {
  TempDir dir;
  auto r = run_one({.argv = {script(dir, "term.sh", "kill -TERM $$\nsleep 5\n")}});
  EXPECT_EQ(r.outcome, Outcome::kSignaled);
  EXPECT_EQ(r.term_signal, SIGTERM);
  EXPECT_EQ(r.describe(), "killed by signal 15 (SIGTERM)");
}

TEST(ProcessRunner, ResetsSignalsInTheChild) {
  // The daemon ignores SIGPIPE and may block others; scripts must start with defaults.
  signal(SIGPIPE, SIG_IGN);
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  // grep itself, not a shell: a shell blocks signals now and then while it forks.
  auto r =
      run_one({.argv = {"grep", "-E", "^(SigBlk|SigIgn)", "/proc/self/status"}, .name = "sig"});
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  EXPECT_TRUE(r.success()) << r.describe();
  // Bit n-1 stands for signal n. Signals 32 and 33 are glibc's own (thread cancellation,
  // setxid): sigaction refuses them, so an ignore inherited from whoever started the test
  // cannot be undone and is not ours to judge. Every standard signal must be at default.
  auto mask_of = [&](const std::string& key) -> unsigned long long {
    auto at = r.output.find(key + ":\t");
    if (at == std::string::npos) return ~0ULL;
    return std::stoull(r.output.substr(at + key.size() + 2, 16), nullptr, 16);
  };
  const unsigned long long kStandard = 0x7fffffffULL;  // signals 1..31
  EXPECT_EQ(mask_of("SigBlk") & kStandard, 0u) << r.output;
  EXPECT_EQ(mask_of("SigIgn") & kStandard, 0u) << r.output;
  EXPECT_EQ(mask_of("SigBlk") & ~0x180000000ULL, 0u) << r.output;  // nothing else blocked
}

TEST(ProcessRunner, TimeOutKillsTheWholeGroup) {
  TempDir dir;
  const Duration timeout = 300ms;
  Worker w("proc");
  ProcessRunner runner(w.io(), w.clock());
  ProcessResult result;
  TimePoint start = w.clock().now(), end{};
  runner.run({.argv = {script(dir, "hang.sh",
                              "sleep 100 &\necho $! > " + (dir / "grandchild.pid") +
                                  "\necho $$ > " + (dir / "child.pid") + "\nsleep 100\n")},
              .timeout = timeout,
              .name = "hang"},
             [&](const ProcessResult& r) {
               result = r;
               end = w.clock().now();
               w.stop();
             });
  run_loop(w);
  EXPECT_EQ(result.outcome, Outcome::kTimedOut);
  EXPECT_EQ(result.term_signal, SIGKILL);
  EXPECT_GE(end - start, timeout);
  EXPECT_LT(end - start, timeout + 2s);
  EXPECT_GE(result.run_time, timeout);
  EXPECT_NE(result.describe().find("timed out after"), std::string::npos);
  pid_t grandchild = read_pid(dir / "grandchild.pid");
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(wait_gone(grandchild)) << "grandchild " << grandchild << " survived";
  EXPECT_TRUE(gone(read_pid(dir / "child.pid")));
}

TEST(ProcessRunner, CapturesOutputOfBothStreams) {
  TempDir dir;
  auto r = run_one(
      {.argv = {script(dir, "out.sh", "echo one\necho two >&2\nprintf three\n")}, .name = "out"});
  EXPECT_TRUE(r.success()) << r.describe();
  EXPECT_EQ(r.output, "one\ntwo\nthree");
  EXPECT_EQ(r.output_dropped, 0u);
}

TEST(ProcessRunner, TruncatesOutputBeyondTheLimit) {
  TempDir dir;
  // 200000 bytes: more than a pipe holds, so the child only finishes if we keep reading.
  auto r = run_one({.argv = {script(dir, "big.sh", "head -c 200000 /dev/zero | tr '\\0' x\n")}},
                   {.max_output_bytes = 1000, .log_output = false});
  EXPECT_TRUE(r.success()) << r.describe();
  EXPECT_EQ(r.output, std::string(1000, 'x'));
  EXPECT_EQ(r.output_dropped, 199000u);
}

TEST(ProcessRunner, EndsWhenTheChildExitsEvenIfAGrandchildHoldsTheOutput) {
  TempDir dir;
  Worker w("proc");
  ProcessRunner runner(w.io(), w.clock());
  ProcessResult result;
  runner.run({.argv = {script(dir, "bg.sh",
                              "sleep 100 &\necho $! > " + (dir / "bg.pid") + "\necho started\n")},
              .timeout = 5s},
             [&](const ProcessResult& r) {
               result = r;
               w.stop();
             });
  run_loop(w, 3s);
  EXPECT_TRUE(result.success()) << result.describe();
  EXPECT_EQ(result.output, "started\n");
  pid_t bg = read_pid(dir / "bg.pid");
  if (bg > 0) ::kill(bg, SIGKILL);
}

TEST(ProcessRunner, RunsAsAnotherUser) {
  if (geteuid() != 0) GTEST_SKIP() << "switching users needs root";
  struct passwd* pw = getpwnam("nobody");
  if (!pw) GTEST_SKIP() << "no user 'nobody' on this system";
  TempDir dir;
  chmod(dir.path().c_str(), 0777);
  auto r = run_one(
      {.argv = {script(dir, "id.sh", "id -u > " + (dir / "uid") + "\nid -g\n")}, .user = "nobody"});
  EXPECT_TRUE(r.success()) << r.describe() << " " << r.output;
  EXPECT_EQ(read_file(dir / "uid"), std::to_string(pw->pw_uid) + "\n");
  EXPECT_EQ(r.output, std::to_string(pw->pw_gid) + "\n");

  auto by_number =
      run_one({.argv = {script(dir, "id2.sh", "id -u\n")}, .user = std::to_string(pw->pw_uid)});
  EXPECT_EQ(by_number.output, std::to_string(pw->pw_uid) + "\n");
}

TEST(ProcessRunner, UnknownUserOrGroupIsASpawnFailure) {
  TempDir dir;
  auto path = script(dir, "ok.sh", "exit 0\n");
  auto r = run_one({.argv = {path}, .user = "tandem-no-such-user"});
  EXPECT_EQ(r.outcome, Outcome::kSpawnFailed);
  EXPECT_NE(r.error.find("unknown user 'tandem-no-such-user'"), std::string::npos) << r.error;
  EXPECT_NE(r.describe().find("failed to start"), std::string::npos);

  auto g = run_one({.argv = {path}, .group = "tandem-no-such-group"});
  EXPECT_EQ(g.outcome, Outcome::kSpawnFailed);
  EXPECT_NE(g.error.find("unknown group 'tandem-no-such-group'"), std::string::npos) << g.error;
}

TEST(ProcessRunner, MissingNonExecutableAndBadFormatScriptsFailClearly) {
  TempDir dir;
  auto missing = run_one({.argv = {dir / "missing.sh"}});
  EXPECT_EQ(missing.outcome, Outcome::kSpawnFailed);
  EXPECT_EQ(missing.error, (dir / "missing.sh") + ": no such file");

  auto plain = script(dir, "plain.sh", "exit 0\n", 0644);
  auto r = run_one({.argv = {plain}});
  EXPECT_EQ(r.outcome, Outcome::kSpawnFailed);
  EXPECT_EQ(r.error, plain + ": not executable (mode 0644)");

  auto folder = run_one({.argv = {dir.path()}});
  EXPECT_EQ(folder.outcome, Outcome::kSpawnFailed);
  EXPECT_EQ(folder.error, dir.path() + ": not a regular file");

  // No #! line: execve() says ENOEXEC, and that must reach the parent.
  auto noshebang = write_file(dir / "noshebang", "echo hi\n", 0755);
  auto e = run_one({.argv = {noshebang}});
  EXPECT_EQ(e.outcome, Outcome::kSpawnFailed);
  EXPECT_NE(e.error.find(noshebang + ": cannot execute: Exec format error"), std::string::npos)
      << e.error;

  // A missing interpreter: the file is fine, exec is not.
  auto badinterp = write_file(dir / "badinterp", "#!/nonexistent/sh\n", 0755);
  auto b = run_one({.argv = {badinterp}});
  EXPECT_EQ(b.outcome, Outcome::kSpawnFailed);
  EXPECT_NE(b.error.find("cannot execute: No such file or directory"), std::string::npos)
      << b.error;

  auto empty = run_one({});
  EXPECT_EQ(empty.outcome, Outcome::kSpawnFailed);
}

TEST(ProcessRunner, SpawnFailureCallbackIsPostedNotCalledInline) {
  Worker w("proc");
  ProcessRunner runner(w.io(), w.clock());
  bool in_run = true, called_inline = false;
  runner.run({.argv = {"/nonexistent/x"}}, [&](const ProcessResult&) {
    called_inline = in_run;
    w.stop();
  });
  in_run = false;
  run_loop(w);
  EXPECT_FALSE(called_inline);
}

TEST(CheckScript, SecureModeRefusesWritableFoldersAndFiles) {
  TempDir dir;
  std::string open_dir = dir / "open";
  mkdir(open_dir.c_str(), 0755);
  chmod(open_dir.c_str(), 0777);
  auto path = write_file(open_dir + "/check.sh", "#!/bin/sh\n", 0755);
  auto r = check_script(path, true);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().to_string(),
            path + ": insecure: folder " + open_dir + " is writable by group and others");
  EXPECT_TRUE(check_script(path, false)) << "only secure mode looks at folders";

  auto writable = write_file(dir / "w.sh", "#!/bin/sh\n", 0757);
  auto w = check_script(writable, true);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().to_string(), writable + ": insecure: writable by others (mode 0757)");
}

TEST(CheckScript, SecureModeAcceptsARootOwnedScriptInRootOwnedFolders) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to own the script and its folder";
  // /tmp is world-writable (sticky, but refused all the same), so use a root-only place.
  std::string parent;
  for (const char* p : {"/run", "/var/lib", "/root"}) {
    struct stat st {};
    if (stat(p, &st) == 0 && st.st_uid == 0 && !(st.st_mode & 022) && access(p, W_OK) == 0) {
      parent = p;
      break;
    }
  }
  if (parent.empty()) GTEST_SKIP() << "no root-owned folder without group/other write found";
  TempDir dir(parent);
  chmod(dir.path().c_str(), 0755);
  auto path = write_file(dir / "check.sh", "#!/bin/sh\n", 0755);
  auto r = check_script(path, true);
  EXPECT_TRUE(r) << r.error().to_string();

  // Owned by the user it runs as: fine; owned by someone else: refused.
  chown(path.c_str(), 65534, 65534);
  EXPECT_TRUE(check_script(path, true, 65534));
  auto other = check_script(path, true, 1234);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().to_string(),
            path + ": insecure: owned by uid 65534, not root or uid 1234");
}

// Each script appends "start N" and "end N" lines; they sleep different times so that
// completions are well apart and their order is known.
TEST(ProcessRunner, BoundsConcurrencyAndQueuesInOrder) {
  TempDir dir;
  const std::string log = dir / "log";
  const std::vector<std::string> sleeps = {"0.6", "0.1", "0.2", "0.1", "0.3"};
  Worker w("proc");
  ProcessRunner runner(w.io(), w.clock(), {.max_concurrent = 2});
  std::vector<int> completed;
  for (int i = 0; i < 5; ++i) {
    auto path = script(dir, "s" + std::to_string(i) + ".sh",
                       "echo start " + std::to_string(i) + " >> " + log + "\nsleep " + sleeps[i] +
                           "\necho end " + std::to_string(i) + " >> " + log + "\n");
    runner.run({.argv = {path}}, [&, i](const ProcessResult& r) {
      EXPECT_TRUE(r.success()) << r.describe();
      completed.push_back(i);
      if (completed.size() == 5) w.stop();
    });
  }
  EXPECT_EQ(runner.running(), 2u);
  EXPECT_EQ(runner.queued(), 3u);
  run_loop(w);
  EXPECT_EQ(runner.running(), 0u);
  EXPECT_EQ(runner.queued(), 0u);

  std::istringstream lines(read_file(log));
  std::string what;
  int n, active = 0, max_active = 0, ends = 0;
  std::vector<int> end_order;
  std::map<int, int> ends_before_start;
  while (lines >> what >> n) {
    if (what == "start") {
      ++active;
      ends_before_start[n] = ends;
    } else {
      --active;
      ++ends;
      end_order.push_back(n);
    }
    max_active = std::max(max_active, active);
  }
  EXPECT_EQ(max_active, 2);
  EXPECT_EQ(end_order.size(), 5u);
  EXPECT_EQ(completed, end_order) << "callbacks arrive in order of completion";
  // In order from the queue: script k (k >= 2) starts only after k-1 others ended.
  for (int k = 2; k < 5; ++k) EXPECT_GE(ends_before_start[k], k - 1) << "script " << k;
  EXPECT_EQ(end_order, (std::vector<int>{1, 2, 3, 0, 4}));
}

TEST(ProcessRunner, KillOfAQueuedRunCancelsItWithoutRunningIt) {
  TempDir dir;
  Worker w("proc");
  ProcessRunner runner(w.io(), w.clock(), {.max_concurrent = 1});
  std::vector<std::string> events;
  auto first = runner.run({.argv = {script(dir, "slow.sh", "sleep 100\n")}, .timeout = 20s},
                          [&](const ProcessResult& r) {
                            events.push_back("first " + r.describe());
                            w.stop();
                          });
  auto second = runner.run({.argv = {script(dir, "mark.sh", "touch " + (dir / "ran") + "\n")}},
                           [&](const ProcessResult& r) {
                             events.push_back("second " + r.describe());
                             runner.kill(first);  // now end the running one
                           });
  EXPECT_EQ(runner.queued(), 1u);
  runner.kill(second);
  EXPECT_EQ(runner.queued(), 0u);
  EXPECT_TRUE(events.empty()) << "callbacks never run inside kill()";
  runner.kill(second);  // twice: ignored
  runner.kill(12345);   // unknown: ignored
  run_loop(w);
  EXPECT_EQ(events, (std::vector<std::string>{"second cancelled before it started",
                                              "first killed by signal 9 (SIGKILL)"}));
  EXPECT_FALSE(std::filesystem::exists(dir / "ran"));
}

TEST(ProcessRunner, DestructorKillsRunningGroups) {
  TempDir dir;
  pid_t grandchild = -1;
  {
    Worker w("proc");
    ProcessRunner runner(w.io(), w.clock());
    bool called = false;
    runner.run({.argv = {script(dir, "hang.sh",
                                "sleep 100 &\necho $! > " + (dir / "gc.pid") + "\nsleep 100\n")}},
               [&](const ProcessResult&) { called = true; });
    // Wait on the loop (not by sleeping) until the script has written its grandchild's pid.
    auto poll_timer = w.clock().make_timer();
    std::function<void()> check = [&] {
      if (std::filesystem::exists(dir / "gc.pid") && read_pid(dir / "gc.pid") > 0) return w.stop();
      w.clock().arm_after(*poll_timer, 10ms, check);
    };
    w.clock().arm_after(*poll_timer, 10ms, check);
    run_loop(w);
    grandchild = read_pid(dir / "gc.pid");
    EXPECT_EQ(runner.running(), 1u);
    EXPECT_FALSE(called);
  }
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(wait_gone(grandchild));
}

}  // namespace
}  // namespace tandem::core
