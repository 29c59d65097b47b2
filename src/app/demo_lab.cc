#include "app/demo_lab.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>

#include <fmt/format.h>

extern char** environ;

namespace tandem::app::demo {

namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_interrupted{false};
void on_signal(int) {
  g_interrupted = true;
}

// argv for posix_spawn; the strings stay in `args`.
std::vector<char*> c_argv(std::vector<std::string>& args) {
  std::vector<char*> out;
  for (auto& a : args) out.push_back(a.data());
  out.push_back(nullptr);
  return out;
}

// The attributes every child gets: default signal dispositions (the demo ignores SIGPIPE and
// catches INT/TERM/HUP), an empty mask, and optionally a session of its own.
void init_attr(posix_spawnattr_t* attr, bool new_session) {
  posix_spawnattr_init(attr);
  sigset_t def, none;
  sigemptyset(&def);
  for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&def, s);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(attr, &def);
  posix_spawnattr_setsigmask(attr, &none);
  short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
  if (new_session) flags |= POSIX_SPAWN_SETSID;
  posix_spawnattr_setflags(attr, flags);
}

bool owner_alive(pid_t pid) {
  std::ifstream comm(fmt::format("/proc/{}/comm", pid));
  std::string name;
  return comm && std::getline(comm, name) && name == "tandem";
}

}  // namespace

void install_signal_flag() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(s, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

bool interrupted() {
  return g_interrupted.load();
}

void check_interrupted() {
  if (g_interrupted.load()) throw Interrupted();
}

void pause_ms(double ms) {
  while (ms > 0) {
    check_interrupted();
    double step = std::min(ms, 10.0);
    ::usleep(static_cast<useconds_t>(step * 1000));
    ms -= step;
  }
  check_interrupted();
}

std::string find_program(const std::string& name) {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/sbin:/usr/bin:/bin";
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    fs::path p = fs::path(dir) / name;
    if (::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return {};
}

int run_command(const std::vector<std::string>& argv_in, std::string* output) {
  std::vector<std::string> args = argv_in;
  if (args.empty()) return -1;
  if (args[0].find('/') == std::string::npos) {
    std::string full = find_program(args[0]);
    if (full.empty()) {
      if (output) *output = args[0] + ": not found";
      return -1;
    }
    args[0] = full;
  }
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
  posix_spawnattr_t attr;
  init_attr(&attr, false);
  auto argv = c_argv(args);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0].c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(pipefd[1]);
  std::string out;
  if (rc == 0) {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
      if (n > 0 && out.size() < 65536) out.append(buf, static_cast<size_t>(n));
  }
  ::close(pipefd[0]);
  if (output) *output = rc == 0 ? out : std::string(std::strerror(rc));
  if (rc != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

fs::path run_dir() {
  const char* tmp = std::getenv("TMPDIR");
  return fs::path(tmp && *tmp ? tmp : "/tmp") / fmt::format("tandem-demo-{}", ::getpid());
}

Lab::Lab(fs::path dir)
    : prefix_(fmt::format("{}{}-", kNamePrefix, ::getpid())), dir_(std::move(dir)) {
  ip_path_ = find_program("ip");
}

Lab::~Lab() {
  if (!kept_) cleanup();
}

void Lab::ip(const std::vector<std::string>& args) {
  if (ip_path_.empty()) throw DemoError("the 'ip' command (iproute2) is not installed");
  std::vector<std::string> argv{ip_path_};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  int rc = run_command(argv, &out);
  if (rc != 0) {
    std::string cmd = "ip";
    for (const auto& a : args) cmd += " " + a;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    throw DemoError(fmt::format("`{}` failed: {}", cmd, out.empty() ? "no message" : out));
  }
}

void Lab::add_netns(const std::string& node) {
  ip({"netns", "add", ns(node)});
  namespaces_.push_back(ns(node));
  std::ofstream(dir_ / "namespaces", std::ios::app) << ns(node) << "\n";
  ip({"-n", ns(node), "link", "set", "lo", "up"});
}

void Lab::add_bridge() {
  add_netns("br");
  ip({"-n", ns("br"), "link", "add", "br0", "type", "bridge", "forward_delay", "0", "stp_state",
      "0"});
  ip({"-n", ns("br"), "link", "set", "br0", "up"});
}

void Lab::add_node(const std::string& node, const std::string& cidr) {
  add_netns(node);
  // Both ends are born in their namespaces: the root namespace never sees them.
  std::string port = "to-" + node;
  ip({"link", "add", port, "netns", ns("br"), "type", "veth", "peer", "name", "eth0", "netns",
      ns(node)});
  ip({"-n", ns(node), "addr", "add", cidr, "dev", "eth0"});
  ip({"-n", ns(node), "link", "set", "eth0", "up"});
  ip({"-n", ns("br"), "link", "set", port, "master", "br0", "up"});
}

void Lab::sysctl(const std::string& node, const std::string& setting) {
  std::string out;
  int rc = run_command({ip_path_, "netns", "exec", ns(node), "sysctl", "-q", "-w", setting}, &out);
  if (rc != 0) throw DemoError(fmt::format("sysctl {} in {} failed: {}", setting, ns(node), out));
}

pid_t Lab::spawn(const std::string& node, const std::vector<std::string>& argv_in,
                 const fs::path& log) {
  std::vector<std::string> args;
  if (!node.empty()) args = {ip_path_, "netns", "exec", ns(node)};
  args.insert(args.end(), argv_in.begin(), argv_in.end());
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawnattr_t attr;
  init_attr(&attr, true);
  auto argv = c_argv(args);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0].c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw DemoError(fmt::format("cannot start {}: {}", args[0], std::strerror(rc)));
  children_.push_back({pid, false});
  // For the sweep after a run that was killed: whose processes these are.
  std::ofstream(dir_ / "pids", std::ios::app) << pid << "\n";
  if (!node.empty()) {
    // Return once it runs inside the namespace, so the next step may rely on that.
    std::string want;
    std::error_code ec;
    struct stat st {};
    if (::stat(("/run/netns/" + ns(node)).c_str(), &st) == 0)
      want = fmt::format("net:[{}]", st.st_ino);
    for (int i = 0; i < 250 && !want.empty(); ++i) {
      auto link = fs::read_symlink(fmt::format("/proc/{}/ns/net", pid), ec);
      if (!ec && link.string() == want) break;
      if (!alive(pid)) break;
      ::usleep(2000);
    }
  }
  return pid;
}

bool Lab::alive(pid_t pid) {
  for (auto& c : children_) {
    if (c.pid != pid) continue;
    if (c.reaped) return false;
    int status;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) {
      c.reaped = true;
      return false;
    }
    return true;
  }
  return false;
}

void Lab::signal(pid_t pid, int sig) {
  if (!alive(pid)) return;  // a reaped pid may be someone else's by now
  ::kill(-pid, sig);
  ::kill(pid, sig);
}

bool Lab::wait_exit(pid_t pid, double timeout_ms) {
  for (double waited = 0; waited <= timeout_ms; waited += 5) {
    if (!alive(pid)) return true;
    ::usleep(5000);
  }
  return !alive(pid);
}

void Lab::keep() {
  kept_ = true;
  std::ofstream(dir_ / "kept") << "kept by tandem demo --keep\n";
}

std::vector<std::string> Lab::cleanup() {
  if (cleaned_) return {};
  cleaned_ = true;
  for (auto& c : children_) signal(c.pid, SIGTERM);
  for (int i = 0; i < 200; ++i) {
    bool any = false;
    for (auto& c : children_) any = alive(c.pid) || any;
    if (!any) break;
    ::usleep(10000);
  }
  for (auto& c : children_) signal(c.pid, SIGKILL);
  // Whatever else runs inside the namespaces is the demo's too.
  for (const auto& n : namespaces_) {
    std::string out;
    run_command({ip_path_, "netns", "pids", n}, &out);
    std::stringstream ss(out);
    long p;
    while (ss >> p)
      if (p > 1) ::kill(static_cast<pid_t>(p), SIGKILL);
  }
  for (auto& c : children_) {
    if (!c.reaped) {
      ::waitpid(c.pid, nullptr, 0);
      c.reaped = true;
    }
  }
  std::vector<std::string> left;
  for (auto it = namespaces_.rbegin(); it != namespaces_.rend(); ++it) {
    run_command({ip_path_, "netns", "del", *it});
    if (fs::exists("/run/netns/" + *it)) left.push_back(*it);
  }
  return left;
}

std::vector<std::string> sweep(bool all) {
  std::vector<std::string> done;
  std::string ip_path = find_program("ip");
  const std::regex ns_re(std::string("^") + kNamePrefix + "([0-9]+)-[a-z0-9]+$");
  const std::regex dir_re("^tandem-demo-([0-9]+)$");
  const char* tmp = std::getenv("TMPDIR");
  fs::path tmpdir = tmp && *tmp ? tmp : "/tmp";
  auto kept = [&](pid_t pid) {
    fs::path d = tmpdir / fmt::format("tandem-demo-{}", pid);
    return fs::exists(d / "kept");
  };
  std::error_code ec;
  if (::geteuid() == 0 && !ip_path.empty() && fs::is_directory("/run/netns", ec)) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator("/run/netns", ec))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      std::smatch m;
      if (!std::regex_match(name, m, ns_re)) continue;
      pid_t owner = static_cast<pid_t>(std::stol(m[1]));
      if (owner == ::getpid()) continue;
      if (owner_alive(owner) || (!all && kept(owner))) continue;
      std::string out;
      run_command({ip_path, "netns", "pids", name}, &out);
      std::stringstream ss(out);
      long p;
      int killed = 0;
      while (ss >> p) {
        if (p > 1 && ::kill(static_cast<pid_t>(p), SIGKILL) == 0) ++killed;
      }
      // The killed processes must be gone before the namespace can really go.
      if (killed > 0) ::usleep(50000);
      run_command({ip_path, "netns", "del", name});
      if (fs::exists("/run/netns/" + name)) continue;  // not ours to delete (not root)
      done.push_back(fmt::format(
          "namespace {} (run {}{})", name, owner,
          killed ? fmt::format(", {} killed",
                               killed == 1 ? "1 process" : fmt::format("{} processes", killed))
                 : ""));
    }
  }
  if (fs::is_directory(tmpdir, ec)) {
    for (const auto& e : fs::directory_iterator(tmpdir, ec)) {
      std::string name = e.path().filename().string();
      std::smatch m;
      if (!std::regex_match(name, m, dir_re) || !e.is_directory(ec)) continue;
      pid_t owner = static_cast<pid_t>(std::stol(m[1]));
      if (owner == ::getpid()) continue;
      bool marked = fs::exists(e.path() / "kept") || fs::exists(e.path() / "failed");
      if (owner_alive(owner) || (!all && marked)) continue;
      // Processes of that run outside any namespace (the loopback demo): those whose command
      // line names the run's folder.
      std::ifstream pids(e.path() / "pids");
      long p;
      while (pids >> p) {
        std::ifstream cmd(fmt::format("/proc/{}/cmdline", p));
        std::string line((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
        if (p > 1 && line.find(e.path().string()) != std::string::npos) {
          ::kill(static_cast<pid_t>(p), SIGKILL);
          done.push_back(fmt::format("process {} of run {}", p, owner));
        }
      }
      fs::remove_all(e.path(), ec);
      if (!ec) done.push_back("folder " + e.path().string());
    }
  }
  return done;
}

}  // namespace tandem::app::demo
