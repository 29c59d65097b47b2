#include "vrrp/os/process_watch.h"

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include "core/log.h"

namespace tandem::vrrp::os {

namespace {

std::string read_comm(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string comm;
  std::getline(in, comm);
  return comm;
}

std::vector<std::string> read_argv(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> argv;
  size_t start = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i] == '\0') {
      argv.push_back(all.substr(start, i - start));
      start = i + 1;
    }
  }
  if (start < all.size()) argv.push_back(all.substr(start));
  return argv;
}

bool params_match(const ProcessPattern& p, const std::vector<std::string>& argv) {
  if (p.params.empty() || p.match == ProcessPattern::Match::kAny) return true;
  std::vector<std::string> args(argv.size() > 1 ? argv.begin() + 1 : argv.end(), argv.end());
  switch (p.match) {
    case ProcessPattern::Match::kExact:
      return args == p.params;
    case ProcessPattern::Match::kInitial:
      return args.size() >= p.params.size() &&
             std::equal(p.params.begin(), p.params.end(), args.begin());
    case ProcessPattern::Match::kPartial:
      return std::search(args.begin(), args.end(), p.params.begin(), p.params.end()) != args.end();
    case ProcessPattern::Match::kAny:
      return true;
  }
  return false;
}

std::set<int> scan(const ProcessPattern& pattern) {
  std::set<int> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    const int pid = std::stoi(name);
    if (matches(pattern, read_comm(pid), read_argv(pid))) found.insert(pid);
  }
  return found;
}

class ConnectorWatch final : public ProcessWatch {
 public:
  ConnectorWatch(asio::io_context& io, int fd) : stream_(io, fd) { wait(); }
  ~ConnectorWatch() override {
    std::error_code ignored;
    stream_.close(ignored);
  }

  core::Result<size_t> watch(ProcessPattern pattern, std::function<void(size_t)> changed) override {
    Watched w{std::move(pattern), std::move(changed), {}};
    w.pids = scan(w.pattern);
    const size_t count = w.pids.size();
    watched_.push_back(std::move(w));
    return count;
  }

 private:
  struct Watched {
    ProcessPattern pattern;
    std::function<void(size_t)> changed;
    std::set<int> pids;
  };

  void wait() {
    stream_.async_wait(asio::posix::stream_descriptor::wait_read,
                       [this](const std::error_code& ec) {
                         if (ec) return;
                         drain();
                         wait();
                       });
  }

  void drain() {
    alignas(nlmsghdr) std::array<char, 8192> buf;
    for (;;) {
      ssize_t n = ::recv(stream_.native_handle(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0 && errno == ENOBUFS) {
        // Events were lost: count again from /proc.
        rescan();
        continue;
      }
      if (n <= 0) return;
      for (auto* nlh = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(nlh, n);
           nlh = NLMSG_NEXT(nlh, n)) {
        if (nlh->nlmsg_type != NLMSG_DONE) continue;
        auto* cn = static_cast<cn_msg*>(NLMSG_DATA(nlh));
        if (cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC) continue;
        on_event(*reinterpret_cast<const proc_event*>(cn->data));
      }
    }
  }

  void on_event(const proc_event& ev) {
    switch (ev.what) {
      case proc_event::PROC_EVENT_EXEC:
        recheck(ev.event_data.exec.process_pid);
        break;
      case proc_event::PROC_EVENT_COMM:
        recheck(ev.event_data.comm.process_pid);
        break;
      case proc_event::PROC_EVENT_EXIT: {
        const int pid = ev.event_data.exit.process_pid;
        // Threads exit too; only the thread group leader's exit ends the process.
        if (ev.event_data.exit.process_tgid != pid) return;
        for (auto& w : watched_)
          if (w.pids.erase(pid) > 0) w.changed(w.pids.size());
        break;
      }
      default:
        break;
    }
  }

  void recheck(int pid) {
    const std::string comm = read_comm(pid);
    const std::vector<std::string> argv = read_argv(pid);
    for (auto& w : watched_) {
      const bool m = matches(w.pattern, comm, argv);
      const bool had = w.pids.count(pid) > 0;
      if (m && !had) {
        w.pids.insert(pid);
        w.changed(w.pids.size());
      } else if (!m && had) {
        w.pids.erase(pid);
        w.changed(w.pids.size());
      }
    }
  }

  void rescan() {
    for (auto& w : watched_) {
      std::set<int> now = scan(w.pattern);
      if (now != w.pids) {
        w.pids = std::move(now);
        w.changed(w.pids.size());
      }
    }
  }

  asio::posix::stream_descriptor stream_;
  std::vector<Watched> watched_;
};

// Where the connector is not available: a pidfd per matched process tells its exit at once;
// new processes are found by scanning /proc every `rescan`.
class PidfdWatch final : public ProcessWatch {
 public:
  PidfdWatch(asio::io_context& io, core::Clock& clock, core::Duration rescan)
      : io_(io), clock_(clock), rescan_(rescan), timer_(clock.make_timer()) {}

  core::Result<size_t> watch(ProcessPattern pattern, std::function<void(size_t)> changed) override {
    auto w = std::make_unique<Watched>();
    w->pattern = std::move(pattern);
    w->changed = std::move(changed);
    for (int pid : scan(w->pattern)) follow(*w, pid);
    const size_t count = w->pids.size();
    watched_.push_back(std::move(w));
    if (!timer_->armed()) arm();
    return count;
  }

 private:
  struct Watched {
    ProcessPattern pattern;
    std::function<void(size_t)> changed;
    std::map<int, std::unique_ptr<asio::posix::stream_descriptor>> pids;
  };

  // Watches one matched process's exit through its pidfd.
  void follow(Watched& w, int pid) {
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) return;  // already gone
    auto sd = std::make_unique<asio::posix::stream_descriptor>(io_, fd);
    sd->async_wait(asio::posix::stream_descriptor::wait_read,
                   [this, &w, pid](const std::error_code& ec) {
                     if (ec) return;
                     w.pids.erase(pid);
                     w.changed(w.pids.size());
                   });
    w.pids.emplace(pid, std::move(sd));
  }

  void arm() {
    clock_.arm_after(*timer_, rescan_, [this] {
      for (auto& w : watched_) {
        bool grew = false;
        for (int pid : scan(w->pattern)) {
          if (w->pids.count(pid)) continue;
          follow(*w, pid);
          grew = grew || w->pids.count(pid) > 0;
        }
        if (grew) w->changed(w->pids.size());
      }
      arm();
    });
  }

  asio::io_context& io_;
  core::Clock& clock_;
  core::Duration rescan_;
  core::TimerPtr timer_;
  std::vector<std::unique_ptr<Watched>> watched_;
};

}  // namespace

bool matches(const ProcessPattern& p, const std::string& comm,
             const std::vector<std::string>& argv) {
  if (argv.empty() && comm.empty()) return false;
  bool name_ok = false;
  if (p.full_command) {
    name_ok = !argv.empty() && argv[0] == p.name;
  } else {
    // The kernel keeps 15 bytes of the name in comm.
    const std::string short_name = p.name.substr(0, 15);
    std::string base = argv.empty() ? "" : argv[0].substr(argv[0].rfind('/') + 1);
    name_ok = comm == short_name || base == p.name;
  }
  return name_ok && params_match(p, argv);
}

namespace {

core::Result<ProcessWatchPtr> open_connector(asio::io_context& io) {
  const int fd = ::socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
  if (fd < 0) return core::fail_errno("proc connector socket", errno);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = CN_IDX_PROC;
  addr.nl_pid = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    int err = errno;
    ::close(fd);
    return core::fail_errno("proc connector bind (needs root)", err);
  }
  // Ask the kernel to send process events to this socket: netlink header, connector
  // header, then the operation (cn_msg ends in a flexible array, so build it in bytes).
  alignas(nlmsghdr) std::array<uint8_t, NLMSG_SPACE(sizeof(cn_msg) + sizeof(proc_cn_mcast_op))>
      req{};
  auto* nl = reinterpret_cast<nlmsghdr*>(req.data());
  nl->nlmsg_len = NLMSG_LENGTH(sizeof(cn_msg) + sizeof(proc_cn_mcast_op));
  nl->nlmsg_type = NLMSG_DONE;
  nl->nlmsg_pid = static_cast<uint32_t>(getpid());
  auto* cn = static_cast<cn_msg*>(NLMSG_DATA(nl));
  cn->id.idx = CN_IDX_PROC;
  cn->id.val = CN_VAL_PROC;
  cn->len = sizeof(proc_cn_mcast_op);
  const proc_cn_mcast_op op = PROC_CN_MCAST_LISTEN;
  std::memcpy(cn->data, &op, sizeof(op));
  if (::send(fd, req.data(), nl->nlmsg_len, 0) < 0) {
    int err = errno;
    ::close(fd);
    return core::fail_errno("proc connector listen", err);
  }
  return std::make_unique<ConnectorWatch>(io, fd);
}

}  // namespace

core::Result<ProcessWatchPtr> open_process_watch(asio::io_context& io, core::Clock& clock,
                                                 core::Duration rescan) {
  auto connector = open_connector(io);
  if (connector) return connector;
  core::logger().info(
      "process events unavailable here ({}): exits are watched by pidfd, new processes found "
      "by scanning /proc every {} ms",
      connector.error().to_string(),
      std::chrono::duration_cast<std::chrono::milliseconds>(rescan).count());
  return std::make_unique<PidfdWatch>(io, clock, rescan);
}

}  // namespace tandem::vrrp::os
