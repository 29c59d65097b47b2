#include "app/demo.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/demo_client.h"
#include "app/demo_lab.h"
#include "app/demo_logs.h"
#include "app/demo_web.h"
#include "core/diagnostic.h"
#include "lb/config.h"
#include "vrrp/config.h"

namespace tandem::app {

namespace {

namespace fs = std::filesystem;

void show_keepalived(const fs::path& path) {
  core::Diagnostics diags;
  auto config = vrrp::load_config(path.string(), diags);
  fmt::print("   {:<26} {}\n", path.filename().string(),
             diags.has_errors() ? "ERRORS" : "ok, every keyword understood");
  if (!diags.empty()) fmt::print("{}", diags.to_string());
  if (diags.has_errors()) return;
  for (const auto& inst : config.instances) {
    std::string peers, vips;
    for (const auto& p : inst.unicast_peers) peers += (peers.empty() ? "" : ",") + p.to_string();
    for (const auto& v : inst.vips)
      vips += fmt::format("{}{}/{}", vips.empty() ? "" : " ", v.address.to_string(), v.prefix_len);
    fmt::print("      {}: VRRPv{} VRID {} priority {}{}, {} {}, VIP {}\n", inst.name, inst.version,
               inst.vrid, inst.priority, inst.start_as_master ? " (MASTER)" : "",
               inst.unicast ? "unicast from" : "multicast on",
               inst.unicast ? (inst.src_ip ? inst.src_ip->to_string() : "?") + " to " + peers
                            : inst.interface,
               vips);
  }
}

void show_haproxy(const fs::path& path) {
  core::Diagnostics diags;
  auto config = lb::load_config({path.string()}, diags);
  fmt::print("   {:<26} {}\n", path.filename().string(),
             diags.has_errors() ? "ERRORS" : "ok, every keyword understood");
  if (!diags.empty()) fmt::print("{}", diags.to_string());
  if (diags.has_errors()) return;
  for (const auto& p : config.proxies) {
    if (p.kind == lb::Proxy::Kind::kDefaults) continue;
    std::string detail;
    if (!p.binds.empty()) detail += fmt::format(", {} bind(s)", p.binds.size());
    if (!p.default_backend.empty()) detail += ", to " + p.default_backend;
    if (!p.servers.empty())
      detail += fmt::format(", {} servers, balance {}", p.servers.size(),
                            lb::to_string(p.balance.algorithm));
    fmt::print("      {} {}: mode {}{}\n", lb::to_string(p.kind), p.name, lb::to_string(p.mode),
               detail);
  }
}

// The demo's own configuration: addresses (198.18.0.0/15 only), ports, timing.
constexpr const char* kVip = "198.18.0.100";
constexpr int kPlen = 24;
constexpr int kPrioA = 101;
constexpr int kPrioB = 100;
constexpr int kRequestEveryMs = 10;
constexpr int kRequestTimeoutMs = 200;
constexpr double kSettleWindowMs = 500;  // this long of answers in a row ends a fault
constexpr double kMinPhaseMs = 1500;     // and each fault is watched at least this long
constexpr double kRecoverMaxMs = 10000;  // after that a fault is "not recovered"

struct WebServer {
  std::string name;
  std::string ip;
};
const std::vector<WebServer> kWebs = {{"web1", "198.18.0.11"},
                                      {"web2", "198.18.0.12"},
                                      {"web3", "198.18.0.13"},
                                      {"web4", "198.18.0.14"},
                                      {"web5", "198.18.0.15"}};
constexpr const char* kClientIp = "198.18.0.50";

struct Programs {
  std::string self, lb, vrrp;
};

// tandem-lb and tandem-vrrp next to this program (the build tree's src/app, or an installed
// bin folder), else in PATH.
Programs find_programs() {
  Programs p;
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw demo::DemoError("cannot read /proc/self/exe: " + ec.message());
  p.self = self.string();
  for (auto [name, out] : {std::pair{"tandem-lb", &p.lb}, std::pair{"tandem-vrrp", &p.vrrp}}) {
    fs::path beside = self.parent_path() / name;
    if (::access(beside.c_str(), X_OK) == 0) {
      *out = beside.string();
    } else {
      *out = demo::find_program(name);
    }
    if (out->empty())
      throw demo::DemoError(
          fmt::format("cannot find {} (looked beside {} and in PATH)", name, self.string()));
  }
  return p;
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out) throw demo::DemoError("cannot write " + path.string());
}

// `stats_socket`: where tandem-lb serves its runtime API (empty: none).
std::string haproxy_cfg(const std::string& title, const std::string& bind,
                        const std::vector<std::pair<std::string, std::string>>& servers,
                        const std::string& stats_socket = "") {
  std::string s = fmt::format(
      "# {}\n"
      "global\n"
      "    maxconn 4096\n"
      "{}"
      "\n"
      "defaults\n"
      "    mode http\n"
      "    timeout connect 1s\n"
      "    timeout client 5s\n"
      "    timeout server 5s\n"
      "    retries 1\n"
      "    option redispatch\n"
      "\n"
      "frontend www\n"
      "    bind {}\n"
      "    default_backend webs\n"
      "\n"
      "backend webs\n"
      "    balance roundrobin\n"
      "    option httpchk GET /\n",
      title,
      stats_socket.empty()
          ? ""
          : fmt::format("    stats socket {} mode 600 level admin\n", stats_socket),
      bind);
  for (const auto& [name, addr] : servers)
    s += fmt::format("    server {} {} check inter 200 fastinter 50 downinter 50 fall 2 rise 2\n",
                     name, addr);
  return s;
}

std::string keepalived_conf(const std::string& node, const std::string& ip, const std::string& peer,
                            int prio, double advert_int, const fs::path& lb_pidfile,
                            const fs::path& lb_socket) {
  return fmt::format(
      "# tandem demo, node {0}: VRRPv3 over unicast carrying {1}; the local tandem-lb is\n"
      "# tracked: when it dies (seen at once through its pid), stops accepting, or has no web\n"
      "# server UP (its stats socket says so), this node's priority drops by 50 and the other\n"
      "# node takes over at once, or keeps the address.\n"
      "global_defs {{\n"
      "    router_id demo-{0}\n"
      "}}\n"
      "\n"
      "track_proxy lb {{\n"
      "    pidfile {2}\n"
      "    listen 127.0.0.1:80\n"
      "    stats_socket {9}\n"
      "    backend webs\n"
      "    interval 0.1\n"
      "    timeout 0.1\n"
      "    weight -50\n"
      "}}\n"
      "\n"
      "vrrp_instance VI_1 {{\n"
      "    interface eth0\n"
      "    state {3}\n"
      "    virtual_router_id 51\n"
      "    priority {4}\n"
      "    version 3\n"
      "    advert_int {5}\n"
      "    unicast_src_ip {6}\n"
      "    unicast_peer {{\n"
      "        {7}\n"
      "    }}\n"
      "    virtual_ipaddress {{\n"
      "        {1}/{8} dev eth0\n"
      "    }}\n"
      "    track_proxy {{\n"
      "        lb\n"
      "    }}\n"
      "}}\n",
      node, kVip, lb_pidfile.string(), prio == kPrioA ? "MASTER" : "BACKUP", prio, advert_int, ip,
      peer, kPlen, lb_socket.string());
}

// Master_Down_Interval of RFC 5798 for a backup of this priority.
double master_down_ms(double advert_int, int prio) {
  return (3 * advert_int + (256 - prio) * advert_int / 256) * 1000;
}

// New whole lines of a growing file.
class LogTail {
 public:
  LogTail() = default;
  explicit LogTail(fs::path path) : path_(std::move(path)) {}
  std::vector<std::string> read() {
    std::vector<std::string> lines;
    std::ifstream in(path_, std::ios::binary);
    if (!in) return lines;
    in.seekg(static_cast<std::streamoff>(offset_));
    std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    offset_ += chunk.size();
    partial_ += chunk;
    size_t pos;
    while ((pos = partial_.find('\n')) != std::string::npos) {
      lines.push_back(partial_.substr(0, pos));
      partial_.erase(0, pos + 1);
    }
    return lines;
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  size_t offset_ = 0;
  std::string partial_;
};

// "Server webs/web3 is DOWN, reason: ..., info: ..., check duration: ..." without the tail.
std::string short_lb_line(const std::string& line, size_t pos) {
  if (pos == std::string::npos) {
    auto colon = line.find(": ");
    return colon == std::string::npos ? line : line.substr(colon + 2);
  }
  std::string s = line.substr(pos);
  auto cut = s.find(", check duration");
  if (cut == std::string::npos) cut = s.find(", code:");
  return cut == std::string::npos ? s : s.substr(0, cut);
}

constexpr double kCheckBurstMs = 300;

std::string fmt_s(double ms) {
  return fmt::format("{:.3f} s", ms / 1000.0);
}

// The timeline: one line per event, seconds from the start. Events arrive late and out of
// order (a failed request is known only at its time-out, a log line when it is read), so
// they are held for a moment and printed in time order.
class Timeline {
 public:
  explicit Timeline(double t0) : t0_(t0) {}
  ~Timeline() { flush(true); }
  // Times are cut to whole milliseconds, as the daemons' log lines are, so that a cause
  // said before its effect (in the same millisecond) stays before it.
  void say(double at_ms, const std::string& what, bool gap = false) {
    pending_.push_back({std::floor(at_ms), what, gap});
  }
  void now(const std::string& what, bool gap = false) { say(demo::wall_ms(), what, gap); }
  // Prints what is older than the hold time (everything with `all`).
  void flush(bool all) {
    std::stable_sort(pending_.begin(), pending_.end(),
                     [](const Event& a, const Event& b) { return a.at < b.at; });
    double limit = demo::wall_ms() - kHoldMs;
    size_t n = 0;
    while (n < pending_.size() && (all || pending_[n].at <= limit)) {
      const Event& e = pending_[n++];
      fmt::print("{}  {:7.3f}  {}\n", e.gap ? "\n" : "", (e.at - t0_) / 1000.0, e.text);
    }
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(n));
    if (n > 0) std::fflush(stdout);
  }

 private:
  static constexpr double kHoldMs = kRequestTimeoutMs + 100;
  struct Event {
    double at;
    std::string text;
    bool gap;
  };
  double t0_;
  std::vector<Event> pending_;
};

// What the client saw, followed as it comes in: prints when requests start failing, when
// they succeed again, and when another node starts relaying them.
class ClientWatch {
 public:
  ClientWatch(demo::Client& client, Timeline& tl, std::map<std::string, std::string> node_of)
      : client_(client), tl_(tl), node_of_(std::move(node_of)) {}

  void poll() {
    size_t complete = client_.complete_prefix();
    if (complete <= seen_) return;
    auto fresh = client_.snapshot(seen_);
    for (size_t i = 0; i < complete - seen_ && i < fresh.size(); ++i) {
      const auto& r = fresh[i];
      if (!r.ok) {
        if (failing_ == 0) {
          first_fail_ms_ = r.sent_ms;
          tl_.say(r.sent_ms, fmt::format("client: a request fails ({})", r.error));
        }
        ++failing_;
        continue;
      }
      std::string node = node_of_.count(r.via) ? node_of_[r.via] : r.via;
      if (failing_ > 0) {
        tl_.say(r.sent_ms,
                fmt::format("client: served again ({} through {}) after {} failed, {} without "
                            "an answer",
                            r.web, node, failing_, fmt_s(r.sent_ms - first_fail_ms_)));
        failing_ = 0;
      } else if (!node.empty() && node != last_node_ && !last_node_.empty()) {
        tl_.say(r.sent_ms, fmt::format("client: now served through {} ({})", node, r.web));
      }
      if (!node.empty()) last_node_ = node;
    }
    seen_ = complete;
  }
  std::vector<demo::Request> all() const { return client_.snapshot(); }
  size_t complete() const { return client_.complete_prefix(); }

 private:
  demo::Client& client_;
  Timeline& tl_;
  std::map<std::string, std::string> node_of_;
  size_t seen_ = 0;
  size_t failing_ = 0;
  double first_fail_ms_ = 0;
  std::string last_node_;
};

// One fault as measured, for the summary, the check and --json.
struct FaultResult {
  std::string id;    // "1", "2", "3", "3b", "4"
  std::string what;  // "tandem-lb on A killed (SIGKILL)"
  double at_ms = 0;  // wall clock
  std::string new_master;
  double takeover_ms = -1;  // fault to the new master's "Entering MASTER", from its log
  demo::Outage seen;
  double bound_ms = -1;      // outage bound; < 0: none
  bool zero_failed = false;  // the bound is "no failed request"
  bool not_recovered = false;
  bool within() const {
    if (not_recovered) return false;
    if (zero_failed) return seen.failed == 0;
    return bound_ms < 0 || seen.outage_ms <= bound_ms;
  }
};

void print_summary(const std::vector<FaultResult>& faults) {
  fmt::print("\n{:<44} {:>15} {:>9} {:>15}  {}\n", "fault", "new master", "outage",
             "failed/requests", "bound");
  for (const auto& f : faults) {
    std::string master =
        f.takeover_ms >= 0 ? fmt::format("{} {}", f.new_master, fmt_s(f.takeover_ms)) : "-";
    std::string bound = f.zero_failed     ? "no failure"
                        : f.bound_ms >= 0 ? fmt::format("<= {:.3f} s", f.bound_ms / 1000)
                                          : "-";
    std::string verdict = f.bound_ms < 0 && !f.zero_failed ? "" : (f.within() ? " ok" : " OVER");
    if (f.not_recovered) verdict = " NOT RECOVERED";
    fmt::print("{:<44} {:>15} {:>9} {:>15}  {}{}\n", f.id + ". " + f.what, master,
               fmt_s(f.seen.outage_ms), fmt::format("{}/{}", f.seen.failed, f.seen.requests), bound,
               verdict);
  }
}

void write_json(const std::string& path, const std::string& mode,
                const std::vector<FaultResult>& faults, double advert_int, double mdi_ms) {
  nlohmann::json j;
  j["mode"] = mode;
  if (mode == "pair") {
    j["advert_int_s"] = advert_int;
    j["master_down_interval_s"] = mdi_ms / 1000;
  }
  j["request_interval_ms"] = kRequestEveryMs;
  j["request_timeout_ms"] = kRequestTimeoutMs;
  for (const auto& f : faults) {
    nlohmann::json e;
    e["id"] = f.id;
    e["fault"] = f.what;
    e["new_master"] = f.new_master;
    e["takeover_s"] = f.takeover_ms >= 0 ? nlohmann::json(f.takeover_ms / 1000) : nullptr;
    e["outage_s"] = f.seen.outage_ms / 1000;
    e["failed"] = f.seen.failed;
    e["requests"] = f.seen.requests;
    e["recovered"] = !f.not_recovered;
    e["bound_s"] = f.bound_ms >= 0 ? nlohmann::json(f.bound_ms / 1000) : nullptr;
    e["zero_failed_required"] = f.zero_failed;
    e["within_bound"] = f.within();
    j["faults"].push_back(e);
  }
  std::ofstream out(path, std::ios::trunc);
  out << j.dump(2) << "\n";
  if (!out) throw demo::DemoError("cannot write " + path);
}

// A TCP connect to ADDR:PORT from inside a namespace (a thread that enters it), or here.
bool can_connect(const std::string& netns, const std::string& ip, uint16_t port) {
  bool ok = false;
  std::thread t([&] {
    if (!netns.empty()) {
      int fd = ::open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return;
      int rc = ::setns(fd, CLONE_NEWNET);
      ::close(fd);
      if (rc != 0) return;
    }
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    timeval tv{0, 200000};
    ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(s);
  });
  t.join();
  return ok;
}

uint16_t free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw demo::DemoError(std::string("cannot find a free port: ") + std::strerror(errno));
  ::close(s);
  return ntohs(a.sin_port);
}

// Checks a generated file with the daemon's own -c / -t, so a mistake shows at once.
void check_with(const std::vector<std::string>& argv, const std::string& what) {
  std::string out;
  if (demo::run_command(argv, &out) != 0)
    throw demo::DemoError(fmt::format("the generated {} does not pass: {}", what, out));
}

size_t count_errors(const std::vector<demo::Request>& all, const FaultResult& f,
                    const std::string& error) {
  size_t n = 0;
  for (const auto& r : all)
    if (!r.ok && r.error == error && r.sent_ms >= f.at_ms && r.sent_ms < f.at_ms + 10000) ++n;
  return n;
}

// ---------------------------------------------------------------------------------------
// The pair in network namespaces.

class PairDemo {
 public:
  PairDemo(const DemoOptions& options, Programs programs, demo::Lab& lab)
      : opt_(options),
        prog_(std::move(programs)),
        lab_(lab),
        tl_(demo::wall_ms()),
        mdi_ms_(master_down_ms(options.advert_int, kPrioB)) {
    a_ = Node{"A", "a", "198.18.0.1", kPrioA};
    b_ = Node{"B", "b", "198.18.0.2", kPrioB};
  }

  int run();

 private:
  struct Node {
    std::string name, key, ip;
    int prio = 0;
    pid_t lb = -1, vrrp = -1;
    fs::path dir;
    LogTail vrrp_log, lb_log;
    struct Checks {  // a burst of health-check verdicts, said as one line
      double at = 0;
      std::string verdict, reason;
      std::vector<std::string> names;
    } checks;
    std::string state = "INIT";
    bool proxy_up = false;
    double entered_ms = 0;  // wall clock of the last state change (from its log)
  };

  void write_files();
  void build_lab();
  void start_lb(Node& n);
  void start_vrrp(Node& n);
  void tick();
  // Throws, with the end of its log, when a daemon the demo relies on has exited.
  void expect_running(pid_t pid, const std::string& what, const fs::path& log) {
    if (lab_.alive(pid)) return;
    std::ifstream in(log);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
      lines.push_back(line);
      if (lines.size() > 8) lines.erase(lines.begin());
    }
    std::string tail;
    for (const auto& l : lines) tail += "\n    " + l;
    throw demo::DemoError(fmt::format("{} exited; the end of {}:{}", what, log.string(),
                                      tail.empty() ? " (empty)" : tail));
  }
  void say_checks(Node& n) {
    std::string names;
    for (const auto& name : n.checks.names) names += (names.empty() ? "" : " ") + name;
    tl_.say(n.checks.at, fmt::format("node {}: tandem-lb: {} {}{}", n.name, names, n.checks.verdict,
                                     n.checks.reason.empty() ? "" : " (" + n.checks.reason + ")"));
    n.checks.names.clear();
  }
  template <typename Pred>
  void wait_for(const std::string& what, double timeout_ms, Pred pred);
  FaultResult fault(const std::string& id, const std::string& what, Node* new_master,
                    const std::function<void()>& act, const std::function<bool()>& done);
  void finish_measures();

  const DemoOptions& opt_;
  Programs prog_;
  demo::Lab& lab_;
  Timeline tl_;
  double mdi_ms_;
  Node a_, b_;
  std::unique_ptr<demo::Client> client_;
  std::unique_ptr<ClientWatch> watch_;
  std::vector<FaultResult> faults_;
};

void PairDemo::write_files() {
  for (Node* n : {&a_, &b_}) {
    n->dir = lab_.dir() / ("node-" + n->key);
    fs::create_directories(n->dir);
    std::vector<std::pair<std::string, std::string>> servers;
    for (const auto& w : kWebs) servers.emplace_back(w.name, w.ip + ":80");
    write_file(n->dir / "haproxy.cfg",
               haproxy_cfg(fmt::format("tandem demo, node {}: tandem-lb in front of five web "
                                       "servers, on every address (the VIP comes and goes)",
                                       n->name),
                           "*:80", servers, (n->dir / "tandem-lb.sock").string()));
    Node& peer = n == &a_ ? b_ : a_;
    write_file(n->dir / "keepalived.conf",
               keepalived_conf(n->name, n->ip, peer.ip, n->prio, opt_.advert_int,
                               n->dir / "tandem-lb.pid", n->dir / "tandem-lb.sock"));
    check_with({prog_.lb, "-c", "-q", "-f", (n->dir / "haproxy.cfg").string()},
               (n->dir / "haproxy.cfg").string());
    check_with({prog_.vrrp, "-t", "-f", (n->dir / "keepalived.conf").string()},
               (n->dir / "keepalived.conf").string());
    n->vrrp_log = LogTail(n->dir / "tandem-vrrp.log");
    n->lb_log = LogTail(n->dir / "tandem-lb.log");
  }
}

void PairDemo::build_lab() {
  lab_.add_bridge();
  lab_.add_node("a", a_.ip + "/" + std::to_string(kPlen));
  lab_.add_node("b", b_.ip + "/" + std::to_string(kPlen));
  for (const auto& w : kWebs) lab_.add_node(w.name, w.ip + "/" + std::to_string(kPlen));
  lab_.add_node("client", std::string(kClientIp) + "/" + std::to_string(kPlen));
}

void PairDemo::start_lb(Node& n) {
  n.lb = lab_.spawn(n.key,
                    {prog_.lb, "-db", "-f", (n.dir / "haproxy.cfg").string(), "-p",
                     (n.dir / "tandem-lb.pid").string()},
                    n.dir / "tandem-lb.log");
}

void PairDemo::start_vrrp(Node& n) {
  n.vrrp = lab_.spawn(
      n.key,
      {prog_.vrrp, "-n", "-l", "-f", (n.dir / "keepalived.conf").string(), "-p",
       (n.dir / "tandem-vrrp.pid").string(), "--control-socket", (n.dir / "vrrp.sock").string()},
      n.dir / "tandem-vrrp.log");
}

// Reads what happened since the last call: state changes and track_proxy verdicts in the
// daemons' logs, health-check changes in the proxies' logs, and the client's answers.
void PairDemo::tick() {
  for (Node* n : {&a_, &b_}) {
    for (const auto& line : n->vrrp_log.read()) {
      auto at = demo::log_time_ms(line).value_or(demo::wall_ms());
      size_t pos;
      if (auto change = demo::parse_state_line(line, "VI_1")) {
        tl_.say(at, fmt::format("node {}: {} -> {}{}", n->name, n->state, change->state,
                                change->reason.empty() ? "" : " (" + change->reason + ")"));
        n->state = change->state;
        n->entered_ms = at;
      } else if ((pos = line.find("track_proxy lb: ")) != std::string::npos) {
        n->proxy_up = line.compare(pos + 16, 2, "UP") == 0;
        tl_.say(at, fmt::format("node {}: {}", n->name, line.substr(pos)));
      } else if (line.find(" error: ") != std::string::npos ||
                 line.find(" critical: ") != std::string::npos) {
        tl_.say(at,
                fmt::format("node {}: tandem-vrrp: {}", n->name, line.substr(line.find(": ") + 2)));
      }
    }
    for (const auto& line : n->lb_log.read()) {
      auto at = demo::log_time_ms(line).value_or(demo::wall_ms());
      auto pos = line.find("Server webs/");
      if (pos != std::string::npos) {
        // Health-check verdicts come in bursts (a node's link goes down: every server at
        // once); one line per burst of the same verdict and reason.
        auto check = demo::parse_check_line(line.substr(pos));
        if (!check) continue;
        auto& g = n->checks;
        if (!g.names.empty() &&
            (g.verdict != check->verdict || g.reason != check->reason || at - g.at > kCheckBurstMs))
          say_checks(*n);
        if (g.names.empty()) {
          g.at = at;
          g.verdict = check->verdict;
          g.reason = check->reason;
        }
        g.names.push_back(check->name);
      } else if (line.find(" error: ") != std::string::npos) {
        tl_.say(at, fmt::format("node {}: tandem-lb: {}", n->name, short_lb_line(line, pos)));
      }
    }
    if (!n->checks.names.empty() && demo::wall_ms() - n->checks.at > kCheckBurstMs) say_checks(*n);
  }
  if (watch_) watch_->poll();
  tl_.flush(false);
}

template <typename Pred>
void PairDemo::wait_for(const std::string& what, double timeout_ms, Pred pred) {
  double deadline = demo::wall_ms() + timeout_ms;
  while (true) {
    tick();
    if (pred()) return;
    if (demo::wall_ms() > deadline)
      throw demo::DemoError(
          fmt::format("timed out after {} waiting for {}", fmt_s(timeout_ms), what));
    demo::pause_ms(10);
  }
}

FaultResult PairDemo::fault(const std::string& id, const std::string& what, Node* new_master,
                            const std::function<void()>& act, const std::function<bool()>& done) {
  FaultResult f;
  f.id = id;
  f.what = what;
  f.at_ms = demo::wall_ms();
  tl_.say(f.at_ms, fmt::format("FAULT {}: {}", id, what), true);
  act();
  f.at_ms = std::min(f.at_ms, demo::wall_ms());
  double before = new_master ? new_master->entered_ms : 0;
  wait_for("the pair to settle after fault " + id, 10000, done);
  if (new_master && new_master->state == "MASTER" && new_master->entered_ms != before) {
    f.new_master = new_master->name;
    f.takeover_ms = std::max(0.0, new_master->entered_ms - f.at_ms);
  }
  // Let the client show the outage and its end: answers in a row, for a while.
  double deadline = f.at_ms + kRecoverMaxMs;
  while (true) {
    tick();
    double now = demo::wall_ms();
    auto all = watch_->all();
    if (now - f.at_ms >= kMinPhaseMs &&
        demo::settled(all, watch_->complete(), f.at_ms, kSettleWindowMs))
      break;
    if (now > deadline) {
      f.not_recovered = true;
      tl_.now(fmt::format("fault {}: the client is not served steadily {} after it", id,
                          fmt_s(kRecoverMaxMs)));
      break;
    }
    demo::pause_ms(10);
  }
  return f;
}

int PairDemo::run() {
  write_files();
  fmt::print(
      "tandem demo: the classic pair, built in network namespaces on this machine\n"
      "\n"
      "   client {cl}  --->  VIP {vip}:80 (VRRPv3, unicast, advert_int {adv} s)\n"
      "                                 |- node A {a} tandem-vrrp priority {pa} + tandem-lb\n"
      "                                 '- node B {b} tandem-vrrp priority {pb} + tandem-lb\n"
      "   tandem-lb: roundrobin over web1..web5 ({w1}..{w5}), health checks every 0.2 s\n"
      "   tandem-vrrp: track_proxy watches the local tandem-lb (pid, listener, and a web server\n"
      "   UP in its stats socket's `show stat`), weight -50\n"
      "   Master_Down_Interval of node B: {mdi}\n"
      "   client: a new connection every {every} ms, {timeout} ms to answer\n"
      "\n"
      "   run {prefix}*, files in {dir}/ (removed at the end unless --keep)\n"
      "     node-a/haproxy.cfg  node-a/keepalived.conf  node-b/haproxy.cfg  "
      "node-b/keepalived.conf\n"
      "     and each daemon's log beside them\n"
      "\n"
      "timeline (seconds from the start):\n",
      fmt::arg("cl", kClientIp), fmt::arg("vip", kVip), fmt::arg("adv", opt_.advert_int),
      fmt::arg("a", a_.ip), fmt::arg("b", b_.ip), fmt::arg("pa", kPrioA), fmt::arg("pb", kPrioB),
      fmt::arg("w1", kWebs.front().ip), fmt::arg("w5", kWebs.back().ip),
      fmt::arg("mdi", fmt_s(mdi_ms_)), fmt::arg("every", kRequestEveryMs),
      fmt::arg("timeout", kRequestTimeoutMs), fmt::arg("prefix", lab_.prefix()),
      fmt::arg("dir", lab_.dir().string()));
  std::fflush(stdout);

  build_lab();
  tl_.now("lab: 9 namespaces on one bridge (node A, node B, web1..web5, client)");
  for (const auto& w : kWebs) {
    lab_.spawn(w.name,
               {prog_.self, "demo-web", "--name", w.name, "--port", "80", "--run-dir",
                lab_.dir().string()},
               lab_.dir() / (w.name + ".log"));
  }
  for (const auto& w : kWebs)
    wait_for(w.name + " listening", 5000, [&] { return can_connect(lab_.ns("client"), w.ip, 80); });
  tl_.now("web1..web5 answer");
  start_lb(a_);
  start_lb(b_);
  for (Node* n : {&a_, &b_}) {
    wait_for("tandem-lb on node " + n->name + " listening", 5000, [&] {
      expect_running(n->lb, "tandem-lb on node " + n->name, n->dir / "tandem-lb.log");
      return can_connect(lab_.ns(n->key), "127.0.0.1", 80);
    });
  }
  tl_.now("tandem-lb runs on node A and node B");
  // A first: until its proxy's first verdict it advertises a lowered priority, and B
  // would take over for a moment if it were already there.
  start_vrrp(a_);
  tl_.now("tandem-vrrp started on node A");
  wait_for("node A MASTER with its proxy up", 10000, [&] {
    expect_running(a_.vrrp, "tandem-vrrp on node A", a_.dir / "tandem-vrrp.log");
    return a_.state == "MASTER" && a_.proxy_up;
  });
  start_vrrp(b_);
  tl_.now("tandem-vrrp started on node B");
  wait_for("node A MASTER and node B BACKUP", 10000,
           [&] { return a_.state == "MASTER" && b_.state == "BACKUP"; });

  demo::ClientOptions co;
  co.netns = lab_.ns("client");
  co.host = kVip;
  co.interval_ms = kRequestEveryMs;
  co.timeout_ms = kRequestTimeoutMs;
  co.max_requests = 12000;  // 2 minutes at most
  client_ = std::make_unique<demo::Client>(co);
  if (!client_->start()) throw demo::DemoError("the client cannot start: " + client_->error());
  watch_ = std::make_unique<ClientWatch>(
      *client_, tl_, std::map<std::string, std::string>{{a_.ip, "node A"}, {b_.ip, "node B"}});
  tl_.now(fmt::format("client: requests to {}:80 begin", kVip));
  double steady_from = demo::wall_ms();
  wait_for("the client's first second of answers", 10000,
           [&] { return demo::settled(watch_->all(), watch_->complete(), steady_from, 1000); });
  tl_.now("client: served steadily through node A");

  // 1. The proxy on the master dies.
  faults_.push_back(fault(
      "1", "tandem-lb on A killed (SIGKILL)", &b_, [&] { lab_.signal(a_.lb, SIGKILL); },
      [&] { return b_.state == "MASTER" && a_.state != "MASTER"; }));
  faults_.back().bound_ms = opt_.bounds[1] >= 0 ? opt_.bounds[1] * 1000 : 500;

  // 2. It comes back: A has its priority again and takes over.
  faults_.push_back(fault(
      "2", "tandem-lb on A restarted", &a_, [&] { start_lb(a_); },
      [&] { return a_.state == "MASTER" && b_.state == "BACKUP"; }));
  faults_.back().bound_ms = opt_.bounds[2] >= 0 ? opt_.bounds[2] * 1000 : 500;

  // 3. Node A's link goes down: B hears nothing and waits Master_Down_Interval.
  faults_.push_back(fault(
      "3", "node A's link down", &b_,
      [&] {
        lab_.ip({"-n", lab_.ns("a"), "link", "set", "eth0", "down"});
      },
      [&] { return b_.state == "MASTER"; }));
  faults_.back().bound_ms = opt_.bounds[3] >= 0 ? opt_.bounds[3] * 1000 : 3 * mdi_ms_ + 300;
  faults_.push_back(fault(
      "3b", "node A's link up again", &a_,
      [&] {
        lab_.ip({"-n", lab_.ns("a"), "link", "set", "eth0", "up"});
      },
      [&] { return a_.state == "MASTER" && b_.state == "BACKUP"; }));

  // 4. The backup leaves gracefully: nothing for the client to notice.
  faults_.push_back(fault(
      "4", "node B stopped (SIGTERM) while A is master", nullptr,
      [&] {
        // As a service manager would: the VRRP daemon first, then the proxy.
        lab_.signal(b_.vrrp, SIGTERM);
        if (!lab_.wait_exit(b_.vrrp, 5000)) throw demo::DemoError("tandem-vrrp on B does not stop");
        lab_.signal(b_.lb, SIGTERM);
      },
      [&] { return !lab_.alive(b_.vrrp) && !lab_.alive(b_.lb); }));
  faults_.back().zero_failed = opt_.bounds[4] < 0;
  if (opt_.bounds[4] >= 0) faults_.back().bound_ms = opt_.bounds[4] * 1000;

  client_->stop();
  tick();
  auto all = watch_->all();
  for (size_t i = 0; i < faults_.size(); ++i) {
    double to = i + 1 < faults_.size() ? faults_[i + 1].at_ms : -1;
    faults_[i].seen = demo::measure(all, faults_[i].at_ms, to);
  }
  size_t failed_before = demo::measure(all, 0, faults_.front().at_ms).failed;
  tl_.now(fmt::format("client: stopped after {} requests", all.size()));
  tl_.flush(true);

  fmt::print(
      "\nsummary (outage: first failed request to the next answer, by send time; "
      "resolution {} ms)\n",
      kRequestEveryMs);
  print_summary(faults_);
  if (failed_before > 0)
    fmt::print("\nnote: {} requests failed before the first fault\n", failed_before);
  const FaultResult& f1 = faults_[0];
  const FaultResult& f3 = faults_[2];
  const FaultResult& f3b = faults_[3];
  fmt::print("\n");
  if (f1.takeover_ms >= 0 && f3.takeover_ms >= 0)
    fmt::print(
        "A dead proxy (1) is seen at once through its pid: node A drops its priority and node\n"
        "B takes over in {}. A dead node (3) is seen only by its silence: node B took over\n"
        "after {} (Master_Down_Interval {}, counted from the last advert it heard).\n",
        fmt_s(f1.takeover_ms), fmt_s(f3.takeover_ms), fmt_s(mdi_ms_));
  if (f3b.seen.failed > 0 && f3b.seen.failed == count_errors(all, f3b, "HTTP 503"))
    fmt::print(
        "When its link came back (3b), node A took the address back before its tandem-lb had\n"
        "seen the web servers again (their checks had failed while the link was down): {}\n"
        "requests got 503 until the checks passed.\n",
        f3b.seen.failed);
  if (f3b.seen.failed == 0)
    fmt::print(
        "When its link came back (3b), node A waited for its tandem-lb to see a web server UP\n"
        "again (track_proxy reads its stats socket) before taking the address back: no request\n"
        "failed.\n");
  if (faults_[4].seen.failed == 0) fmt::print("A backup that leaves (4) costs nothing.\n");
  if (!opt_.json_path.empty())
    write_json(opt_.json_path, "pair", faults_, opt_.advert_int, mdi_ms_);

  bool ok = failed_before == 0;
  for (const auto& f : faults_) ok = ok && f.within();

  if (opt_.keep) {
    // Node B back, so that the kept lab is a whole pair.
    start_lb(b_);
    start_vrrp(b_);
    wait_for("node B BACKUP again", 10000, [&] { return b_.state == "BACKUP"; });
    tl_.flush(true);
    lab_.keep();
    fmt::print(
        "\nThe lab stays up (--keep). Explore it:\n"
        "   ip netns exec {cl} curl -s http://{vip}/\n"
        "   ip netns exec {a} {tandem} status --vrrp-socket {dir}/node-a/vrrp.sock\n"
        "   ip netns exec {a} ip addr show dev eth0\n"
        "   ip netns exec {a} ip link set eth0 down     # and watch node B take over\n"
        "   logs and configuration: {dir}/\n"
        "Remove it with: {tandem} demo --clean\n",
        fmt::arg("cl", lab_.ns("client")), fmt::arg("vip", kVip), fmt::arg("a", lab_.ns("a")),
        fmt::arg("tandem", prog_.self), fmt::arg("dir", lab_.dir().string()));
  }
  if (opt_.check) {
    fmt::print("\ncheck: {}\n", ok ? "every outage within its bound" : "FAILED: see above");
    return ok ? 0 : 1;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------
// Without root: tandem-lb over five web servers on loopback, and one web server killed.

int run_local(const DemoOptions& opt, const Programs& prog, demo::Lab& lab) {
  Timeline tl(demo::wall_ms());
  uint16_t lb_port = free_port();
  std::vector<std::pair<std::string, std::string>> servers;
  std::vector<uint16_t> ports;
  for (const auto& w : kWebs) {
    ports.push_back(free_port());
    servers.emplace_back(w.name, fmt::format("127.0.0.1:{}", ports.back()));
  }
  fs::path cfg = lab.dir() / "haproxy.cfg";
  write_file(cfg, haproxy_cfg("tandem demo on loopback: tandem-lb in front of five web servers",
                              fmt::format("127.0.0.1:{}", lb_port), servers));
  check_with({prog.lb, "-c", "-q", "-f", cfg.string()}, cfg.string());
  fmt::print(
      "   tandem-lb on 127.0.0.1:{} (roundrobin, health checks every 0.2 s, 2 failed = DOWN)\n"
      "   over web1..web5 on 127.0.0.1:{}..; one web server is killed mid-stream\n"
      "   files in {}/ (removed at the end)\n"
      "\ntimeline (seconds from the start):\n",
      lb_port, ports.front(), lab.dir().string());
  std::vector<pid_t> web_pids;
  for (size_t i = 0; i < kWebs.size(); ++i) {
    web_pids.push_back(
        lab.spawn("",
                  {prog.self, "demo-web", "--name", kWebs[i].name, "--bind", "127.0.0.1", "--port",
                   std::to_string(ports[i]), "--run-dir", lab.dir().string()},
                  lab.dir() / (kWebs[i].name + ".log")));
  }
  pid_t lb = lab.spawn("", {prog.lb, "-db", "-f", cfg.string()}, lab.dir() / "tandem-lb.log");
  double deadline = demo::wall_ms() + 5000;
  while (!can_connect("", "127.0.0.1", lb_port)) {
    if (!lab.alive(lb) || demo::wall_ms() > deadline)
      throw demo::DemoError("tandem-lb does not listen; its log: " +
                            (lab.dir() / "tandem-lb.log").string());
    demo::pause_ms(10);
  }
  for (size_t i = 0; i < ports.size(); ++i) {
    while (!can_connect("", "127.0.0.1", ports[i])) {
      if (demo::wall_ms() > deadline) throw demo::DemoError(kWebs[i].name + " does not listen");
      demo::pause_ms(10);
    }
  }
  tl.now("tandem-lb and web1..web5 listen");
  demo::ClientOptions co;
  co.host = "127.0.0.1";
  co.port = lb_port;
  co.interval_ms = kRequestEveryMs;
  co.timeout_ms = kRequestTimeoutMs;
  co.max_requests = 1000;
  demo::Client client(co);
  if (!client.start()) throw demo::DemoError("the client cannot start: " + client.error());
  ClientWatch watch(client, tl, {{"127.0.0.1", "tandem-lb"}});
  tl.now(fmt::format("client: a new connection every {} ms to 127.0.0.1:{}", kRequestEveryMs,
                     lb_port));
  LogTail lb_log(lab.dir() / "tandem-lb.log");
  double down_ms = -1;
  auto tick = [&] {
    for (const auto& line : lb_log.read()) {
      auto pos = line.find("Server webs/");
      if (pos == std::string::npos) continue;
      double at = demo::log_time_ms(line).value_or(demo::wall_ms());
      tl.say(at, "tandem-lb: " + short_lb_line(line, pos));
      if (line.find("webs/web3 is DOWN") != std::string::npos && down_ms < 0) down_ms = at;
    }
    watch.poll();
    tl.flush(false);
  };
  auto run_for = [&](double ms) {
    double end = demo::wall_ms() + ms;
    while (demo::wall_ms() < end) {
      tick();
      demo::pause_ms(10);
    }
  };
  run_for(1500);
  FaultResult f;
  f.id = "1";
  f.what = "web3 killed (SIGKILL)";
  f.at_ms = demo::wall_ms();
  tl.say(f.at_ms, "FAULT: kill -9 web3", true);
  lab.signal(web_pids[2], SIGKILL);
  run_for(2500);
  client.stop();
  tick();
  tl.flush(true);
  auto all = client.snapshot();
  f.seen = demo::measure(all, f.at_ms, -1);
  demo::Outage after_down = demo::measure(all, down_ms >= 0 ? down_ms : f.at_ms, -1);
  std::map<std::string, int> before, after;
  for (const auto& r : all) {
    if (!r.ok) continue;
    (r.sent_ms < f.at_ms ? before : after)[r.web]++;
  }
  fmt::print("\nanswers by web server    before the kill    after it\n");
  for (const auto& w : kWebs)
    fmt::print("   {:<22} {:>14} {:>11}\n", w.name, before[w.name], after[w.name]);
  size_t failed_before = demo::measure(all, 0, f.at_ms).failed;
  fmt::print("\n{} requests; {} failed before the kill, {} after it", all.size(), failed_before,
             f.seen.failed);
  if (down_ms >= 0) {
    fmt::print(", {} after the health check took web3 out ({} after the kill)\n", after_down.failed,
               fmt_s(down_ms - f.at_ms));
  } else {
    fmt::print("; the health check did not take web3 out\n");
  }
  fmt::print(
      "(with retries 1 and option redispatch, a request that tandem-lb sends to the dead web3\n"
      "before its check fails is sent to another server at once)\n");
  f.zero_failed = true;
  f.seen.failed = down_ms >= 0 ? after_down.failed : f.seen.failed;
  f.not_recovered = down_ms < 0;
  if (!opt.json_path.empty()) write_json(opt.json_path, "local", {f}, 0, 0);
  bool ok = down_ms >= 0 && after_down.failed == 0 && failed_before == 0;
  if (opt.check) {
    fmt::print("\ncheck: {}\n",
               ok ? "web3 taken out, no failed request after that" : "FAILED: see above");
    return ok ? 0 : 1;
  }
  return 0;
}

int run_examples(const fs::path& dir) {
  if (!fs::is_directory(dir)) {
    fmt::print(stderr, "tandem demo: no folder {}\n", dir.string());
    return 1;
  }
  fmt::print("The files in {}, read as tandem reads them:\n", dir.string());
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (name.ends_with(".keepalived.conf") || name == "keepalived.conf") show_keepalived(e.path());
    if (name.ends_with(".cfg")) show_haproxy(e.path());
  }
  return 0;
}

bool netns_possible(std::string* why) {
  if (::geteuid() != 0) {
    *why = "it needs root (it creates network namespaces, links and a virtual address)";
    return false;
  }
  std::string ip = demo::find_program("ip");
  if (ip.empty()) {
    *why = "the 'ip' command (iproute2) is not installed";
    return false;
  }
  // Root in a container may still lack the right to make namespaces: try one.
  std::string probe = fmt::format("{}{}-probe", demo::kNamePrefix, ::getpid());
  std::string out;
  if (demo::run_command({ip, "netns", "add", probe}, &out) != 0) {
    while (!out.empty() && out.back() == '\n') out.pop_back();
    *why = "this machine does not let it create a network namespace (" + out + ")";
    return false;
  }
  demo::run_command({ip, "netns", "del", probe});
  return true;
}

}  // namespace

int run_demo(const DemoOptions& options) {
  if (!options.examples_dir.empty()) return run_examples(options.examples_dir);
  demo::install_signal_flag();
  std::string why;
  bool pair = !options.local && netns_possible(&why);
  if (options.clean) {
    if (::geteuid() != 0) {
      fmt::print(stderr, "tandem demo --clean: needs root (it deletes network namespaces)\n");
      return 1;
    }
    auto removed = demo::sweep(true);
    for (const auto& r : removed) fmt::print("removed {}\n", r);
    fmt::print("{}\n", removed.empty() ? "nothing to clean" : "clean");
    return 0;
  }
  for (const auto& r : demo::sweep(false)) fmt::print("removed what a dead demo run left: {}\n", r);

  fs::path dir = demo::run_dir();
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) {
    fmt::print(stderr, "tandem demo: cannot create {}: {}\n", dir.string(), ec.message());
    return 1;
  }
  int rc = 1;
  bool failed = false;
  {
    demo::Lab lab(dir);
    try {
      Programs prog = find_programs();
      if (pair) {
        PairDemo demo(options, prog, lab);
        rc = demo.run();
      } else {
        if (!options.local)
          fmt::print(
              "tandem demo: the pair in network namespaces cannot run here: {}.\n"
              "Run it as root (sudo make demo). What runs without root follows: tandem-lb\n"
              "on loopback in front of five web servers, and one of them killed.\n\n",
              why);
        else
          fmt::print("tandem demo --local: tandem-lb on loopback, one web server killed\n\n");
        rc = run_local(options, prog, lab);
      }
    } catch (const demo::Interrupted&) {
      fmt::print("\ntandem demo: interrupted; cleaning up\n");
      rc = 130;
    } catch (const demo::DemoError& e) {
      fmt::print(stderr, "\ntandem demo: {}\n", e.what());
      failed = true;
      rc = 1;
    } catch (const std::exception& e) {
      fmt::print(stderr, "\ntandem demo: unexpected error: {}\n", e.what());
      failed = true;
      rc = 1;
    }
    if (!lab.kept()) {
      auto left = lab.cleanup();
      for (const auto& ns : left)
        fmt::print(stderr, "tandem demo: could not delete namespace {}\n", ns);
      if (!left.empty()) rc = rc == 0 ? 1 : rc;
    }
  }
  if (failed) {
    std::ofstream(dir / "failed") << "failed\n";
    fmt::print(stderr,
               "tandem demo: logs and files kept in {} (tandem demo --clean removes them)\n",
               dir.string());
  } else if (!fs::exists(dir / "kept")) {
    fs::remove_all(dir, ec);
  }
  return rc;
}

int run_demo_web(int argc, char** argv) {
  demo::WebOptions o;
  for (int i = 2; i < argc; ++i) {
    std::string_view a = argv[i];
    if (i + 1 >= argc) {
      fmt::print(stderr, "tandem demo-web: '{}' needs a value\n", a);
      return 2;
    }
    std::string v = argv[++i];
    if (a == "--name") {
      o.name = v;
    } else if (a == "--bind") {
      o.bind = v;
    } else if (a == "--port") {
      char* end = nullptr;
      long p = std::strtol(v.c_str(), &end, 10);
      if (*end != '\0' || p < 1 || p > 65535) {
        fmt::print(stderr, "tandem demo-web: bad port '{}'\n", v);
        return 2;
      }
      o.port = static_cast<uint16_t>(p);
    } else if (a == "--run-dir") {
      // Only names the run, so that a sweep after a killed run recognises this process.
    } else {
      fmt::print(stderr, "tandem demo-web: unknown option '{}'\n", a);
      return 2;
    }
  }
  return demo::run_web(o);
}

}  // namespace tandem::app
