// tandem-vrrp's configuration: the VRRP part of keepalived.conf, typed and validated.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "conf/keepalived_lexer.h"
#include "core/clock.h"
#include "core/diagnostic.h"
#include "vrrp/codec.h"
#include "vrrp/fsm.h"
#include "vrrp/ip_address.h"

namespace tandem::vrrp {

using core::Duration;

// An address scope as `ip address add ... scope` takes it.
enum class Scope : uint8_t { kGlobal, kSite, kLink, kHost, kNowhere };
std::string_view to_string(Scope s);

// One line of virtual_ipaddress / virtual_ipaddress_excluded:
// "<ADDR>[/<LEN>] [brd <ADDR>] [dev <IFACE>] [scope <SCOPE>] [label <LABEL>] [no_track]".
struct VirtualAddress {
  IpAddress address;
  uint8_t prefix_len = 32;  // 32 or 128 when not written, as keepalived
  std::string dev;          // empty: the instance's interface
  std::string label;
  std::optional<IpAddress> broadcast;
  Scope scope = Scope::kGlobal;
  bool no_track = false;  // a deleted address does not take the instance out of MASTER
  core::SourceLocation where;
};

// One line of virtual_routes, the simple forms only:
// "[src <ADDR>] [to] <DEST>[/<LEN>] [via|gw <ADDR>] [dev <IFACE>] [metric <N>] [table <N>]".
struct VirtualRoute {
  IpAddress destination;
  uint8_t prefix_len = 32;
  std::optional<IpAddress> via;
  std::string dev;
  std::optional<IpAddress> src;
  std::optional<uint32_t> metric;
  std::optional<uint32_t> table;
  bool no_track = false;
  core::SourceLocation where;
};

// A command to run: keepalived's script string split into words, and who runs it.
struct ScriptSpec {
  // The script string split at spaces and tabs; single quotes keep spaces inside a word.
  std::vector<std::string> argv;
  std::optional<std::string> user;   // empty: global script_user, else keepalived_script/root
  std::optional<std::string> group;  // empty: the user's group
  core::SourceLocation where;
};

// vrrp_script: a check run every `interval`.
struct VrrpScript {
  std::string name;
  ScriptSpec script;
  Duration interval = std::chrono::seconds(1);
  Duration timeout = std::chrono::seconds(1);  // keepalived: the interval when not set
  int weight = 0;                              // 0: failure means FAULT
  bool weight_reverse = false;
  int rise = 1;
  int fall = 1;
  bool init_fail = false;
  core::SourceLocation where;
};

// An entry of a track_script / track_interface / track_file / track_process block:
// "<NAME> [weight <N> [reverse|noreverse]]".
struct TrackRef {
  std::string name;
  std::optional<int> weight;  // unset: the tracked object's own weight (interfaces: 0)
  bool reverse = false;
  core::SourceLocation where;
};

// track_file (vrrp_track_file): a number read from a file, times the weight.
struct TrackFile {
  std::string name;
  std::string path;
  int weight = 1;
  bool weight_reverse = false;
  std::optional<int64_t> init_value;  // init_file: write this (default 0) if absent...
  bool init_overwrite = false;        // ...or always, with `overwrite`
  core::SourceLocation where;
};

enum class ParamMatch : uint8_t { kNone, kExact, kPartial, kInitial };

// vrrp_track_process: how many processes of a name are running.
struct TrackProcess {
  std::string name;
  std::string process;              // the process name, or the command with full_command
  std::vector<std::string> params;  // parameters to match (implies full_command)
  ParamMatch param_match = ParamMatch::kNone;
  bool full_command = false;
  int weight = 0;
  bool weight_reverse = false;
  uint32_t quorum = 1;
  uint32_t quorum_max = 65535;
  Duration fork_delay{};
  Duration terminate_delay{};
  core::SourceLocation where;
};

// track_proxy (tandem's own, no keepalived equivalent): the local proxy (tandem-lb or
// HAProxy) is alive when its process runs and its listeners accept connections. A dead
// process is seen at once (pidfd); listeners are probed every `interval`.
struct TrackProxy {
  struct Listen {
    IpAddress address;
    uint16_t port = 0;
    core::SourceLocation where;
  };
  std::string name;
  std::optional<std::string> pidfile;  // the proxy's pid file (re-read when it changes)
  std::optional<std::string> process;  // or its process name
  std::vector<Listen> listens;         // addresses that must accept a connection
  // The proxy's stats socket (tandem-lb's or HAProxy's): each named backend must have a
  // server UP (its BACKEND row of `show stat` says UP).
  std::optional<std::string> stats_socket;
  std::vector<std::string> backends;
  Duration interval = std::chrono::milliseconds(100);
  Duration timeout = std::chrono::milliseconds(100);  // one connection attempt
  uint32_t rise = 1;
  uint32_t fall = 1;
  int weight = 0;  // 0: a failed proxy is FAULT (the master leaves with priority 0 at once)
  bool weight_reverse = false;
  core::SourceLocation where;
};

// The scripts run on state changes, shared by instances and sync groups.
struct NotifyScripts {
  std::optional<ScriptSpec> master, backup, fault, stop;
  std::optional<ScriptSpec> any;  // `notify`: gets TYPE NAME STATE PRIORITY appended
  std::optional<ScriptSpec> master_rx_lower_pri;  // instances only
};

struct Instance {
  std::string name;
  std::string interface;  // may be empty only in unicast mode
  uint8_t vrid = 0;
  uint8_t priority = 100;  // 255 when `state MASTER` and no priority, as keepalived
  uint8_t version = 2;     // instance `version`, else global vrrp_version; IPv6 forces 3
  Family family = Family::kIpv4;
  Duration advert_interval = std::chrono::seconds(1);
  bool start_as_master = false;  // `state MASTER` (or priority 255 with no state)
  bool preempt = true;           // false with nopreempt
  Duration preempt_delay{};
  bool dont_track_primary = false;

  std::optional<IpAddress> src_ip;  // unicast_src_ip or mcast_src_ip
  std::vector<IpAddress> unicast_peers;
  bool unicast = false;  // has peers
  std::optional<uint8_t> unicast_ttl;
  bool check_unicast_src = false;
  IpAddress mcast_group;  // mcast_dst_ip, else the global group of the family
  bool v3_checksum_as_v2 = false;
  bool skip_check_adv_addr = false;

  AuthType auth_type = AuthType::kNone;  // v2 only
  std::string auth_pass;                 // at most 8 octets

  std::vector<VirtualAddress> vips;
  std::vector<VirtualAddress> excluded_vips;  // may mix families
  bool no_virtual_ipaddress = false;
  std::vector<VirtualRoute> routes;

  std::vector<TrackRef> track_scripts, track_interfaces, track_files, track_processes;
  std::vector<TrackRef> track_proxies;
  NotifyScripts notify;

  Duration garp_master_delay = std::chrono::seconds(5);
  uint32_t garp_master_repeat = 5;
  Duration garp_master_refresh{};  // 0: no refresh
  uint32_t garp_master_refresh_repeat = 1;
  Duration garp_lower_prio_delay = std::chrono::seconds(5);
  uint32_t garp_lower_prio_repeat = 5;

  core::SourceLocation where;
};

struct SyncGroup {
  std::string name;
  std::vector<std::string> members;
  std::vector<TrackRef> track_scripts, track_interfaces, track_files, track_processes;
  NotifyScripts notify;
  bool sync_group_tracking_weight = false;
  core::SourceLocation where;
};

struct GlobalDefs {
  std::string router_id;  // empty: the host name
  std::optional<std::string> script_user, script_group;
  bool enable_script_security = false;
  uint8_t vrrp_version = 2;
  IpAddress vrrp_mcast_group4 = kMulticastGroupV4;
  IpAddress vrrp_mcast_group6 = multicast_group_v6();
  Duration vrrp_garp_master_delay = std::chrono::seconds(5);
  uint32_t vrrp_garp_master_repeat = 5;
  Duration vrrp_garp_master_refresh{};
  uint32_t vrrp_garp_master_refresh_repeat = 1;
  std::optional<Duration> vrrp_garp_lower_prio_delay;   // unset: vrrp_garp_master_delay
  std::optional<uint32_t> vrrp_garp_lower_prio_repeat;  // unset: vrrp_garp_master_repeat
  Duration vrrp_garp_interval{};                        // between GARPs on one interface
  Duration vrrp_gna_interval{};                         // between unsolicited NAs
  bool vrrp_min_garp = false;
  Duration vrrp_startup_delay{};
  bool vrrp_check_unicast_src = false;
  bool vrrp_skip_check_adv_addr = false;
  bool v3_checksum_as_v2 = false;
  bool log_unknown_vrids = false;
};

struct Config {
  GlobalDefs global;
  std::vector<Instance> instances;
  std::vector<VrrpScript> scripts;
  std::vector<TrackFile> track_files;
  std::vector<TrackProcess> track_processes;
  std::vector<TrackProxy> track_proxies;
  std::vector<SyncGroup> sync_groups;
};

// Parses and validates a statement tree; every problem goes to `diags` (file:line:col and a
// hint). Returns what it could build: use it only when diags has no errors.
Config build_config(const std::vector<conf::Node>& nodes, core::Diagnostics& diags);

// load_keepalived + build_config.
Config load_config(const std::string& path, core::Diagnostics& diags,
                   const conf::IncludeOptions& opts = {});

// Splits a keepalived script string into words (spaces and tabs separate, single quotes
// group); nullopt on an unterminated quote.
std::optional<std::vector<std::string>> split_script(std::string_view text);

// Every keyword table as Markdown, for docs/vrrp.md.
std::string keyword_reference_markdown();

// The state machine's view of an instance; `interface_primary` is the interface's own
// address, used when neither unicast_src_ip nor mcast_src_ip is set.
FsmConfig fsm_config(const Instance& instance, const IpAddress& interface_primary);

}  // namespace tandem::vrrp
