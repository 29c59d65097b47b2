#include "vrrp/daemon.h"

#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/control_socket.h"
#include "core/log.h"
#include "core/process.h"
#include "vrrp/config.h"
#include "vrrp/instance.h"
#include "vrrp/os/addresses.h"
#include "vrrp/os/announce.h"
#include "vrrp/os/file_watch.h"
#include "vrrp/os/link_watch.h"
#include "vrrp/os/process_watch.h"
#include "vrrp/os/vrrp_socket.h"
#include "vrrp/proxy_watch.h"

namespace tandem::vrrp {

using core::fail;
using core::logger;
using core::Result;
using nlohmann::json;

namespace {

// The VRID of a received message without validating it (validation is the instance's).
std::optional<uint8_t> peek_vrid(const os::RxPacket& p) {
  if (p.vrrp.size() < 2) return std::nullopt;
  return p.vrrp[1];
}

std::string state_word(State s) {
  return std::string(to_string(s));
}

}  // namespace

// Notify scripts of one instance run one at a time, in the order of the transitions.
class NotifyQueue {
 public:
  NotifyQueue(core::ProcessRunner& runner, std::chrono::seconds timeout)
      : runner_(runner), timeout_(timeout) {}

  void push(core::ProcessSpec spec) {
    spec.timeout = timeout_;
    queue_.push_back(std::move(spec));
    if (!busy_) next();
  }
  bool idle() const { return !busy_ && queue_.empty(); }

 private:
  void next() {
    if (queue_.empty()) {
      busy_ = false;
      return;
    }
    busy_ = true;
    core::ProcessSpec spec = std::move(queue_.front());
    queue_.pop_front();
    std::string name = spec.name;
    runner_.run(std::move(spec), [this, name](const core::ProcessResult& r) {
      if (r.success()) {
        logger().info("{}: {}", name, r.describe());
      } else {
        logger().warn("{}: {}{}", name, r.describe(), r.error.empty() ? "" : ": " + r.error);
      }
      next();
    });
  }

  core::ProcessRunner& runner_;
  std::chrono::seconds timeout_;
  std::deque<core::ProcessSpec> queue_;
  bool busy_ = false;
};

struct Daemon::Impl {
  Impl(core::Worker& w, DaemonOptions o)
      : worker(w), options(std::move(o)), runner(w.io(), w.clock()) {}

  struct Tracked {
    VrrpInstance* instance;
    size_t index;
  };
  struct ScriptCheck {
    VrrpScript script;  // a copy: a reload replaces the configuration it came from
    RiseFall state;
    core::TimerPtr timer;
    std::vector<Tracked> users;
    uint64_t runs = 0, failures = 0;
    bool started = false;
  };
  struct ProcessCheck {
    TrackProcess spec;  // a copy, as ScriptCheck's
    size_t count = 0;
    bool up = false;
    core::TimerPtr delay;  // fork_delay / terminate_delay before a change counts
    std::vector<Tracked> users;
  };
  // A vrrp_sync_group: its members change state together.
  struct Group {
    SyncGroup spec;
    std::vector<VrrpInstance*> members;
    State state = State::kInit;
    bool syncing = false;  // forcing members: their transitions must not force back
    std::unique_ptr<NotifyQueue> notify;
  };
  struct Running {
    std::unique_ptr<NotifyQueue> notify;  // outlives the instance's last transition
    std::unique_ptr<VrrpInstance> instance;
    os::VrrpSocket* socket = nullptr;
    bool waiting_for_source = false;  // its unicast_src_ip / mcast_src_ip is not on yet
  };
  // A loaded configuration with the statement tree it came from, so a reload can tell
  // which instances did not change.
  struct Loaded {
    std::vector<conf::Node> nodes;
    Config config;
  };

  Result<Loaded> load();
  Result<void> start();
  Result<void> start_instance(const Instance& inst);
  void forget_instance(VrrpInstance* vi);
  void start_checks();
  void reload();
  Result<IpAddress> source_of(const Instance& inst);
  Result<os::VrrpSocket*> socket_for(const std::string& ifname, Family family);
  void dispatch(os::VrrpSocket* socket, const os::RxPacket& packet);
  core::ProcessSpec script_spec(const ScriptSpec& s, std::string name) const;
  void run_check(ScriptCheck& c);
  void on_link(const os::LinkState& link);
  void on_process_count(ProcessCheck& pc, size_t count);
  Instance with_group_tracking(const Instance& inst) const;
  void build_groups();
  void on_member_transition(const VrrpInstance& vi, const Transition& t);
  void sync_group(Group& g, const VrrpInstance& vi, const Transition& t);
  json status() const;
  std::string status_text() const;
  std::string command(std::string_view line) const;

  core::Worker& worker;
  DaemonOptions options;
  core::ProcessRunner runner;
  Loaded current;
  const Config& config() const { return current.config; }
  os::AddressManagerPtr addresses;
  os::AnnouncerPtr announcer;
  os::LinkWatchPtr links;
  os::FileWatchPtr files;
  std::multimap<std::string, Tracked> file_users;  // path -> tracked items
  std::set<std::string> watched_files;
  os::ProcessWatchPtr processes;  // opened when a track_process is used (needs root)
  std::map<std::string, std::unique_ptr<ProcessCheck>> process_checks;
  struct ProxyCheck {
    std::unique_ptr<ProxyWatch> watch;
    std::vector<Tracked> users;
  };
  std::map<std::string, std::unique_ptr<ProxyCheck>> proxy_checks;
  std::vector<std::unique_ptr<ProxyCheck>> retired_proxy_checks;
  std::vector<std::unique_ptr<ProcessCheck>> retired_process_checks;
  std::vector<std::unique_ptr<Group>> groups;
  std::map<const VrrpInstance*, Group*> group_of;
  std::map<std::pair<std::string, Family>, os::VrrpSocketPtr> sockets;
  std::vector<Running> instances;
  std::map<std::string, std::unique_ptr<ScriptCheck>> checks;
  std::multimap<std::string, Tracked> interface_users;  // ifname -> tracked items
  std::unique_ptr<core::ControlServer> control;
  core::TimerPtr startup_timer;
  // Waiting for track_proxy's first verdicts before the instances start (see start()).
  core::TimerPtr settle_timer;
  core::TimePoint settle_deadline{};
  std::function<void()> settled_go;
  void poll_settled();
  bool begun = false;  // instances started (after vrrp_startup_delay)
  uint64_t unknown_vrid = 0;
  uint64_t reloads = 0, failed_reloads = 0;
  core::RateLimiter unknown_log{std::chrono::seconds(60), 3};
};

Daemon::Daemon(core::Worker& worker, DaemonOptions options)
    : impl_(std::make_unique<Impl>(worker, std::move(options))) {}

Daemon::~Daemon() = default;

Result<void> Daemon::start() {
  return impl_->start();
}
void Daemon::reload() {
  impl_->reload();
}

namespace {

// Two statements are the same when their words and blocks are, wherever they sit.
bool same_tree(const conf::Node& a, const conf::Node& b) {
  if (a.keyword.text != b.keyword.text || a.args.size() != b.args.size() ||
      a.children.size() != b.children.size() || a.has_block != b.has_block)
    return false;
  for (size_t i = 0; i < a.args.size(); ++i)
    if (a.args[i].text != b.args[i].text) return false;
  for (size_t i = 0; i < a.children.size(); ++i)
    if (!same_tree(a.children[i], b.children[i])) return false;
  return true;
}

const conf::Node* find_block(const std::vector<conf::Node>& nodes, std::string_view keyword,
                             std::string_view name) {
  for (const auto& n : nodes)
    if (n.keyword.text == keyword && (name.empty() || (!n.args.empty() && n.args[0].text == name)))
      return &n;
  return nullptr;
}

bool same_block(const std::vector<conf::Node>& a, const std::vector<conf::Node>& b,
                std::string_view keyword, std::string_view name) {
  const conf::Node* x = find_block(a, keyword, name);
  const conf::Node* y = find_block(b, keyword, name);
  if (!x || !y) return x == y;
  return same_tree(*x, *y);
}

}  // namespace

Result<Daemon::Impl::Loaded> Daemon::Impl::load() {
  core::Diagnostics diags;
  Loaded loaded;
  loaded.nodes = conf::load_keepalived(options.config_path, diags);
  loaded.config = build_config(loaded.nodes, diags);
  for (const auto& d : diags.all()) {
    if (d.severity == core::Severity::kError) {
      logger().error("{}", d.to_string());
    } else {
      logger().warn("{}", d.to_string());
    }
  }
  if (diags.has_errors())
    return fail(fmt::format("{}: {} error(s) in the configuration", options.config_path,
                            diags.error_count()));
  const Config& c = loaded.config;
  // Say plainly what this version cannot do yet, rather than run without it.
  for (const auto& inst : c.instances)
    if (inst.unicast_ttl && *inst.unicast_ttl != 255)
      return fail(fmt::format(
          "({}) unicast_ttl {}: adverts are always sent with TTL 255 in this version of "
          "tandem-vrrp; remove unicast_ttl or set it to 255",
          inst.name, *inst.unicast_ttl));
  if (c.instances.empty()) return fail(options.config_path + ": no vrrp_instance");
  // Scripts are refused before anything runs when enable_script_security says so.
  auto check_file = [&](const ScriptSpec& s) -> Result<void> {
    if (s.argv.empty()) return fail("empty script");
    const std::string& path = s.argv.front();
    if (path.find('/') == std::string::npos) return {};  // found in PATH by the runner
    uint32_t uid = 0;
    if (auto user = s.user ? s.user : c.global.script_user) {
      auto u = core::lookup_uid(*user);
      if (!u) return tl::unexpected(u.error());
      uid = *u;
    }
    return core::check_script(path, c.global.enable_script_security, uid);
  };
  for (const auto& s : c.scripts) {
    auto ok = check_file(s.script);
    if (!ok) return fail("vrrp_script " + s.name + ": " + ok.error().message);
  }
  for (const auto& inst : c.instances) {
    for (const auto* n : {&inst.notify.master, &inst.notify.backup, &inst.notify.fault,
                          &inst.notify.stop, &inst.notify.any, &inst.notify.master_rx_lower_pri}) {
      if (!*n) continue;
      auto ok = check_file(**n);
      if (!ok) return fail(fmt::format("({}) notify script: {}", inst.name, ok.error().message));
    }
  }
  return loaded;
}

Result<void> Daemon::Impl::start() {
  auto loaded = load();
  if (!loaded) return tl::unexpected(loaded.error());
  current = std::move(*loaded);

  auto am = os::make_netlink_address_manager();
  if (!am) return tl::unexpected(am.error());
  addresses = std::move(*am);
  announcer = os::make_packet_announcer();
  auto lw = os::open_link_watch(worker.io());
  if (!lw) return tl::unexpected(lw.error());
  links = std::move(*lw);
  links->on_link([this](const os::LinkState& l) { on_link(l); });
  links->on_address([this](const os::AddressEvent& e) {
    if (!e.added) return;
    for (auto& r : instances) {
      const Instance& inst = r.instance->config();
      if (!r.waiting_for_source || !inst.src_ip || *inst.src_ip != e.address ||
          e.ifname != inst.interface)
        continue;
      r.waiting_for_source = false;
      logger().info("({}) {} is on {} now: starting", inst.name, e.address.to_string(),
                    inst.interface);
      if (begun) r.instance->start();
    }
  });
  auto fw = os::open_file_watch(worker.io());
  if (!fw) return tl::unexpected(fw.error());
  files = std::move(*fw);

  instances.reserve(config().instances.size());
  for (const auto& inst : config().instances) {
    auto ok = start_instance(with_group_tracking(inst));
    if (!ok) return ok;
  }
  build_groups();

  if (!options.control_socket.empty()) {
    core::ControlSocketOptions co;
    co.path = options.control_socket;
    control = std::make_unique<core::ControlServer>(
        worker.io(), co, [this](std::string_view line) -> core::ControlReply {
          return {command(line), false};
        });
    auto ok = control->start();
    if (!ok) return tl::unexpected(ok.error());
  }

  auto begin = [this] {
    // A weighted track_proxy counts as failed until its first probe: an instance started
    // before then would announce the lowered priority and its peer would take over for an
    // instant. So the instances wait for every first verdict, at most a probe's timeout.
    auto go = [this] {
      begun = true;
      for (auto& r : instances)
        if (!r.waiting_for_source) r.instance->start();
      start_checks();
    };
    core::Duration longest{};
    for (const auto& [name, pc] : proxy_checks)
      if (!pc->watch->settled()) longest = std::max(longest, pc->watch->spec().timeout);
    if (longest == core::Duration{}) return go();
    logger().info("waiting for the first verdict of track_proxy before starting the instances");
    settle_deadline = worker.clock().now() + longest + std::chrono::milliseconds(50);
    settle_timer = worker.clock().make_timer();
    settled_go = go;
    poll_settled();
  };
  if (config().global.vrrp_startup_delay > core::Duration::zero()) {
    logger().info("waiting vrrp_startup_delay before starting the instances");
    startup_timer = worker.clock().make_timer();
    worker.clock().arm_after(*startup_timer, config().global.vrrp_startup_delay, begin);
  } else {
    begin();
  }
  return {};
}

void Daemon::Impl::poll_settled() {
  bool all = true;
  for (const auto& [name, pc] : proxy_checks) all = all && pc->watch->settled();
  if (all || worker.clock().now() >= settle_deadline) {
    auto go = std::move(settled_go);
    settled_go = nullptr;
    if (go) go();
    return;
  }
  worker.clock().arm_after(*settle_timer, std::chrono::milliseconds(5), [this] { poll_settled(); });
}

// Builds one instance with its socket, notify queue and tracked items; start() is the
// caller's (at begin, or at once on reload).
Result<void> Daemon::Impl::start_instance(const Instance& inst) {
  auto src = source_of(inst);
  if (!src) return tl::unexpected(src.error());
  auto sock = socket_for(inst.interface, inst.family);
  if (!sock) return tl::unexpected(sock.error());
  if (!inst.unicast) {
    auto joined = (*sock)->join(inst.mcast_group);
    if (!joined)
      return fail(fmt::format("({}) cannot join {} on {}: {}", inst.name,
                              inst.mcast_group.to_string(), inst.interface,
                              joined.error().to_string()));
  }
  Running r;
  r.notify = std::make_unique<NotifyQueue>(runner, options.notify_timeout);
  r.socket = *sock;
  if (inst.src_ip) {
    // Adverts from an address the interface does not have would fool peers and break on
    // the way back: wait for it (a cloud may add it late), and say so once.
    auto list = addresses->list(inst.interface);
    if (list && !os::has_address(*list, *inst.src_ip)) {
      r.waiting_for_source = true;
      logger().warn("({}) {} {} is not on {} yet: waiting for it before starting", inst.name,
                    inst.unicast ? "unicast_src_ip" : "mcast_src_ip", inst.src_ip->to_string(),
                    inst.interface);
    }
  }
  NotifyQueue* queue = r.notify.get();
  r.instance = std::make_unique<VrrpInstance>(
      inst, config().global, *src,
      VrrpInstance::Deps{worker.clock(), **sock, *addresses, *announcer,
                         [this, queue](const VrrpInstance& vi, const Transition& t) {
                           const NotifyScripts& n = vi.config().notify;
                           const std::optional<ScriptSpec>* specific = nullptr;
                           if (t.to == State::kMaster) specific = &n.master;
                           if (t.to == State::kBackup) specific = &n.backup;
                           if (t.to == State::kFault) specific = &n.fault;
                           if (t.to == State::kInit) specific = &n.stop;
                           const std::string word =
                               t.to == State::kInit ? "STOP" : state_word(t.to);
                           std::string lower = word;
                           for (auto& c : lower) c = static_cast<char>(std::tolower(c));
                           if (specific && *specific)
                             queue->push(script_spec(
                                 **specific, fmt::format("notify_{} of {}", lower, vi.name())));
                           if (n.any) {
                             auto spec = script_spec(*n.any, "notify of " + vi.name());
                             // keepalived's arguments: TYPE NAME STATE PRIORITY
                             spec.argv.insert(spec.argv.end(), {"INSTANCE", vi.name(), word,
                                                                std::to_string(t.priority)});
                             queue->push(std::move(spec));
                           }
                           on_member_transition(vi, t);
                         },
                         [this, queue](const VrrpInstance& vi, uint8_t) {
                           if (vi.config().notify.master_rx_lower_pri)
                             queue->push(script_spec(*vi.config().notify.master_rx_lower_pri,
                                                     "notify_master_rx_lower_pri of " + vi.name()));
                         }});
  VrrpInstance* vi = r.instance.get();

  // Tracking: the instance's own interface (weight 0: down means FAULT, as keepalived),
  // track_interface and track_script entries.
  auto link_up = [&](const std::string& ifname) {
    auto l = links->link(ifname);
    return l && l->up();
  };
  if (!inst.dont_track_primary) {
    size_t idx = vi->add_tracked(inst.interface, {0, false}, link_up(inst.interface));
    interface_users.emplace(inst.interface, Tracked{vi, idx});
  }
  for (const auto& t : inst.track_interfaces) {
    size_t idx = vi->add_tracked(t.name, {t.weight.value_or(0), t.reverse}, link_up(t.name));
    interface_users.emplace(t.name, Tracked{vi, idx});
  }
  for (const auto& t : inst.track_scripts) {
    const VrrpScript* script = nullptr;
    for (const auto& s : config().scripts)
      if (s.name == t.name) script = &s;
    if (!script)
      return fail(fmt::format("({}) track_script {}: no such vrrp_script", inst.name, t.name));
    auto& check = checks[script->name];
    if (!check) {
      check = std::make_unique<ScriptCheck>(
          ScriptCheck{*script,
                      RiseFall(script->rise, script->fall, !script->init_fail),
                      worker.clock().make_timer(),
                      {}});
    }
    size_t idx =
        vi->add_tracked("script " + t.name,
                        {t.weight.value_or(script->weight), t.reverse || script->weight_reverse},
                        check->state.up());
    check->users.push_back({vi, idx});
  }
  for (const auto& t : inst.track_files) {
    const TrackFile* file = nullptr;
    for (const auto& f : config().track_files)
      if (f.name == t.name) file = &f;
    if (!file)
      return fail(fmt::format("({}) track_file {}: no such track_file", inst.name, t.name));
    // init_file: give the file its starting value when it is missing (or always).
    if (file->init_value && (file->init_overwrite || !std::filesystem::exists(file->path))) {
      std::ofstream out(file->path, std::ios::trunc);
      out << *file->init_value << "\n";
      if (!out) logger().warn("track_file {}: cannot write {}", file->name, file->path);
    }
    size_t idx = vi->add_tracked_value(
        "file " + t.name, {t.weight.value_or(file->weight), t.reverse || file->weight_reverse},
        os::read_track_file(file->path));
    file_users.emplace(file->path, Tracked{vi, idx});
    if (watched_files.insert(file->path).second) {
      const std::string path = file->path;
      auto ok = files->watch(path, [this, path] {
        const int64_t value = os::read_track_file(path);
        auto [b, e] = file_users.equal_range(path);
        for (auto it = b; it != e; ++it)
          it->second.instance->set_tracked_value(it->second.index, value);
      });
      if (!ok) return fail(fmt::format("track_file {}: {}", file->name, ok.error().to_string()));
    }
  }
  for (const auto& t : inst.track_processes) {
    const TrackProcess* proc = nullptr;
    for (const auto& p : config().track_processes)
      if (p.name == t.name) proc = &p;
    if (!proc)
      return fail(
          fmt::format("({}) track_process {}: no such vrrp_track_process", inst.name, t.name));
    auto& check = process_checks[proc->name];
    if (!check) {
      if (!processes) {
        auto pw = os::open_process_watch(worker.io(), worker.clock());
        if (!pw) return fail("track_process: " + pw.error().to_string());
        processes = std::move(*pw);
      }
      check = std::make_unique<ProcessCheck>();
      check->spec = *proc;
      check->delay = worker.clock().make_timer();
      os::ProcessPattern pattern;
      pattern.name = proc->process;
      pattern.params = proc->params;
      pattern.full_command = proc->full_command;
      switch (proc->param_match) {
        case ParamMatch::kNone:
          pattern.match = proc->params.empty() ? os::ProcessPattern::Match::kAny
                                               : os::ProcessPattern::Match::kExact;
          break;
        case ParamMatch::kExact:
          pattern.match = os::ProcessPattern::Match::kExact;
          break;
        case ParamMatch::kPartial:
          pattern.match = os::ProcessPattern::Match::kPartial;
          break;
        case ParamMatch::kInitial:
          pattern.match = os::ProcessPattern::Match::kInitial;
          break;
      }
      ProcessCheck* pc = check.get();
      auto count = processes->watch(pattern, [this, pc](size_t n) { on_process_count(*pc, n); });
      if (!count) return fail("track_process " + proc->name + ": " + count.error().to_string());
      pc->count = *count;
      pc->up = *count >= proc->quorum && *count <= proc->quorum_max;
      logger().info("track_process {}: {} process(es) of {} running: {}", proc->name, *count,
                    proc->process, pc->up ? "UP" : "DOWN");
    }
    size_t idx = vi->add_tracked(
        "process " + t.name, {t.weight.value_or(proc->weight), t.reverse || proc->weight_reverse},
        check->up);
    check->users.push_back({vi, idx});
  }
  for (const auto& t : inst.track_proxies) {
    const TrackProxy* proxy = nullptr;
    for (const auto& p : config().track_proxies)
      if (p.name == t.name) proxy = &p;
    if (!proxy)
      return fail(fmt::format("({}) track_proxy {}: no such track_proxy", inst.name, t.name));
    auto& pc = proxy_checks[proxy->name];
    if (!pc) {
      pc = std::make_unique<ProxyCheck>();
      ProxyCheck* raw = pc.get();
      pc->watch = std::make_unique<ProxyWatch>(worker.io(), worker.clock(), *proxy, *files,
                                               [raw](bool up, const std::string&) {
                                                 for (const auto& u : raw->users)
                                                   u.instance->set_tracked(u.index, up);
                                               });
      if (proxy->process) {
        if (!processes) {
          auto pw = os::open_process_watch(worker.io(), worker.clock());
          if (!pw) return fail("track_proxy: " + pw.error().to_string());
          processes = std::move(*pw);
        }
        os::ProcessPattern pattern;
        pattern.name = *proxy->process;
        auto count =
            processes->watch(pattern, [raw](size_t n) { raw->watch->set_process_count(n); });
        if (!count) return fail("track_proxy " + proxy->name + ": " + count.error().to_string());
        pc->watch->set_process_count(*count);
      }
      auto ok = pc->watch->start();
      if (!ok) return fail("track_proxy " + proxy->name + ": " + ok.error().to_string());
    }
    size_t idx = vi->add_tracked(
        "proxy " + t.name, {t.weight.value_or(proxy->weight), t.reverse || proxy->weight_reverse},
        pc->watch->up());
    pc->users.push_back({vi, idx});
  }
  instances.push_back(std::move(r));
  return {};
}

// A tracked process count changed: up is quorum <= count <= quorum_max, and a change counts
// only once it has lasted fork_delay (coming up) or terminate_delay (going down).
void Daemon::Impl::on_process_count(ProcessCheck& pc, size_t count) {
  pc.count = count;
  const bool up = count >= pc.spec.quorum && count <= pc.spec.quorum_max;
  if (up == pc.up) {
    pc.delay->cancel();
    return;
  }
  const core::Duration wait = up ? pc.spec.fork_delay : pc.spec.terminate_delay;
  auto apply = [this, &pc] {
    const bool now_up = pc.count >= pc.spec.quorum && pc.count <= pc.spec.quorum_max;
    if (now_up == pc.up) return;
    pc.up = now_up;
    logger().info("track_process {}: {} process(es) of {}: {}", pc.spec.name, pc.count,
                  pc.spec.process, pc.up ? "UP" : "DOWN");
    for (const auto& t : pc.users) t.instance->set_tracked(t.index, pc.up);
  };
  if (wait > core::Duration::zero()) {
    if (!pc.delay->armed()) worker.clock().arm_after(*pc.delay, wait, apply);
  } else {
    apply();
  }
}

// Drops every reference to an instance that is going away.
void Daemon::Impl::forget_instance(VrrpInstance* vi) {
  std::erase_if(interface_users, [vi](const auto& kv) { return kv.second.instance == vi; });
  std::erase_if(file_users, [vi](const auto& kv) { return kv.second.instance == vi; });
  for (auto& [name, pc] : process_checks)
    std::erase_if(pc->users, [vi](const Tracked& t) { return t.instance == vi; });
  // A check nobody uses any more is retired, not destroyed: the process watch may still
  // call it. A retired proxy check without a process watch stops probing.
  for (auto it = proxy_checks.begin(); it != proxy_checks.end();) {
    std::erase_if(it->second->users, [vi](const Tracked& t) { return t.instance == vi; });
    if (!it->second->users.empty()) {
      ++it;
      continue;
    }
    if (!it->second->watch->spec().process) it->second->watch.reset();
    retired_proxy_checks.push_back(std::move(it->second));
    it = proxy_checks.erase(it);
  }
  for (auto it = process_checks.begin(); it != process_checks.end();) {
    if (!it->second->users.empty()) {
      ++it;
      continue;
    }
    retired_process_checks.push_back(std::move(it->second));
    it = process_checks.erase(it);
  }
  for (auto it = checks.begin(); it != checks.end();) {
    std::erase_if(it->second->users, [vi](const Tracked& t) { return t.instance == vi; });
    it = it->second->users.empty() ? checks.erase(it) : std::next(it);
  }
}

void Daemon::Impl::start_checks() {
  for (auto& [name, check] : checks) {
    if (check->started) continue;
    check->started = true;
    run_check(*check);
  }
}

// SIGHUP: instances whose statements (and global_defs, and the scripts they track) did not
// change keep running untouched: no transition, no address removed and added again.
// Changed ones leave as on a stop and start again; a file with errors changes nothing.
void Daemon::Impl::reload() {
  auto loaded = load();
  if (!loaded) {
    ++failed_reloads;
    logger().error("reload failed, still running the previous configuration: {}",
                   loaded.error().to_string());
    return;
  }
  ++reloads;
  const bool globals_same = same_block(current.nodes, loaded->nodes, "global_defs", "");
  auto unchanged = [&](const Instance& inst) {
    if (!globals_same) return false;
    if (!find_block(loaded->nodes, "vrrp_instance", inst.name)) return false;
    if (!same_block(current.nodes, loaded->nodes, "vrrp_instance", inst.name)) return false;
    for (const auto& t : inst.track_scripts)
      if (!same_block(current.nodes, loaded->nodes, "vrrp_script", t.name)) return false;
    for (const auto& t : inst.track_processes)
      if (!same_block(current.nodes, loaded->nodes, "vrrp_track_process", t.name)) return false;
    for (const auto& g : current.config.sync_groups)
      if (std::find(g.members.begin(), g.members.end(), inst.name) != g.members.end() &&
          !same_block(current.nodes, loaded->nodes, "vrrp_sync_group", g.name))
        return false;
    for (const auto& g : loaded->config.sync_groups)
      if (std::find(g.members.begin(), g.members.end(), inst.name) != g.members.end() &&
          !same_block(current.nodes, loaded->nodes, "vrrp_sync_group", g.name))
        return false;
    for (const auto& t : inst.track_proxies)
      if (!same_block(current.nodes, loaded->nodes, "track_proxy", t.name)) return false;
    for (const auto& t : inst.track_files)
      if (!same_block(current.nodes, loaded->nodes, "track_file", t.name) ||
          !same_block(current.nodes, loaded->nodes, "vrrp_track_file", t.name))
        return false;
    return true;
  };
  std::vector<std::string> kept, restarted, removed, added;
  std::vector<Running> survivors;
  std::vector<Running> leaving;
  for (auto& r : instances) {
    const Instance& old = r.instance->config();
    if (unchanged(old)) {
      kept.push_back(old.name);
      survivors.push_back(std::move(r));
    } else {
      (find_block(loaded->nodes, "vrrp_instance", old.name) ? restarted : removed)
          .push_back(old.name);
      leaving.push_back(std::move(r));
    }
  }
  groups.clear();  // rebuilt below; a leaving member's transitions must not force others
  group_of.clear();
  for (auto& r : leaving) {
    r.instance->stop();
    forget_instance(r.instance.get());
  }
  instances = std::move(survivors);
  // The notify queues of leaving instances must finish their STOP scripts: keep them alive
  // on the loop until idle.
  for (auto& r : leaving) {
    auto queue = std::shared_ptr<NotifyQueue>(std::move(r.notify));
    auto timer = std::shared_ptr<core::Timer>(worker.clock().make_timer());
    auto poll = std::make_shared<std::function<void()>>();
    *poll = [this, queue, timer, poll] {
      if (queue->idle()) {
        *poll = nullptr;
        return;
      }
      worker.clock().arm_after(*timer, std::chrono::milliseconds(50), *poll);
    };
    (*poll)();
  }
  current = std::move(*loaded);
  for (const auto& inst : config().instances) {
    bool running = false;
    for (const auto& r : instances) running = running || r.instance->name() == inst.name;
    if (running) continue;
    if (std::find(restarted.begin(), restarted.end(), inst.name) == restarted.end())
      added.push_back(inst.name);
    auto ok = start_instance(with_group_tracking(inst));
    if (!ok) {
      logger().error("reload: ({}) cannot start: {}", inst.name, ok.error().to_string());
      continue;
    }
    if (begun && !instances.back().waiting_for_source) instances.back().instance->start();
  }
  build_groups();
  if (begun) start_checks();
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
    return out.empty() ? "-" : out;
  };
  logger().info("reloaded {}: kept [{}], restarted [{}], added [{}], removed [{}]",
                options.config_path, join(kept), join(restarted), join(added), join(removed));
}

// A member of a sync group also tracks what its group tracks. Without
// sync_group_tracking_weight every weight of a member counts as 0 (a failure means FAULT of
// the whole group), as keepalived does: members with different priorities could otherwise
// end up split between nodes.
Instance Daemon::Impl::with_group_tracking(const Instance& inst) const {
  Instance out = inst;
  for (const auto& g : config().sync_groups) {
    if (std::find(g.members.begin(), g.members.end(), inst.name) == g.members.end()) continue;
    auto append = [](std::vector<TrackRef>& to, const std::vector<TrackRef>& from) {
      to.insert(to.end(), from.begin(), from.end());
    };
    append(out.track_scripts, g.track_scripts);
    append(out.track_interfaces, g.track_interfaces);
    append(out.track_files, g.track_files);
    append(out.track_processes, g.track_processes);
    if (!g.sync_group_tracking_weight) {
      bool ignored = false;
      for (auto* list :
           {&out.track_scripts, &out.track_interfaces, &out.track_files, &out.track_processes}) {
        for (auto& t : *list) {
          ignored = ignored || (t.weight && *t.weight != 0);
          t.weight = 0;
        }
      }
      for (const auto& t : out.track_scripts)
        for (const auto& s : config().scripts)
          ignored = ignored || (s.name == t.name && s.weight != 0);
      if (ignored)
        logger().warn(
            "({}) is in sync group {}: tracking weights count as 0 (a failure is "
            "FAULT of the group); set sync_group_tracking_weight to keep them",
            inst.name, g.name);
    }
  }
  return out;
}

void Daemon::Impl::build_groups() {
  groups.clear();
  group_of.clear();
  for (const auto& spec : config().sync_groups) {
    auto g = std::make_unique<Group>();
    g->spec = spec;
    g->notify = std::make_unique<NotifyQueue>(runner, options.notify_timeout);
    for (const auto& name : spec.members)
      for (auto& r : instances)
        if (r.instance->name() == name) g->members.push_back(r.instance.get());
    for (auto* m : g->members) group_of[m] = g.get();
    groups.push_back(std::move(g));
  }
}

// A member changed state: the others follow (MASTER and BACKUP), a member's own FAULT puts
// the others in FAULT, and the group's notify scripts run on the group's own changes.
void Daemon::Impl::on_member_transition(const VrrpInstance& member, const Transition& t) {
  if (!group_of.count(&member) || t.to == State::kInit) return;
  // After the member has finished acting on this transition: forcing it (or its peers)
  // from inside its own action list would interleave two transitions.
  worker.post([this, name = member.name(), t] {
    for (auto& [vi_ptr, group] : group_of)
      if (vi_ptr->name() == name) return sync_group(*group, *vi_ptr, t);
  });
}

void Daemon::Impl::sync_group(Group& g, const VrrpInstance& vi, const Transition& t) {
  if (g.syncing) return;
  g.syncing = true;
  const std::string why =
      fmt::format("sync group {}: {} is {}", g.spec.name, vi.name(), to_string(t.to));
  // Group FAULT: each member is held in FAULT while any other member's own items fail.
  for (auto* m : g.members) {
    bool other_faulty = false;
    for (auto* o : g.members) other_faulty = other_faulty || (o != m && o->own_fault());
    m->set_group_fault(other_faulty);
  }
  if (t.to == State::kMaster) {
    for (auto* m : g.members)
      if (m != &vi) m->force_master(why);
  } else if (t.to == State::kBackup) {
    for (auto* m : g.members)
      if (m != &vi) m->force_backup(why);
  }
  g.syncing = false;
  if (t.to != g.state) {
    g.state = t.to;
    logger().info("VRRP_Group({}) Entering {} STATE ({})", g.spec.name, to_string(t.to), why);
    const NotifyScripts& n = g.spec.notify;
    const std::optional<ScriptSpec>* specific = t.to == State::kMaster   ? &n.master
                                                : t.to == State::kBackup ? &n.backup
                                                                         : &n.fault;
    if (*specific) g.notify->push(script_spec(**specific, "notify of group " + g.spec.name));
    if (n.any) {
      auto spec = script_spec(*n.any, "notify of group " + g.spec.name);
      spec.argv.insert(spec.argv.end(), {"GROUP", g.spec.name, std::string(to_string(t.to))});
      g.notify->push(std::move(spec));
    }
  }
}

Result<IpAddress> Daemon::Impl::source_of(const Instance& inst) {
  auto list = addresses->list(inst.interface);
  if (!list)
    return fail(
        fmt::format("({}) interface {}: {}", inst.name, inst.interface, list.error().to_string()));
  if (inst.src_ip) {
    return *inst.src_ip;
  }
  auto found = inst.family == Family::kIpv4 ? os::primary_ipv4(*list) : os::ipv6_link_local(*list);
  if (!found)
    return fail(fmt::format(
        "({}) interface {} has no {} address to send adverts from; set "
        "unicast_src_ip or mcast_src_ip",
        inst.name, inst.interface, inst.family == Family::kIpv4 ? "IPv4" : "IPv6 link-local"));
  return *found;
}

Result<os::VrrpSocket*> Daemon::Impl::socket_for(const std::string& ifname, Family family) {
  auto key = std::make_pair(ifname, family);
  auto it = sockets.find(key);
  if (it != sockets.end()) return it->second.get();
  auto sock = os::open_vrrp_socket(worker.io(), ifname, family);
  if (!sock) return fail(fmt::format("VRRP socket on {}: {}", ifname, sock.error().to_string()));
  os::VrrpSocket* raw = sock->get();
  raw->set_receiver([this, raw](const os::RxPacket& p) { dispatch(raw, p); });
  sockets.emplace(key, std::move(*sock));
  return raw;
}

void Daemon::Impl::dispatch(os::VrrpSocket* socket, const os::RxPacket& packet) {
  auto vrid = peek_vrid(packet);
  for (auto& r : instances) {
    if (r.socket == socket && vrid && r.instance->config().vrid == *vrid) {
      r.instance->receive(packet);
      return;
    }
  }
  ++unknown_vrid;
  if (config().global.log_unknown_vrids)
    core::log_limited(unknown_log, worker.clock().now(), spdlog::level::info,
                      "advert for VRID {} from {}: no instance of ours", vrid.value_or(0),
                      packet.source.to_string());
}

core::ProcessSpec Daemon::Impl::script_spec(const ScriptSpec& s, std::string name) const {
  core::ProcessSpec spec;
  spec.argv = s.argv;
  spec.user = s.user ? s.user : config().global.script_user;
  spec.group = s.user ? s.group : config().global.script_group;
  spec.name = std::move(name);
  return spec;
}

void Daemon::Impl::run_check(ScriptCheck& c) {
  auto spec = script_spec(c.script.script, "vrrp_script " + c.script.name);
  spec.timeout = std::chrono::duration_cast<core::Duration>(c.script.timeout);
  ScriptCheck* check = &c;
  runner.run(std::move(spec), [this, check](const core::ProcessResult& r) {
    ++check->runs;
    if (!r.success()) ++check->failures;
    if (check->state.result(r.success())) {
      logger().info("VRRP_Script({}) {}", check->script.name,
                    check->state.up() ? "succeeded" : "failed");
      for (const auto& t : check->users) t.instance->set_tracked(t.index, check->state.up());
    }
    worker.clock().arm_after(*check->timer, check->script.interval,
                             [this, check] { run_check(*check); });
  });
}

void Daemon::Impl::on_link(const os::LinkState& link) {
  auto [begin, end] = interface_users.equal_range(link.name);
  for (auto it = begin; it != end; ++it)
    it->second.instance->set_tracked(it->second.index, link.up());
}

void Daemon::stop(std::function<void()> done) {
  Impl& d = *impl_;
  for (auto& [name, check] : d.checks) check->timer->cancel();
  for (auto& r : d.instances) r.instance->stop_handover();
  if (d.control) d.control->stop();
  // Wait (bounded) for the notify stop scripts, polling the queues on the loop.
  auto timer = std::shared_ptr<core::Timer>(d.worker.clock().make_timer());
  auto deadline = d.worker.clock().now() + d.options.notify_timeout;
  auto poll = std::make_shared<std::function<void()>>();
  *poll = [this, timer, deadline, poll, done] {
    bool idle = true;
    for (auto& r : impl_->instances)
      idle = idle && r.instance->state() == State::kInit && r.notify->idle();
    if (idle || impl_->worker.clock().now() >= deadline) {
      // Never exit with an address still on: an instance still handing over leaves now.
      for (auto& r : impl_->instances)
        if (r.instance->state() != State::kInit) r.instance->stop();
      done();
      *poll = nullptr;  // breaks the cycle
      return;
    }
    impl_->worker.clock().arm_after(*timer, std::chrono::milliseconds(20), *poll);
  };
  (*poll)();
}

void Daemon::stop_now() {
  for (auto& r : impl_->instances)
    if (r.instance->state() != State::kInit) r.instance->stop();
}

json Daemon::Impl::status() const {
  json list = json::array();
  for (const auto& r : instances) {
    json one = r.instance->status();
    one["waiting_for_source"] = r.waiting_for_source;
    list.push_back(std::move(one));
  }
  json scripts = json::array();
  for (const auto& [name, c] : checks)
    scripts.push_back({{"name", name},
                       {"state", c->state.up() ? "up" : "down"},
                       {"runs", c->runs},
                       {"failures", c->failures}});
  json proxies = json::array();
  for (const auto& [name, pc] : proxy_checks) proxies.push_back(pc->watch->status());
  return {{"program", "tandem-vrrp"},
          {"proxies", proxies},
          {"config", options.config_path},
          {"router_id", config().global.router_id},
          {"instances", list},
          {"scripts", scripts},
          {"unknown_vrid", unknown_vrid},
          {"reloads", reloads},
          {"failed_reloads", failed_reloads}};
}

std::string Daemon::Impl::status_text() const {
  std::string out = fmt::format("{:<16} {:<7} {:>4} {:>8} {:<16} {:<10} {}\n", "INSTANCE", "STATE",
                                "VRID", "PRIORITY", "MASTER", "MODE", "VIRTUAL ADDRESSES");
  for (const auto& r : instances) {
    json s = r.instance->status();
    std::string vips;
    for (const auto& v : s["virtual_addresses"])
      vips += (vips.empty() ? "" : " ") + v.get<std::string>();
    out += fmt::format(
        "{:<16} {:<7} {:>4} {:>8} {:<16} {:<10} {}\n", s["name"].get<std::string>(),
        s["state"].get<std::string>(), s["vrid"].get<int>(),
        fmt::format("{}/{}", s["effective_priority"].get<int>(), s["priority"].get<int>()),
        s["master"].get<std::string>(), s["mode"].get<std::string>(), vips);
  }
  return out;
}

json Daemon::status() const {
  return impl_->status();
}
std::string Daemon::status_text() const {
  return impl_->status_text();
}

std::string Daemon::command(std::string_view line) {
  return impl_->command(line);
}

std::string Daemon::Impl::command(std::string_view line) const {
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  if (line == "show state" || line == "show") return status_text();
  if (line == "show state json" || line == "show json") return status().dump(2) + "\n";
  if (line == "help")
    return "show state        instances: state, priority, master, addresses\n"
           "show state json   everything, with transitions and counters, as JSON\n"
           "help              this list\n";
  return fmt::format("unknown command '{}' (try help)\n", line);
}

}  // namespace tandem::vrrp
