#include "vrrp/config.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>
#include <set>
#include <span>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "conf/args.h"
#include "conf/keyword_table.h"

namespace tandem::vrrp {
namespace {

using conf::BlockRule;
using conf::KeywordTable;
using conf::kUnbounded;
using conf::Node;
using conf::Statement;
using conf::Word;
using core::Diagnostics;
using std::chrono::seconds;

constexpr const char* kProgram = "tandem-vrrp";

// ---------------------------------------------------------------------------------------------
// Drafts: what the tables fill in. Values with a global default stay optional until the whole
// file is read, because global_defs may come after the instances.

struct InstanceDraft {
  Instance inst;
  std::optional<uint8_t> version;
  const Word* version_word = nullptr;
  std::optional<bool> state_master;
  std::optional<uint8_t> priority;
  bool nopreempt = false;
  bool saw_unicast_peer_block = false;
  const Word* advert_word = nullptr;
  const Word* auth_type_word = nullptr;
  bool saw_auth_pass = false;
  std::optional<bool> v3_checksum_as_v2;
  std::optional<bool> check_unicast_src;
  std::optional<bool> skip_check_adv_addr;
  std::optional<IpAddress> mcast_dst;
  std::optional<Duration> garp_master_delay, garp_master_refresh, garp_lower_prio_delay;
  std::optional<uint32_t> garp_master_repeat, garp_master_refresh_repeat, garp_lower_prio_repeat;
  core::SourceLocation src_where;
};

struct Draft {
  Config cfg;
  std::vector<InstanceDraft> instances;
};

// ---------------------------------------------------------------------------------------------
// Argument helpers.

// A flag keyword with an optional <BOOL>: "skip_check_adv_addr" or "skip_check_adv_addr off".
std::optional<bool> flag_value(const Statement& st, Diagnostics& d) {
  if (st.args.empty()) return true;
  return conf::parse_bool(st.args[0], d, st.keyword->text);
}

std::optional<IpAddress> parse_ip(const Word& w, Diagnostics& d, std::string_view what) {
  auto ip = IpAddress::parse(w.text);
  if (!ip) {
    d.error(w.where, fmt::format("invalid {} '{}'", what, w.text),
            "write an IPv4 or IPv6 address, e.g. 198.18.0.1 or 2001:db8::1");
  }
  return ip;
}

struct Prefix {
  IpAddress address;
  uint8_t len = 32;
};

// "<ADDR>[/<LEN>]"; a missing length is the whole address (32 or 128), as keepalived.
std::optional<Prefix> parse_prefix(const Word& w, Diagnostics& d, std::string_view what) {
  std::string_view text = w.text;
  size_t slash = text.find('/');
  auto ip = IpAddress::parse(text.substr(0, slash));
  if (!ip) {
    d.error(w.where, fmt::format("invalid {} '{}'", what, w.text),
            "write an address with an optional prefix length, e.g. 198.18.0.100/24");
    return std::nullopt;
  }
  Prefix p{*ip, static_cast<uint8_t>(ip->is_v4() ? 32 : 128)};
  if (slash != std::string_view::npos) {
    std::string_view len = text.substr(slash + 1);
    unsigned v = 0;
    auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), v);
    unsigned max = ip->is_v4() ? 32 : 128;
    if (len.empty() || ec != std::errc() || end != len.data() + len.size() || v > max) {
      d.error(w.where, fmt::format("invalid prefix length in {} '{}'", what, w.text),
              fmt::format("the prefix length is a number from 0 to {}", max));
      return std::nullopt;
    }
    p.len = static_cast<uint8_t>(v);
  }
  return p;
}

Duration whole_seconds(uint64_t v) {
  return seconds(static_cast<int64_t>(v));
}

std::optional<ScriptSpec> parse_script_words(const Word& script, const Word* user,
                                             const Word* group, Diagnostics& d) {
  auto argv = split_script(script.text);
  if (!argv) {
    d.error(script.where, fmt::format("unterminated single quote in script '{}'", script.text),
            "close the quote; single quotes group words with spaces inside a script string");
    return std::nullopt;
  }
  if (argv->empty()) {
    d.error(script.where, "empty script", "write the path of the program to run");
    return std::nullopt;
  }
  ScriptSpec s;
  s.argv = std::move(*argv);
  if (user != nullptr) s.user = user->text;
  if (group != nullptr) s.group = group->text;
  s.where = script.where;
  return s;
}

// notify_*: "<SCRIPT> [<USER> [<GROUP>]]"; the script string is one word (quote it when it has
// arguments), as keepalived.
std::optional<ScriptSpec> parse_notify(const Statement& st, Diagnostics& d) {
  return parse_script_words(st.args[0], st.args.size() > 1 ? &st.args[1] : nullptr,
                            st.args.size() > 2 ? &st.args[2] : nullptr, d);
}

// "weight <N> [reverse|noreverse|no_reverse]" at args[from...].
bool parse_weight_tail(std::span<const Word> args, int64_t min, int64_t max, int& weight,
                       bool& reverse, Diagnostics& d, std::string_view what) {
  auto w = conf::parse_int(args[0], min, max, d, what);
  if (!w) return false;
  weight = static_cast<int>(*w);
  if (args.size() > 1) {
    const std::string& r = args[1].text;
    if (r == "reverse") {
      reverse = true;
    } else if (r == "noreverse" || r == "no_reverse") {
      reverse = false;
    } else {
      d.error(args[1].where, fmt::format("unknown weight option '{}'", r),
              "after the weight, only 'reverse' or 'noreverse' may follow");
      return false;
    }
  }
  if (args.size() > 2) {
    d.error(args[2].where, fmt::format("unexpected '{}' after the weight", args[2].text));
    return false;
  }
  return true;
}

// The lines of a track_* block: "<NAME> [weight <N> [reverse|noreverse]]".
std::vector<TrackRef> parse_track_block(const Statement& st, int64_t limit, Diagnostics& d) {
  std::vector<TrackRef> out;
  for (const Node& n : st.children()) {
    if (n.has_block) {
      d.error(n.block_where, fmt::format("'{}' entries take no block", st.keyword->text));
      continue;
    }
    TrackRef r{n.keyword.text, std::nullopt, false, n.where};
    if (!n.args.empty()) {
      if (n.args[0].text != "weight" || n.args.size() < 2) {
        d.error(n.args[0].where, fmt::format("unexpected '{}' after '{}'", n.args[0].text, r.name),
                fmt::format("write '{} weight <{}..{}> [reverse]'", r.name, -limit, limit));
        continue;
      }
      int w = 0;
      bool rev = false;
      if (!parse_weight_tail(std::span<const Word>(n.args).subspan(1), -limit, limit, w, rev, d,
                             "weight")) {
        continue;
      }
      r.weight = w;
      r.reverse = rev;
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<Scope> parse_scope(const Word& w, Diagnostics& d) {
  static const std::map<std::string, Scope, std::less<>> kScopes = {
      {"global", Scope::kGlobal}, {"site", Scope::kSite},       {"link", Scope::kLink},
      {"host", Scope::kHost},     {"nowhere", Scope::kNowhere}, {"universe", Scope::kGlobal}};
  auto it = kScopes.find(w.text);
  if (it == kScopes.end()) {
    d.error(w.where, fmt::format("unknown scope '{}'", w.text),
            "write one of global, site, link, host, nowhere");
    return std::nullopt;
  }
  return it->second;
}

// One virtual_ipaddress line.
std::optional<VirtualAddress> parse_vip(const Node& n, Diagnostics& d) {
  if (n.has_block) {
    d.error(n.block_where, "an address line takes no block");
    return std::nullopt;
  }
  auto p = parse_prefix(n.keyword, d, "virtual address");
  if (!p) return std::nullopt;
  VirtualAddress v;
  v.address = p->address;
  v.prefix_len = p->len;
  v.where = n.where;
  const auto& a = n.args;
  bool ok = true;
  for (size_t i = 0; i < a.size(); ++i) {
    const std::string& k = a[i].text;
    auto value = [&]() -> const Word* {
      if (i + 1 >= a.size()) {
        d.error(a[i].where, fmt::format("'{}' needs a value", k));
        ok = false;
        return nullptr;
      }
      return &a[++i];
    };
    if (k == "dev") {
      if (const Word* w = value()) v.dev = w->text;
    } else if (k == "label") {
      if (const Word* w = value()) v.label = w->text;
    } else if (k == "scope") {
      if (const Word* w = value()) {
        if (auto s = parse_scope(*w, d))
          v.scope = *s;
        else
          ok = false;
      }
    } else if (k == "brd" || k == "broadcast") {
      if (const Word* w = value()) {
        auto b = IpAddress::parse(w->text);
        if (!b || !b->is_v4() || !v.address.is_v4()) {
          d.error(w->where, fmt::format("invalid broadcast address '{}'", w->text),
                  "brd takes an IPv4 address, for IPv4 virtual addresses only ('-' and '+' "
                  "are not supported: write the address)");
          ok = false;
        } else {
          v.broadcast = *b;
        }
      }
    } else if (k == "no_track") {
      v.no_track = true;
    } else if (k == "peer" || k == "home" || k == "-nodad" || k == "nodad" || k == "mngtmpaddr" ||
               k == "noprefixroute" || k == "autojoin" || k == "preferred_lft" || k == "use_vmac" ||
               k == "track_group") {
      d.error(a[i].where, fmt::format("address option '{}' is not supported by {}", k, kProgram),
              "supported: dev, label, scope, brd, no_track");
      return std::nullopt;
    } else {
      d.error(a[i].where, fmt::format("unknown address option '{}'", k),
              "usage: <ADDR>[/<LEN>] [brd <ADDR>] [dev <IFACE>] [scope <SCOPE>] [label <LABEL>] "
              "[no_track]");
      return std::nullopt;
    }
  }
  if (!ok) return std::nullopt;
  return v;
}

// One virtual_routes line, simple forms only.
std::optional<VirtualRoute> parse_route(const Node& n, Diagnostics& d) {
  if (n.has_block) {
    d.error(n.block_where, "a route line takes no block");
    return std::nullopt;
  }
  std::vector<const Word*> words;
  words.push_back(&n.keyword);
  for (const Word& w : n.args) words.push_back(&w);
  VirtualRoute r;
  r.where = n.where;
  bool have_dest = false;
  const char* usage =
      "supported: [src <ADDR>] [to] <DEST>[/<LEN>] [via|gw <ADDR>] [dev <IFACE>] [metric <N>] "
      "[table <N>] [no_track]; for other routes run 'ip route' from a notify script";
  for (size_t i = 0; i < words.size(); ++i) {
    const Word& w = *words[i];
    const std::string& k = w.text;
    auto value = [&]() -> const Word* {
      if (i + 1 >= words.size()) {
        d.error(w.where, fmt::format("'{}' needs a value", k), usage);
        return nullptr;
      }
      return words[++i];
    };
    if (k == "src") {
      const Word* v = value();
      if (v == nullptr) return std::nullopt;
      auto ip = parse_ip(*v, d, "route source");
      if (!ip) return std::nullopt;
      r.src = *ip;
    } else if (k == "to") {
      continue;
    } else if (k == "via" || k == "gw") {
      const Word* v = value();
      if (v == nullptr) return std::nullopt;
      auto ip = parse_ip(*v, d, "gateway");
      if (!ip) return std::nullopt;
      r.via = *ip;
    } else if (k == "dev") {
      const Word* v = value();
      if (v == nullptr) return std::nullopt;
      r.dev = v->text;
    } else if (k == "metric" || k == "priority" || k == "preference") {
      const Word* v = value();
      if (v == nullptr) return std::nullopt;
      auto m = conf::parse_uint(*v, 0, UINT32_MAX, d, "metric");
      if (!m) return std::nullopt;
      r.metric = static_cast<uint32_t>(*m);
    } else if (k == "table") {
      const Word* v = value();
      if (v == nullptr) return std::nullopt;
      auto t = conf::parse_uint(*v, 1, UINT32_MAX, d, "table");
      if (!t) {
        return std::nullopt;
      }
      r.table = static_cast<uint32_t>(*t);
    } else if (k == "no_track") {
      r.no_track = true;
    } else if (!have_dest && IpAddress::parse(k.substr(0, k.find('/')))) {
      auto p = parse_prefix(w, d, "route destination");
      if (!p) return std::nullopt;
      r.destination = p->address;
      r.prefix_len = p->len;
      have_dest = true;
    } else {
      d.error(w.where, fmt::format("route option '{}' is not supported by {}", k, kProgram), usage);
      return std::nullopt;
    }
  }
  if (!have_dest) {
    d.error(n.where, "route without a destination", usage);
    return std::nullopt;
  }
  auto same = [&](const std::optional<IpAddress>& a) {
    return !a || a->family() == r.destination.family();
  };
  if (!same(r.via) || !same(r.src)) {
    d.error(n.where, "route mixes IPv4 and IPv6 addresses",
            "the destination, gateway and source of a route are of one family");
    return std::nullopt;
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// The tables.

template <class T>
using Handler = typename KeywordTable<T>::Handler;

struct Tables {
  KeywordTable<Draft> top{"keepalived.conf top level", kProgram};
  KeywordTable<GlobalDefs> global{"global_defs", kProgram};
  KeywordTable<InstanceDraft> instance{"vrrp_instance", kProgram};
  KeywordTable<InstanceDraft> auth{"authentication", kProgram};
  KeywordTable<VrrpScript> script{"vrrp_script", kProgram};
  KeywordTable<SyncGroup> sync{"vrrp_sync_group", kProgram};
  KeywordTable<TrackFile> track_file{"track_file", kProgram};
  KeywordTable<TrackProcess> track_process{"vrrp_track_process", kProgram};
  KeywordTable<TrackProxy> track_proxy{"track_proxy", kProgram};

  Tables() {
    add_top();
    add_global();
    add_instance();
    add_auth();
    add_script();
    add_sync();
    add_track_file();
    add_track_process();
    add_track_proxy();
  }

  void add_top();
  void add_global();
  void add_instance();
  void add_auth();
  void add_script();
  void add_sync();
  void add_track_file();
  void add_track_process();
  void add_track_proxy();
};

const Tables& tables() {
  static const Tables t;
  return t;
}

template <class T>
void flag(KeywordTable<T>& t, std::string name, std::string doc,
          std::function<void(T&, bool)> set) {
  t.add({.name = std::move(name),
         .args_doc = "[<BOOL>]",
         .min_args = 0,
         .max_args = 1,
         .handler =
             [set = std::move(set)](const Statement& st, T& target, Diagnostics& d) {
               if (auto v = flag_value(st, d)) set(target, *v);
             },
         .doc = std::move(doc)});
}

// A keyword without arguments that sets something.
template <class T>
void bare(KeywordTable<T>& t, std::string name, std::string doc, std::function<void(T&)> set) {
  t.add({.name = std::move(name),
         .args_doc = "",
         .min_args = 0,
         .max_args = 0,
         .handler = [set = std::move(set)](const Statement&, T& target,
                                           Diagnostics&) { set(target); },
         .doc = std::move(doc)});
}

template <class T>
void uint_kw(KeywordTable<T>& t, std::string name, uint64_t min, uint64_t max, std::string doc,
             std::function<void(T&, uint64_t)> set) {
  t.add({.name = name,
         .args_doc = fmt::format("<{}..{}>", min, max),
         .min_args = 1,
         .max_args = 1,
         .handler =
             [=](const Statement& st, T& target, Diagnostics& d) {
               if (auto v = conf::parse_uint(st.args[0], min, max, d, name)) set(target, *v);
             },
         .doc = std::move(doc)});
}

template <class T>
void timer_kw(KeywordTable<T>& t, std::string name, std::string doc,
              std::function<void(T&, Duration)> set) {
  t.add({.name = name,
         .args_doc = "<SECONDS>",
         .min_args = 1,
         .max_args = 1,
         .handler =
             [=](const Statement& st, T& target, Diagnostics& d) {
               if (auto v = conf::parse_keepalived_seconds(st.args[0], d, name)) set(target, *v);
             },
         .doc = std::move(doc)});
}

template <class T>
void notify_kw(KeywordTable<T>& t, std::string name, std::string doc,
               std::function<std::optional<ScriptSpec>&(T&)> slot) {
  t.add({.name = name,
         .args_doc = "<SCRIPT> [<USER> [<GROUP>]]",
         .min_args = 1,
         .max_args = 3,
         .handler =
             [=](const Statement& st, T& target, Diagnostics& d) {
               auto& s = slot(target);
               if (s) {
                 d.error(st.where(), fmt::format("'{}' is given twice", name),
                         fmt::format("the first one is at {}", s->where.to_string()));
                 return;
               }
               s = parse_notify(st, d);
             },
         .doc = std::move(doc)});
}

template <class T>
void track_kw(KeywordTable<T>& t, std::string name, int64_t limit, std::string doc,
              std::function<std::vector<TrackRef>&(T&)> slot) {
  t.add({.name = name,
         .args_doc = "",
         .min_args = 0,
         .max_args = 0,
         .handler =
             [=](const Statement& st, T& target, Diagnostics& d) {
               auto refs = parse_track_block(st, limit, d);
               auto& v = slot(target);
               v.insert(v.end(), refs.begin(), refs.end());
             },
         .doc = std::move(doc),
         .block = BlockRule::kRequired});
}

// ---------------------------------------------------------------------------------------------

void Tables::add_top() {
  top.add({.name = "global_defs",
           .handler =
               [this](const Statement& st, Draft& draft, Diagnostics& d) {
                 global.dispatch_all(st.children(), draft.cfg.global, d);
               },
           .doc = "Settings for the whole daemon.",
           .block = BlockRule::kRequired,
           .nested = &global});
  top.add({.name = "vrrp_instance",
           .args_doc = "<NAME>",
           .min_args = 1,
           .max_args = 1,
           .handler =
               [this](const Statement& st, Draft& draft, Diagnostics& d) {
                 for (const auto& other : draft.instances) {
                   if (other.inst.name == st.args[0].text) {
                     d.error(st.args[0].where,
                             fmt::format("vrrp_instance '{}' is defined twice", other.inst.name),
                             fmt::format("the first one is at {}", other.inst.where.to_string()));
                     return;
                   }
                 }
                 InstanceDraft i;
                 i.inst.name = st.args[0].text;
                 i.inst.where = st.where();
                 instance.dispatch_all(st.children(), i, d);
                 draft.instances.push_back(std::move(i));
               },
           .doc = "One virtual router: its VRID, addresses, peers and scripts.",
           .block = BlockRule::kRequired,
           .nested = &instance});
  top.add({.name = "vrrp_script",
           .args_doc = "<NAME>",
           .min_args = 1,
           .max_args = 1,
           .handler =
               [this](const Statement& st, Draft& draft, Diagnostics& d) {
                 for (const auto& other : draft.cfg.scripts) {
                   if (other.name == st.args[0].text) {
                     d.error(st.args[0].where,
                             fmt::format("vrrp_script '{}' is defined twice", other.name),
                             fmt::format("the first one is at {}", other.where.to_string()));
                     return;
                   }
                 }
                 VrrpScript s;
                 s.name = st.args[0].text;
                 s.where = st.where();
                 s.timeout = Duration::zero();  // unset: the interval, as keepalived
                 script.dispatch_all(st.children(), s, d);
                 if (s.script.argv.empty()) {
                   d.error(st.where(), fmt::format("vrrp_script '{}' has no 'script'", s.name),
                           "add: script \"/path/to/check arguments\"");
                 }
                 if (s.timeout == Duration::zero()) s.timeout = s.interval;
                 draft.cfg.scripts.push_back(std::move(s));
               },
           .doc = "A check command run periodically; instances track it with track_script.",
           .block = BlockRule::kRequired,
           .nested = &script});
  top.add({.name = "vrrp_sync_group",
           .args_doc = "<NAME>",
           .min_args = 1,
           .max_args = 1,
           .handler =
               [this](const Statement& st, Draft& draft, Diagnostics& d) {
                 for (const auto& other : draft.cfg.sync_groups) {
                   if (other.name == st.args[0].text) {
                     d.error(st.args[0].where,
                             fmt::format("vrrp_sync_group '{}' is defined twice", other.name),
                             fmt::format("the first one is at {}", other.where.to_string()));
                     return;
                   }
                 }
                 SyncGroup g;
                 g.name = st.args[0].text;
                 g.where = st.where();
                 sync.dispatch_all(st.children(), g, d);
                 if (g.members.empty()) {
                   d.error(st.where(), fmt::format("vrrp_sync_group '{}' has no members", g.name),
                           "list its instances in a 'group { ... }' block");
                 }
                 draft.cfg.sync_groups.push_back(std::move(g));
               },
           .doc = "Instances that change state together.",
           .block = BlockRule::kRequired,
           .nested = &sync});
  auto track_file_handler = [this](const Statement& st, Draft& draft, Diagnostics& d) {
    for (const auto& other : draft.cfg.track_files) {
      if (other.name == st.args[0].text) {
        d.error(st.args[0].where, fmt::format("track_file '{}' is defined twice", other.name),
                fmt::format("the first one is at {}", other.where.to_string()));
        return;
      }
    }
    TrackFile f;
    f.name = st.args[0].text;
    f.where = st.where();
    track_file.dispatch_all(st.children(), f, d);
    if (f.path.empty()) {
      d.error(st.where(), fmt::format("track_file '{}' has no 'file'", f.name),
              "add: file \"/path/to/file\"");
    }
    draft.cfg.track_files.push_back(std::move(f));
  };
  top.add({.name = "track_file",
           .args_doc = "<NAME>",
           .min_args = 1,
           .max_args = 1,
           .handler = track_file_handler,
           .doc = "A file holding a number that adjusts priority (weight times the number).",
           .block = BlockRule::kRequired,
           .nested = &track_file});
  top.add({.name = "vrrp_track_file",
           .args_doc = "<NAME>",
           .min_args = 1,
           .max_args = 1,
           .handler = track_file_handler,
           .doc = "Old name of track_file (keepalived still accepts it).",
           .block = BlockRule::kRequired,
           .nested = &track_file});
  top.add({.name = "vrrp_track_process",
           .args_doc = "<NAME>",
           .min_args = 1,
           .max_args = 1,
           .handler =
               [this](const Statement& st, Draft& draft, Diagnostics& d) {
                 for (const auto& other : draft.cfg.track_processes) {
                   if (other.name == st.args[0].text) {
                     d.error(st.args[0].where,
                             fmt::format("vrrp_track_process '{}' is defined twice", other.name),
                             fmt::format("the first one is at {}", other.where.to_string()));
                     return;
                   }
                 }
                 TrackProcess p;
                 p.name = st.args[0].text;
                 p.where = st.where();
                 track_process.dispatch_all(st.children(), p, d);
                 if (p.process.empty()) {
                   d.error(st.where(),
                           fmt::format("vrrp_track_process '{}' has no 'process'", p.name),
                           "add: process <NAME>");
                 }
                 draft.cfg.track_processes.push_back(std::move(p));
               },
           .doc = "Watches whether enough processes of a name are running.",
           .block = BlockRule::kRequired,
           .nested = &track_process});

  top.add({.name = "track_proxy",
           .args_doc = "<NAME>",
           .min_args = 1,
           .max_args = 1,
           .handler =
               [this](const Statement& st, Draft& draft, Diagnostics& d) {
                 for (const auto& other : draft.cfg.track_proxies) {
                   if (other.name == st.args[0].text) {
                     d.error(st.args[0].where,
                             fmt::format("track_proxy '{}' is defined twice", other.name),
                             fmt::format("the first one is at {}", other.where.to_string()));
                     return;
                   }
                 }
                 TrackProxy p;
                 p.name = st.args[0].text;
                 p.where = st.where();
                 track_proxy.dispatch_all(st.children(), p, d);
                 if (!p.backends.empty() && !p.stats_socket)
                   d.error(
                       st.where(),
                       fmt::format("track_proxy '{}' names backends but no stats_socket", p.name),
                       "add: stats_socket <PATH> (the proxy's `stats socket`)");
                 if (!p.pidfile && !p.process && p.listens.empty() && !p.stats_socket)
                   d.error(st.where(), fmt::format("track_proxy '{}' watches nothing", p.name),
                           "add pidfile <PATH> or process <NAME>, listen <ADDR>:<PORT>, or "
                           "stats_socket <PATH> with backend <NAME>");
                 if (p.pidfile && p.process)
                   d.error(st.where(),
                           fmt::format("track_proxy '{}' has both pidfile and process", p.name),
                           "keep one: the pid file names exactly the process to watch");
                 draft.cfg.track_proxies.push_back(std::move(p));
               },
           .doc = "tandem's own: the local proxy (tandem-lb or HAProxy) is alive when its "
                  "process runs and its listeners accept.",
           .block = BlockRule::kRequired,
           .nested = &track_proxy});

  const std::string lb =
      "tandem-vrrp does VRRP only; put the load balancing in tandem-lb "
      "(haproxy.cfg)";
  top.add_unsupported("virtual_server", lb);
  top.add_unsupported("virtual_server_group", lb);
  top.add_unsupported("static_ipaddress",
                      "static addresses belong in the system's network configuration");
  top.add_unsupported("static_routes",
                      "static routes belong in the system's network "
                      "configuration");
  top.add_unsupported("static_rules",
                      "static rules belong in the system's network "
                      "configuration");
  top.add_unsupported("track_group", "tracking of static addresses is not implemented");
  top.add_unsupported("linkbeat_interfaces",
                      "tandem-vrrp follows links through netlink only; no MII/ethtool polling");
  top.add_unsupported("bfd_instance", "BFD is not implemented; track a script instead");
  top.add_unsupported("garp_group",
                      "use the global vrrp_garp_interval and vrrp_gna_interval instead");
  top.add_unsupported("interface_up_down_delays", "interface debouncing is not implemented");
  top.add_unsupported("net_namespace",
                      "run tandem-vrrp inside the namespace instead (ip netns exec NAME ...)");
  top.add_unsupported("net_namespace_ipvs", lb);
  top.add_unsupported("namespace_with_ipsets", "ipsets are not used by tandem-vrrp");
  top.add_unsupported("instance", "run several daemons with separate -p pid files instead");
  top.add_unsupported("use_pid_dir", "give the pid file with -p");
  top.add_unsupported("child_wait_time",
                      "tandem-vrrp is one process; there are no children to "
                      "wait for");
  top.add_unsupported("linkbeat_use_polling",
                      "tandem-vrrp follows links through netlink only; no MII/ethtool polling");
}

void Tables::add_global() {
  global.add({.name = "router_id",
              .args_doc = "<STRING>",
              .min_args = 1,
              .max_args = 1,
              .handler = [](const Statement& st, GlobalDefs& g,
                            Diagnostics&) { g.router_id = st.args[0].text; },
              .doc = "Names this node in logs and notifications (default: the host name)."});
  global.add({.name = "script_user",
              .args_doc = "<USER> [<GROUP>]",
              .min_args = 1,
              .max_args = 2,
              .handler =
                  [](const Statement& st, GlobalDefs& g, Diagnostics&) {
                    g.script_user = st.args[0].text;
                    if (st.args.size() > 1) g.script_group = st.args[1].text;
                  },
              .doc = "Default user (and group) for scripts (default: keepalived_script if it "
                     "exists, else root)."});
  bare<GlobalDefs>(global, "enable_script_security",
                   "Refuse to run scripts as root when a non-root user could change them.",
                   [](GlobalDefs& g) { g.enable_script_security = true; });
  uint_kw<GlobalDefs>(global, "vrrp_version", 2, 3,
                      "Default VRRP version of instances (default 2; IPv6 instances use 3).",
                      [](GlobalDefs& g, uint64_t v) { g.vrrp_version = static_cast<uint8_t>(v); });
  global.add({.name = "vrrp_mcast_group4",
              .args_doc = "<ADDR>",
              .min_args = 1,
              .max_args = 1,
              .handler =
                  [](const Statement& st, GlobalDefs& g, Diagnostics& d) {
                    auto ip = parse_ip(st.args[0], d, "vrrp_mcast_group4");
                    if (ip && (!ip->is_v4() || !ip->is_multicast())) {
                      d.error(st.args[0].where,
                              fmt::format("vrrp_mcast_group4 '{}' is not an IPv4 multicast "
                                          "address",
                                          st.args[0].text),
                              "the default is 224.0.0.18");
                      return;
                    }
                    if (ip) g.vrrp_mcast_group4 = *ip;
                  },
              .doc = "IPv4 multicast group for adverts (default 224.0.0.18)."});
  global.add({.name = "vrrp_mcast_group6",
              .args_doc = "<ADDR>",
              .min_args = 1,
              .max_args = 1,
              .handler =
                  [](const Statement& st, GlobalDefs& g, Diagnostics& d) {
                    auto ip = parse_ip(st.args[0], d, "vrrp_mcast_group6");
                    if (ip && (!ip->is_v6() || !ip->is_multicast())) {
                      d.error(st.args[0].where,
                              fmt::format("vrrp_mcast_group6 '{}' is not an IPv6 multicast "
                                          "address",
                                          st.args[0].text),
                              "the default is ff02::12");
                      return;
                    }
                    if (ip) g.vrrp_mcast_group6 = *ip;
                  },
              .doc = "IPv6 multicast group for adverts (default ff02::12)."});
  const uint64_t kMaxDelay = 4294;  // keepalived: UINT_MAX / TIMER_HZ seconds
  uint_kw<GlobalDefs>(
      global, "vrrp_garp_master_delay", 0, kMaxDelay,
      "Seconds after becoming master before the second burst of gratuitous "
      "ARP/NA; 0 for none (default 5).",
      [](GlobalDefs& g, uint64_t v) { g.vrrp_garp_master_delay = whole_seconds(v); });
  uint_kw<GlobalDefs>(
      global, "vrrp_garp_master_repeat", 1, UINT32_MAX,
      "Gratuitous ARP/NA messages per burst on becoming master (default 5).",
      [](GlobalDefs& g, uint64_t v) { g.vrrp_garp_master_repeat = static_cast<uint32_t>(v); });
  uint_kw<GlobalDefs>(
      global, "vrrp_garp_master_refresh", 0, UINT32_MAX,
      "Seconds between gratuitous ARP/NA refreshes while master; 0 for none "
      "(default 0).",
      [](GlobalDefs& g, uint64_t v) { g.vrrp_garp_master_refresh = whole_seconds(v); });
  uint_kw<GlobalDefs>(global, "vrrp_garp_master_refresh_repeat", 1, UINT32_MAX,
                      "Messages per refresh (default 1).", [](GlobalDefs& g, uint64_t v) {
                        g.vrrp_garp_master_refresh_repeat = static_cast<uint32_t>(v);
                      });
  uint_kw<GlobalDefs>(
      global, "vrrp_garp_lower_prio_delay", 0, kMaxDelay,
      "Seconds before the second burst after a master hears a lower priority "
      "(default: vrrp_garp_master_delay).",
      [](GlobalDefs& g, uint64_t v) { g.vrrp_garp_lower_prio_delay = whole_seconds(v); });
  uint_kw<GlobalDefs>(
      global, "vrrp_garp_lower_prio_repeat", 0, INT32_MAX,
      "Messages per burst after a master hears a lower priority (default: "
      "vrrp_garp_master_repeat).",
      [](GlobalDefs& g, uint64_t v) { g.vrrp_garp_lower_prio_repeat = static_cast<uint32_t>(v); });
  timer_kw<GlobalDefs>(global, "vrrp_garp_interval",
                       "Pause between gratuitous ARPs on one interface (default 0).",
                       [](GlobalDefs& g, Duration v) { g.vrrp_garp_interval = v; });
  timer_kw<GlobalDefs>(global, "vrrp_gna_interval",
                       "Pause between unsolicited neighbour adverts on one interface (default 0).",
                       [](GlobalDefs& g, Duration v) { g.vrrp_gna_interval = v; });
  flag<GlobalDefs>(global, "vrrp_min_garp",
                   "One gratuitous ARP/NA on becoming master and no second burst.",
                   [](GlobalDefs& g, bool v) { g.vrrp_min_garp = v; });
  timer_kw<GlobalDefs>(global, "vrrp_startup_delay",
                       "Wait this long after start before instances run (default 0).",
                       [](GlobalDefs& g, Duration v) { g.vrrp_startup_delay = v; });
  bare<GlobalDefs>(global, "vrrp_check_unicast_src",
                   "Default of check_unicast_src: drop unicast adverts not from a peer.",
                   [](GlobalDefs& g) { g.vrrp_check_unicast_src = true; });
  bare<GlobalDefs>(global, "vrrp_skip_check_adv_addr",
                   "Default of skip_check_adv_addr: skip the address list check for adverts "
                   "from the current master.",
                   [](GlobalDefs& g) { g.vrrp_skip_check_adv_addr = true; });
  flag<GlobalDefs>(global, "v3_checksum_as_v2",
                   "Default of v3_checksum_as_v2: VRRPv3 IPv4 checksum without the "
                   "pseudo-header (RFC 9568, Cisco); keepalived 2.2.8+.",
                   [](GlobalDefs& g, bool v) { g.v3_checksum_as_v2 = v; });
  bare<GlobalDefs>(global, "log_unknown_vrids",
                   "Log adverts for VRIDs no instance of the interface has.",
                   [](GlobalDefs& g) { g.log_unknown_vrids = true; });

  const std::string email = "tandem-vrrp sends no e-mail; send it from a notify script";
  for (const char* k : {"notification_email", "notification_email_from", "smtp_server",
                        "smtp_helo_name", "smtp_connect_timeout", "smtp_alert", "smtp_alert_vrrp",
                        "smtp_alert_checker", "no_email_faults"}) {
    global.add_unsupported(k, email);
  }
  const std::string snmp = "no SNMP agent; read the Prometheus metrics or 'tandem status' instead";
  for (const char* k :
       {"snmp_socket", "enable_snmp_vrrp", "enable_snmp_keepalived", "enable_snmp_checker",
        "enable_snmp_rfc", "enable_snmp_rfcv2", "enable_snmp_rfcv3", "enable_traps"}) {
    global.add_unsupported(k, snmp);
  }
  global.add_unsupported("enable_dbus", "no D-Bus interface; use the control socket");
  global.add_unsupported("dbus_service_name", "no D-Bus interface; use the control socket");
  global.add_unsupported("vrrp_strict",
                         "strict RFC mode is not implemented (it forbids unicast, "
                         "authentication and preempt_delay); remove it");
  const std::string fw =
      "no_accept mode is not implemented, so tandem-vrrp installs no firewall rules";
  for (const char* k : {"vrrp_iptables", "vrrp_ipsets", "nftables", "nftables_priority",
                        "nftables_counters", "nftables_ifindex", "vrrp_nftables"}) {
    global.add_unsupported(k, fw);
  }
  const std::string lvs = "IPVS is not part of tandem; put the load balancing in tandem-lb";
  for (const char* k :
       {"lvs_sync_daemon", "lvs_timeouts", "lvs_flush", "lvs_flush_on_stop", "lvs_notify_fifo",
        "lvs_notify_fifo_script", "nftables_ipvs", "checker_log_all_failures"}) {
    global.add_unsupported(k, lvs);
  }
  const std::string fifo = "notify FIFOs are not implemented; use notify scripts";
  for (const char* k :
       {"notify_fifo", "notify_fifo_script", "vrrp_notify_fifo", "vrrp_notify_fifo_script",
        "fifo_write_vrrp_states_on_reload", "vrrp_notify_priority_changes"}) {
    global.add_unsupported(k, fifo);
  }
  const std::string sched =
      "set scheduling in the service unit (Nice=, CPUSchedulingPolicy=, CPUAffinity=)";
  for (const char* k : {"vrrp_priority", "vrrp_no_swap", "vrrp_rt_priority", "vrrp_cpu_affinity",
                        "vrrp_rlimit_rttime", "max_auto_priority", "min_auto_priority_delay"}) {
    global.add_unsupported(k, sched);
  }
  global.add_unsupported("startup_script", "use ExecStartPre= in the service unit");
  global.add_unsupported("shutdown_script", "use ExecStopPost= in the service unit");
  global.add_unsupported("vrrp_lower_prio_no_advert",
                         "the state machine always answers a lower priority advert as "
                         "keepalived does by default");
  global.add_unsupported("vrrp_higher_prio_send_advert",
                         "the state machine behaves as keepalived's default (off)");
  global.add_unsupported("vrrp_down_timer_adverts",
                         "the master down timer is always 3 adverts plus skew (RFC 5798)");
  global.add_unsupported("vrrp_garp_extra_if", "VMAC interfaces are not implemented");
  global.add_unsupported("vmac_prefix", "VMAC interfaces are not implemented");
  global.add_unsupported("vmac_addr_prefix", "VMAC interfaces are not implemented");
  global.add_unsupported("dynamic_interfaces",
                         "interfaces must exist when tandem-vrrp starts (it follows them "
                         "going down and up)");
  global.add_unsupported("default_interface",
                         "only used by static addresses, which are not "
                         "supported");
  global.add_unsupported("vrrp_netlink_cmd_rcv_bufs", "netlink buffers are sized automatically");
  global.add_unsupported("vrrp_netlink_monitor_rcv_bufs",
                         "netlink buffers are sized automatically");
  global.add_unsupported("vrrp_rx_bufs_policy", "socket buffers are sized automatically");
  global.add_unsupported("vrrp_rx_bufs_multiplier", "socket buffers are sized automatically");
  global.add_unsupported("process_names", "the process is called tandem-vrrp");
  global.add_unsupported("vrrp_process_name", "the process is called tandem-vrrp");
  global.add_unsupported("umask", "set UMask= in the service unit");
  global.add_unsupported("tmp_config_directory",
                         "tandem-vrrp keeps no copy of the "
                         "configuration");
  global.add_unsupported("reload_check_config", "run 'tandem-vrrp -t' before reloading");
}

void Tables::add_instance() {
  using D = InstanceDraft;
  instance.add({.name = "state",
                .args_doc = "MASTER|BACKUP",
                .min_args = 1,
                .max_args = 1,
                .handler =
                    [](const Statement& st, D& i, Diagnostics& d) {
                      const std::string& s = st.args[0].text;
                      if (s == "MASTER") {
                        i.state_master = true;
                      } else if (s == "BACKUP") {
                        i.state_master = false;
                      } else {
                        d.error(st.args[0].where, fmt::format("unknown state '{}'", s),
                                "write MASTER or BACKUP (in capitals)");
                      }
                    },
                .doc = "Initial state; MASTER takes over at once (with priority 255 when no "
                       "priority is given). Default BACKUP."});
  instance.add({.name = "interface",
                .args_doc = "<IFACE>",
                .min_args = 1,
                .max_args = 1,
                .handler =
                    [](const Statement& st, D& i, Diagnostics& d) {
                      if (st.args[0].text.size() >= 16) {
                        d.error(st.args[0].where,
                                fmt::format("interface name '{}' is too long", st.args[0].text),
                                "Linux interface names have at most 15 characters");
                        return;
                      }
                      i.inst.interface = st.args[0].text;
                    },
                .doc = "Interface the adverts go out of and the addresses go on (needed "
                       "unless unicast)."});
  uint_kw<D>(instance, "virtual_router_id", 1, 255,
             "The VRID, the same on every node of this virtual router (required).",
             [](D& i, uint64_t v) { i.inst.vrid = static_cast<uint8_t>(v); });
  uint_kw<D>(instance, "priority", 1, 255,
             "Election priority, highest wins; 255 means address owner (default 100).",
             [](D& i, uint64_t v) { i.priority = static_cast<uint8_t>(v); });
  instance.add({.name = "advert_int",
                .args_doc = "<SECONDS>",
                .min_args = 1,
                .max_args = 1,
                .handler =
                    [](const Statement& st, D& i, Diagnostics& d) {
                      auto v = conf::parse_keepalived_seconds(st.args[0], d, "advert_int");
                      if (!v) return;
                      i.inst.advert_interval = *v;
                      i.advert_word = &st.args[0];
                    },
                .doc = "Advert interval: whole seconds 1..255 in v2, 0.01..40.95 in v3 "
                       "(default 1)."});
  instance.add({.name = "version",
                .args_doc = "2|3",
                .min_args = 1,
                .max_args = 1,
                .handler =
                    [](const Statement& st, D& i, Diagnostics& d) {
                      if (auto v = conf::parse_uint(st.args[0], 2, 3, d, "version")) {
                        i.version = static_cast<uint8_t>(*v);
                        i.version_word = &st.args[0];
                      }
                    },
                .doc = "VRRP version of this instance (default: global vrrp_version)."});
  bare<D>(instance, "nopreempt",
          "A higher priority backup does not take over from a running master (needs state "
          "BACKUP).",
          [](D& i) { i.nopreempt = true; });
  bare<D>(instance, "preempt", "Undoes nopreempt (the default).",
          [](D& i) { i.nopreempt = false; });
  instance.add({.name = "preempt_delay",
                .args_doc = "<SECONDS>",
                .min_args = 1,
                .max_args = 1,
                .handler =
                    [](const Statement& st, D& i, Diagnostics& d) {
                      auto v = conf::parse_keepalived_seconds(st.args[0], d, "preempt_delay");
                      if (!v) return;
                      if (*v > seconds(1000)) {
                        d.error(st.args[0].where,
                                fmt::format("preempt_delay {} is out of range", st.args[0].text),
                                "expected seconds from 0 to 1000");
                        return;
                      }
                      i.inst.preempt_delay = *v;
                    },
                .doc = "Wait this long before preempting a lower priority master, 0..1000 s "
                       "(default 0)."});
  auto src = [](std::string what) {
    return [what](const Statement& st, D& i, Diagnostics& d) {
      auto ip = parse_ip(st.args[0], d, what);
      if (!ip) return;
      if (i.inst.src_ip && *i.inst.src_ip != *ip) {
        d.error(st.args[0].where, fmt::format("a second source address '{}'", st.args[0].text),
                "give one of unicast_src_ip and mcast_src_ip");
        return;
      }
      i.inst.src_ip = *ip;
      i.src_where = st.args[0].where;
    };
  };
  instance.add({.name = "unicast_src_ip",
                .args_doc = "<ADDR>",
                .min_args = 1,
                .max_args = 1,
                .handler = src("unicast_src_ip"),
                .doc = "Source address of adverts (default: the interface's primary address)."});
  instance.add({.name = "mcast_src_ip",
                .args_doc = "<ADDR>",
                .min_args = 1,
                .max_args = 1,
                .handler = src("mcast_src_ip"),
                .doc = "Same as unicast_src_ip (keepalived treats them alike)."});
  instance.add(
      {.name = "unicast_peer",
       .args_doc = "",
       .min_args = 0,
       .max_args = 0,
       .handler =
           [](const Statement& st, D& i, Diagnostics& d) {
             i.saw_unicast_peer_block = true;
             for (const Node& n : st.children()) {
               if (n.has_block) {
                 d.error(n.block_where, "a peer line takes no block");
                 continue;
               }
               if (!n.args.empty()) {
                 const std::string& k = n.args[0].text;
                 if (k == "min_ttl" || k == "max_ttl") {
                   d.error(n.args[0].where, fmt::format("'{}' is not supported by {}", k, kProgram),
                           "use check_unicast_src to accept adverts from peers only");
                 } else {
                   d.error(n.args[0].where,
                           fmt::format("unexpected '{}' after peer '{}'", k, n.keyword.text),
                           "write one peer address per line");
                 }
                 continue;
               }
               auto ip = parse_ip(n.keyword, d, "unicast peer");
               if (!ip) continue;
               if (std::find(i.inst.unicast_peers.begin(), i.inst.unicast_peers.end(), *ip) !=
                   i.inst.unicast_peers.end()) {
                 d.error(n.keyword.where,
                         fmt::format("unicast peer {} is listed twice", n.keyword.text));
                 continue;
               }
               i.inst.unicast_peers.push_back(*ip);
             }
           },
       .doc = "Send adverts to these addresses (one per line) instead of multicast.",
       .block = BlockRule::kRequired});
  uint_kw<D>(instance, "unicast_ttl", 0, 255, "TTL / hop limit of unicast adverts (default 255).",
             [](D& i, uint64_t v) { i.inst.unicast_ttl = static_cast<uint8_t>(v); });
  bare<D>(instance, "check_unicast_src", "Drop unicast adverts whose source is not a peer.",
          [](D& i) { i.check_unicast_src = true; });
  instance.add({.name = "mcast_dst_ip",
                .args_doc = "<ADDR>",
                .min_args = 1,
                .max_args = 1,
                .handler =
                    [](const Statement& st, D& i, Diagnostics& d) {
                      auto ip = parse_ip(st.args[0], d, "mcast_dst_ip");
                      if (!ip) return;
                      bool ok =
                          ip->is_multicast() && (ip->is_v4() || (ip->bytes()[1] & 0x0f) == 0x02);
                      if (!ok) {
                        d.error(st.args[0].where,
                                fmt::format("mcast_dst_ip '{}' is not a{} multicast address",
                                            st.args[0].text, ip->is_v6() ? " link-local" : ""),
                                "the default is 224.0.0.18 or ff02::12");
                        return;
                      }
                      i.mcast_dst = *ip;
                    },
                .doc = "Multicast group of this instance (default: the global group)."});
  flag<D>(instance, "v3_checksum_as_v2",
          "VRRPv3 over IPv4: checksum without the pseudo-header, as RFC 9568 and Cisco "
          "(keepalived 2.2.8+).",
          [](D& i, bool v) { i.v3_checksum_as_v2 = v; });
  flag<D>(instance, "skip_check_adv_addr",
          "Skip the address list check for adverts from the current master.",
          [](D& i, bool v) { i.skip_check_adv_addr = v; });
  bare<D>(instance, "dont_track_primary",
          "Do not go to FAULT when the instance's own interface goes down.",
          [](D& i) { i.inst.dont_track_primary = true; });
  bare<D>(instance, "accept",
          "Accept packets to the virtual addresses when not owner (always so in tandem-vrrp).",
          [](D&) {});
  instance.add({.name = "authentication",
                .handler =
                    [this](const Statement& st, D& i, Diagnostics& d) {
                      auth.dispatch_all(st.children(), i, d);
                      if (i.inst.auth_type != AuthType::kNone && !i.saw_auth_pass) {
                        d.error(st.where(), "authentication has auth_type but no auth_pass",
                                "add 'auth_pass <PASSWORD>' (up to 8 characters)");
                      }
                    },
                .doc = "VRRPv2 simple password authentication (RFC 2338); avoid unless "
                       "unicast.",
                .block = BlockRule::kRequired,
                .nested = &auth});
  auto vips = [](bool excluded) {
    return [excluded](const Statement& st, D& i, Diagnostics& d) {
      for (const Node& n : st.children()) {
        auto v = parse_vip(n, d);
        if (!v) continue;
        auto& list = excluded ? i.inst.excluded_vips : i.inst.vips;
        auto dup = std::find_if(list.begin(), list.end(),
                                [&](const VirtualAddress& o) { return o.address == v->address; });
        if (dup != list.end()) {
          d.error(n.keyword.where,
                  fmt::format("virtual address {} is listed twice", v->address.to_string()),
                  fmt::format("the first one is at {}", dup->where.to_string()));
          continue;
        }
        list.push_back(std::move(*v));
      }
    };
  };
  instance.add({.name = "virtual_ipaddress",
                .handler = vips(false),
                .doc = "Addresses moved with mastership and sent in adverts, one per line: "
                       "`<ADDR>[/<LEN>] [dev <IFACE>] [label <LABEL>] [scope <SCOPE>] "
                       "[brd <ADDR>] [no_track]`; all of one family.",
                .block = BlockRule::kRequired});
  instance.add({.name = "virtual_ipaddress_excluded",
                .handler = vips(true),
                .doc = "Addresses moved with mastership but not sent in adverts; same line "
                       "syntax; may mix families.",
                .block = BlockRule::kRequired});
  bare<D>(instance, "no_virtual_ipaddress",
          "This instance has no virtual addresses on purpose (keepalived 2.2.8+).",
          [](D& i) { i.inst.no_virtual_ipaddress = true; });
  instance.add({.name = "virtual_routes",
                .handler =
                    [](const Statement& st, D& i, Diagnostics& d) {
                      for (const Node& n : st.children()) {
                        if (auto r = parse_route(n, d)) i.inst.routes.push_back(std::move(*r));
                      }
                    },
                .doc = "Routes added with mastership, one per line: `[src <ADDR>] [to] "
                       "<DEST>[/<LEN>] [via|gw <ADDR>] [dev <IFACE>] [metric <N>] [table <N>] "
                       "[no_track]`.",
                .block = BlockRule::kRequired});
  track_kw<D>(instance, "track_interface", 253,
              "Interfaces to watch, one per line: `<IFACE> [weight <-253..253> [reverse]]`; "
              "without weight, down means FAULT.",
              [](D& i) -> std::vector<TrackRef>& { return i.inst.track_interfaces; });
  track_kw<D>(instance, "track_script", 253,
              "vrrp_script names, one per line: `<NAME> [weight <-253..253> [reverse]]`.",
              [](D& i) -> std::vector<TrackRef>& { return i.inst.track_scripts; });
  track_kw<D>(instance, "track_file", 254,
              "track_file names, one per line: `<NAME> [weight <-254..254> [reverse]]`.",
              [](D& i) -> std::vector<TrackRef>& { return i.inst.track_files; });
  track_kw<D>(instance, "track_process", 254,
              "vrrp_track_process names, one per line: `<NAME> [weight <-254..254> "
              "[reverse]]`.",
              [](D& i) -> std::vector<TrackRef>& { return i.inst.track_processes; });
  track_kw<D>(instance, "track_proxy", 254,
              "track_proxy names, one per line: `<NAME> [weight <-254..254> [reverse]]`; "
              "without weight, a failed proxy means FAULT.",
              [](D& i) -> std::vector<TrackRef>& { return i.inst.track_proxies; });
  notify_kw<D>(instance, "notify_master", "Run on becoming MASTER.",
               [](D& i) -> std::optional<ScriptSpec>& { return i.inst.notify.master; });
  notify_kw<D>(instance, "notify_backup", "Run on becoming BACKUP.",
               [](D& i) -> std::optional<ScriptSpec>& { return i.inst.notify.backup; });
  notify_kw<D>(instance, "notify_fault", "Run on entering FAULT.",
               [](D& i) -> std::optional<ScriptSpec>& { return i.inst.notify.fault; });
  notify_kw<D>(instance, "notify_stop", "Run when the instance stops.",
               [](D& i) -> std::optional<ScriptSpec>& { return i.inst.notify.stop; });
  notify_kw<D>(instance, "notify",
               "Run on every change, with INSTANCE <NAME> <STATE> <PRIORITY> appended.",
               [](D& i) -> std::optional<ScriptSpec>& { return i.inst.notify.any; });
  notify_kw<D>(
      instance, "notify_master_rx_lower_pri",
      "Run when the master hears a lower priority advert (e.g. to reclaim a cloud "
      "address).",
      [](D& i) -> std::optional<ScriptSpec>& { return i.inst.notify.master_rx_lower_pri; });
  const uint64_t kMaxDelay = 4294;
  uint_kw<D>(instance, "garp_master_delay", 0, kMaxDelay,
             "Instance value of vrrp_garp_master_delay.",
             [](D& i, uint64_t v) { i.garp_master_delay = whole_seconds(v); });
  uint_kw<D>(instance, "garp_master_repeat", 1, UINT32_MAX,
             "Instance value of vrrp_garp_master_repeat.",
             [](D& i, uint64_t v) { i.garp_master_repeat = static_cast<uint32_t>(v); });
  uint_kw<D>(instance, "garp_master_refresh", 0, UINT32_MAX,
             "Instance value of vrrp_garp_master_refresh.",
             [](D& i, uint64_t v) { i.garp_master_refresh = whole_seconds(v); });
  uint_kw<D>(instance, "garp_master_refresh_repeat", 1, UINT32_MAX,
             "Instance value of vrrp_garp_master_refresh_repeat.",
             [](D& i, uint64_t v) { i.garp_master_refresh_repeat = static_cast<uint32_t>(v); });
  uint_kw<D>(instance, "garp_lower_prio_delay", 0, kMaxDelay,
             "Instance value of vrrp_garp_lower_prio_delay.",
             [](D& i, uint64_t v) { i.garp_lower_prio_delay = whole_seconds(v); });
  uint_kw<D>(instance, "garp_lower_prio_repeat", 0, INT32_MAX,
             "Instance value of vrrp_garp_lower_prio_repeat.",
             [](D& i, uint64_t v) { i.garp_lower_prio_repeat = static_cast<uint32_t>(v); });
  uint_kw<D>(instance, "debug", 0, 4, "Accepted and ignored (keepalived does not use it either).",
             [](D&, uint64_t) {});

  const std::string vmac =
      "VMAC and ipvlan interfaces are not implemented; tandem-vrrp moves "
      "addresses and announces them with gratuitous ARP / NA";
  for (const char* k : {"use_vmac", "use_vmac_addr", "vmac_xmit_base", "use_ipvlan",
                        "garp_extra_if", "vmac_garp_intvl"}) {
    instance.add_unsupported(k, vmac);
  }
  instance.add_unsupported("vrf", "run tandem-vrrp in the VRF instead (ip vrf exec NAME ...)");
  instance.add_unsupported("native_ipv6",
                           "deprecated in keepalived: IPv6 virtual addresses make the instance "
                           "IPv6; remove it");
  instance.add_unsupported("no_accept",
                           "no_accept mode needs firewall rules, which tandem-vrrp "
                           "does not install; remove it");
  instance.add_unsupported("strict_mode", "strict RFC mode is not implemented; remove it");
  instance.add_unsupported("virtual_rules",
                           "policy routing rules are not implemented; run 'ip rule' from a "
                           "notify script");
  instance.add_unsupported("track_bfd", "BFD is not implemented; track a script instead");
  instance.add_unsupported("smtp_alert",
                           "tandem-vrrp sends no e-mail; send it from a notify "
                           "script");
  instance.add_unsupported("notify_priority_changes", "notify FIFOs are not implemented");
  instance.add_unsupported("notify_deleted",
                           "configuration reload does not delete instances "
                           "with a notification");
  instance.add_unsupported("lvs_sync_daemon_interface",
                           "IPVS is not part of tandem; put the load balancing in tandem-lb");
  instance.add_unsupported("old_unicast_checksum",
                           "the pre-1.3.6 keepalived unicast VRRPv3 checksum is not "
                           "implemented");
  instance.add_unsupported("unicast_fault_no_peer",
                           "not needed: an instance with an empty unicast_peer block is "
                           "already an error");
  instance.add_unsupported("down_timer_adverts",
                           "the master down timer is always 3 adverts plus skew (RFC 5798)");
  instance.add_unsupported("lower_prio_no_advert",
                           "the state machine behaves as keepalived's default");
  instance.add_unsupported("higher_prio_send_advert",
                           "the state machine behaves as keepalived's default (off)");
  instance.add_unsupported("timer_expired_backup", "not implemented");
  instance.add_unsupported("kernel_rx_buf_size", "socket buffers are sized automatically");
  instance.add_unsupported("linkbeat_use_polling",
                           "tandem-vrrp follows links through netlink only");
  instance.add_unsupported("promote_secondaries",
                           "set net.ipv4.conf.IFACE.promote_secondaries with sysctl instead");
  instance.add_unsupported("track_src_ip", "not implemented");
}

void Tables::add_auth() {
  auth.add({.name = "auth_type",
            .args_doc = "PASS",
            .min_args = 1,
            .max_args = 1,
            .handler =
                [](const Statement& st, InstanceDraft& i, Diagnostics& d) {
                  const std::string& t = st.args[0].text;
                  if (t == "PASS") {
                    i.inst.auth_type = AuthType::kPass;
                    i.auth_type_word = &st.args[0];
                  } else if (t == "AH") {
                    d.error(st.args[0].where,
                            fmt::format("auth_type AH is not supported by {}", kProgram),
                            "IPsec AH authentication is not implemented; use PASS, or none");
                  } else {
                    d.error(st.args[0].where, fmt::format("unknown auth_type '{}'", t),
                            "write PASS");
                  }
                },
            .doc = "PASS: a clear-text password in each advert (AH is not supported)."});
  auth.add({.name = "auth_pass",
            .args_doc = "<PASSWORD>",
            .min_args = 1,
            .max_args = 1,
            .handler =
                [](const Statement& st, InstanceDraft& i, Diagnostics& d) {
                  std::string p = st.args[0].text;
                  if (p.size() > kAuthDataSize) {
                    d.warning(st.args[0].where,
                              fmt::format("auth_pass is longer than {} characters; only '{}' is "
                                          "used",
                                          kAuthDataSize, p.substr(0, kAuthDataSize)),
                              "keepalived truncates it the same way; shorten it to be clear");
                    p.resize(kAuthDataSize);
                  }
                  i.inst.auth_pass = p;
                  i.saw_auth_pass = true;
                },
            .doc = "The password, the same on every node; only the first 8 characters count."});
}

void Tables::add_script() {
  script.add({.name = "script",
              .args_doc = "<SCRIPT>",
              .min_args = 1,
              .max_args = kUnbounded,
              .handler =
                  [](const Statement& st, VrrpScript& s, Diagnostics& d) {
                    if (st.args.size() == 1) {
                      if (auto spec = parse_script_words(st.args[0], nullptr, nullptr, d)) {
                        spec->user = s.script.user;
                        spec->group = s.script.group;
                        s.script = std::move(*spec);
                      }
                      return;
                    }
                    // Several words: each is one argument, as keepalived.
                    s.script.argv.clear();
                    for (const Word& w : st.args) s.script.argv.push_back(w.text);
                    s.script.where = st.args[0].where;
                  },
              .doc = "The command: one quoted string split at spaces (single quotes group), "
                     "or several words."});
  uint_kw<VrrpScript>(script, "interval", 1, 4294, "Seconds between runs (default 1).",
                      [](VrrpScript& s, uint64_t v) { s.interval = whole_seconds(v); });
  uint_kw<VrrpScript>(script, "timeout", 1, 4294,
                      "Seconds after which a run counts as failed (default: the interval).",
                      [](VrrpScript& s, uint64_t v) { s.timeout = whole_seconds(v); });
  script.add({.name = "weight",
              .args_doc = "<-253..253> [reverse]",
              .min_args = 1,
              .max_args = 2,
              .handler =
                  [](const Statement& st, VrrpScript& s, Diagnostics& d) {
                    int w = 0;
                    bool rev = false;
                    if (parse_weight_tail(st.args, -253, 253, w, rev, d, "weight")) {
                      s.weight = w;
                      s.weight_reverse = rev;
                    }
                  },
              .doc = "Priority change while the check succeeds (positive) or fails (negative); "
                     "0 means failure is FAULT (default 0)."});
  uint_kw<VrrpScript>(script, "rise", 1, INT32_MAX,
                      "Successes in a row before the check counts as up (default 1).",
                      [](VrrpScript& s, uint64_t v) { s.rise = static_cast<int>(v); });
  uint_kw<VrrpScript>(script, "fall", 1, INT32_MAX,
                      "Failures in a row before the check counts as down (default 1).",
                      [](VrrpScript& s, uint64_t v) { s.fall = static_cast<int>(v); });
  script.add({.name = "user",
              .args_doc = "<USER> [<GROUP>]",
              .min_args = 1,
              .max_args = 2,
              .handler =
                  [](const Statement& st, VrrpScript& s, Diagnostics&) {
                    s.script.user = st.args[0].text;
                    if (st.args.size() > 1) s.script.group = st.args[1].text;
                  },
              .doc = "Run as this user and group (default: global script_user)."});
  bare<VrrpScript>(script, "init_fail", "Start in the failed state until the check succeeds.",
                   [](VrrpScript& s) { s.init_fail = true; });
}

void Tables::add_sync() {
  sync.add({.name = "group",
            .handler =
                [](const Statement& st, SyncGroup& g, Diagnostics& d) {
                  // keepalived reads every word of the block as a name.
                  for (const Node& n : st.children()) {
                    if (n.has_block) {
                      d.error(n.block_where, "a group member takes no block");
                      continue;
                    }
                    g.members.push_back(n.keyword.text);
                    for (const Word& w : n.args) g.members.push_back(w.text);
                  }
                },
            .doc = "The member vrrp_instance names.",
            .block = BlockRule::kRequired});
  track_kw<SyncGroup>(sync, "track_interface", 253, "As in vrrp_instance, for every member.",
                      [](SyncGroup& g) -> std::vector<TrackRef>& { return g.track_interfaces; });
  track_kw<SyncGroup>(sync, "track_script", 253, "As in vrrp_instance, for every member.",
                      [](SyncGroup& g) -> std::vector<TrackRef>& { return g.track_scripts; });
  track_kw<SyncGroup>(sync, "track_file", 254, "As in vrrp_instance, for every member.",
                      [](SyncGroup& g) -> std::vector<TrackRef>& { return g.track_files; });
  track_kw<SyncGroup>(sync, "track_process", 254, "As in vrrp_instance, for every member.",
                      [](SyncGroup& g) -> std::vector<TrackRef>& { return g.track_processes; });
  notify_kw<SyncGroup>(sync, "notify_master", "Run when the group becomes MASTER.",
                       [](SyncGroup& g) -> std::optional<ScriptSpec>& { return g.notify.master; });
  notify_kw<SyncGroup>(sync, "notify_backup", "Run when the group becomes BACKUP.",
                       [](SyncGroup& g) -> std::optional<ScriptSpec>& { return g.notify.backup; });
  notify_kw<SyncGroup>(sync, "notify_fault", "Run when the group enters FAULT.",
                       [](SyncGroup& g) -> std::optional<ScriptSpec>& { return g.notify.fault; });
  notify_kw<SyncGroup>(sync, "notify_stop", "Run when the group stops.",
                       [](SyncGroup& g) -> std::optional<ScriptSpec>& { return g.notify.stop; });
  notify_kw<SyncGroup>(sync, "notify",
                       "Run on every change, with GROUP <NAME> <STATE> <PRIORITY> appended.",
                       [](SyncGroup& g) -> std::optional<ScriptSpec>& { return g.notify.any; });
  bare<SyncGroup>(sync, "sync_group_tracking_weight",
                  "Let members keep tracking weights (otherwise they count as weight 0).",
                  [](SyncGroup& g) { g.sync_group_tracking_weight = true; });
  sync.add_unsupported("global_tracking",
                       "deprecated in keepalived; use sync_group_tracking_weight");
  sync.add_unsupported("track_bfd", "BFD is not implemented; track a script instead");
  sync.add_unsupported("smtp_alert", "tandem-vrrp sends no e-mail; send it from a notify script");
  sync.add_unsupported("notify_priority_changes", "notify FIFOs are not implemented");
  sync.add_unsupported("notify_deleted",
                       "configuration reload does not delete instances with a "
                       "notification");
}

void Tables::add_track_file() {
  track_file.add(
      {.name = "file",
       .args_doc = "<PATH>",
       .min_args = 1,
       .max_args = 1,
       .handler = [](const Statement& st, TrackFile& f, Diagnostics&) { f.path = st.args[0].text; },
       .doc = "The file to read."});
  track_file.add({.name = "weight",
                  .args_doc = "<-254..254> [reverse]",
                  .min_args = 1,
                  .max_args = 2,
                  .handler =
                      [](const Statement& st, TrackFile& f, Diagnostics& d) {
                        int w = 0;
                        bool rev = false;
                        if (parse_weight_tail(st.args, -254, 254, w, rev, d, "weight")) {
                          f.weight = w;
                          f.weight_reverse = rev;
                        }
                      },
                  .doc = "Multiplies the number read; 0 means non-zero is FAULT (default 1)."});
  track_file.add(
      {.name = "init_file",
       .args_doc = "[<VALUE>] [overwrite]",
       .min_args = 0,
       .max_args = 2,
       .handler =
           [](const Statement& st, TrackFile& f, Diagnostics& d) {
             f.init_value = 0;
             for (const Word& w : st.args) {
               if (w.text == "overwrite") {
                 f.init_overwrite = true;
               } else if (auto v = conf::parse_int(w, INT32_MIN, INT32_MAX, d, "init_file value")) {
                 f.init_value = *v;
               }
             }
           },
       .doc = "Create the file with VALUE (default 0) if missing, or always with "
              "overwrite."});
}

void Tables::add_track_proxy() {
  track_proxy.add({.name = "pidfile",
                   .args_doc = "<PATH>",
                   .min_args = 1,
                   .max_args = 1,
                   .handler = [](const Statement& st, TrackProxy& p,
                                 Diagnostics&) { p.pidfile = st.args[0].text; },
                   .doc = "The proxy's pid file; watched, so a restarted proxy is followed."});
  track_proxy.add({.name = "process",
                   .args_doc = "<NAME>",
                   .min_args = 1,
                   .max_args = 1,
                   .handler = [](const Statement& st, TrackProxy& p,
                                 Diagnostics&) { p.process = st.args[0].text; },
                   .doc = "Or the proxy's process name (as in /proc/PID/comm)."});
  track_proxy.add(
      {.name = "listen",
       .args_doc = "<ADDR>:<PORT>",
       .min_args = 1,
       .max_args = 1,
       .handler =
           [](const Statement& st, TrackProxy& p, Diagnostics& d) {
             const std::string& t = st.args[0].text;
             // IPv6 as [ADDR]:PORT, IPv4 as ADDR:PORT.
             std::string host, port;
             if (!t.empty() && t[0] == '[') {
               auto close = t.find("]:");
               if (close != std::string::npos) {
                 host = t.substr(1, close - 1);
                 port = t.substr(close + 2);
               }
             } else if (auto colon = t.rfind(':'); colon != std::string::npos) {
               host = t.substr(0, colon);
               port = t.substr(colon + 1);
             }
             auto ip = IpAddress::parse(host);
             int n = 0;
             auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
             if (!ip || ec != std::errc() || ptr != port.data() + port.size() || n < 1 ||
                 n > 65535) {
               d.error(st.args[0].where, fmt::format("'{}' is no address and port", t),
                       "write 127.0.0.1:80 or [::1]:80");
               return;
             }
             p.listens.push_back({*ip, static_cast<uint16_t>(n), st.args[0].where});
           },
       .doc = "An address the proxy listens on; it must accept a connection (repeatable)."});
  track_proxy.add({.name = "stats_socket",
                   .args_doc = "<PATH>",
                   .min_args = 1,
                   .max_args = 1,
                   .handler = [](const Statement& st, TrackProxy& p,
                                 Diagnostics&) { p.stats_socket = st.args[0].text; },
                   .doc = "The proxy's stats socket (HAProxy's or tandem-lb's), read every "
                          "interval for the backends' state."});
  track_proxy.add({.name = "backend",
                   .args_doc = "<NAME>...",
                   .min_args = 1,
                   .max_args = kUnbounded,
                   .handler =
                       [](const Statement& st, TrackProxy& p, Diagnostics&) {
                         for (const auto& w : st.args) p.backends.push_back(w.text);
                       },
                   .doc = "Backends that must have a server UP (needs stats_socket)."});
  timer_kw<TrackProxy>(track_proxy, "interval",
                       "How often the listeners are probed (default 0.1 s).",
                       [](TrackProxy& p, Duration v) { p.interval = v; });
  timer_kw<TrackProxy>(track_proxy, "timeout",
                       "How long one probe may take to connect (default 0.1 s).",
                       [](TrackProxy& p, Duration v) { p.timeout = v; });
  uint_kw<TrackProxy>(track_proxy, "rise", 1, 100,
                      "Successful probes in a row for a failed proxy to count as up (default 1).",
                      [](TrackProxy& p, uint64_t v) { p.rise = static_cast<uint32_t>(v); });
  uint_kw<TrackProxy>(track_proxy, "fall", 1, 100,
                      "Failed probes in a row for the proxy to count as down (default 1).",
                      [](TrackProxy& p, uint64_t v) { p.fall = static_cast<uint32_t>(v); });
  track_proxy.add({.name = "weight",
                   .args_doc = "<-254..254> [reverse]",
                   .min_args = 1,
                   .max_args = 2,
                   .handler =
                       [](const Statement& st, TrackProxy& p, Diagnostics& d) {
                         int w = 0;
                         bool rev = false;
                         if (parse_weight_tail(st.args, -254, 254, w, rev, d, "weight")) {
                           p.weight = w;
                           p.weight_reverse = rev;
                         }
                       },
                   .doc = "Priority change when the proxy fails; 0 means FAULT (default 0)."});
}

void Tables::add_track_process() {
  track_process.add({.name = "process",
                     .args_doc = "<NAME> [<PARAM>...]",
                     .min_args = 1,
                     .max_args = kUnbounded,
                     .handler =
                         [](const Statement& st, TrackProcess& p, Diagnostics&) {
                           p.process = st.args[0].text;
                           p.params.clear();
                           for (size_t k = 1; k < st.args.size(); ++k)
                             p.params.push_back(st.args[k].text);
                           if (!p.params.empty()) {
                             p.full_command = true;
                             if (p.param_match == ParamMatch::kNone)
                               p.param_match = ParamMatch::kExact;
                           }
                         },
                     .doc = "Process name (as in /proc/PID/comm), or command and parameters."});
  track_process.add({.name = "param_match",
                     .args_doc = "[initial|partial]",
                     .min_args = 0,
                     .max_args = 1,
                     .handler =
                         [](const Statement& st, TrackProcess& p, Diagnostics& d) {
                           if (st.args.empty()) {
                             p.param_match = ParamMatch::kExact;
                           } else if (st.args[0].text == "initial") {
                             p.param_match = ParamMatch::kInitial;
                           } else if (st.args[0].text == "partial") {
                             p.param_match = ParamMatch::kPartial;
                           } else {
                             d.error(st.args[0].where,
                                     fmt::format("unknown param_match '{}'", st.args[0].text),
                                     "write initial or partial, or nothing for an exact match");
                             return;
                           }
                           p.full_command = true;
                         },
                     .doc = "Match the parameters exactly (no argument), the first ones "
                            "(partial), or as a prefix (initial)."});
  track_process.add({.name = "weight",
                     .args_doc = "<-254..254> [reverse]",
                     .min_args = 1,
                     .max_args = 2,
                     .handler =
                         [](const Statement& st, TrackProcess& p, Diagnostics& d) {
                           int w = 0;
                           bool rev = false;
                           if (parse_weight_tail(st.args, -254, 254, w, rev, d, "weight")) {
                             p.weight = w;
                             p.weight_reverse = rev;
                           }
                         },
                     .doc = "Priority change; 0 means too few processes is FAULT (default 0)."});
  uint_kw<TrackProcess>(track_process, "quorum", 1, 65535,
                        "Fewest matching processes for success (default 1).",
                        [](TrackProcess& p, uint64_t v) { p.quorum = static_cast<uint32_t>(v); });
  uint_kw<TrackProcess>(
      track_process, "quorum_max", 0, 65535,
      "Most matching processes for success (default unlimited).",
      [](TrackProcess& p, uint64_t v) { p.quorum_max = static_cast<uint32_t>(v); });
  timer_kw<TrackProcess>(track_process, "delay", "Sets fork_delay and terminate_delay.",
                         [](TrackProcess& p, Duration v) {
                           p.fork_delay = v;
                           p.terminate_delay = v;
                         });
  timer_kw<TrackProcess>(track_process, "fork_delay",
                         "Wait this long after quorum is gained before counting it.",
                         [](TrackProcess& p, Duration v) { p.fork_delay = v; });
  timer_kw<TrackProcess>(track_process, "terminate_delay",
                         "Wait this long after quorum is lost before counting it.",
                         [](TrackProcess& p, Duration v) { p.terminate_delay = v; });
  bare<TrackProcess>(track_process, "full_command",
                     "Match the full command line (/proc/PID/cmdline) instead of the name.",
                     [](TrackProcess& p) { p.full_command = true; });
}

// ---------------------------------------------------------------------------------------------
// Whole-configuration checks, once every block is read.

void finish_instance(InstanceDraft& dr, const GlobalDefs& g, Diagnostics& d) {
  Instance& in = dr.inst;
  const std::string& n = in.name;

  if (in.vrid == 0) {
    d.error(in.where, fmt::format("vrrp_instance '{}' has no virtual_router_id", n),
            "add 'virtual_router_id <1..255>', the same on every node of this virtual router");
  }

  // Family: from the virtual addresses, else the source or peers; IPv4 when nothing says.
  std::optional<Family> family;
  for (const VirtualAddress& v : in.vips) {
    if (!family) {
      family = v.address.family();
    } else if (v.address.family() != *family) {
      d.error(v.where,
              fmt::format("virtual address {} is {} but the instance's first one is {}",
                          v.address.to_string(), to_string(v.address.family()), to_string(*family)),
              "all virtual_ipaddress entries of an instance are of one family (as in "
              "keepalived): make a second instance for the other family, or list it under "
              "virtual_ipaddress_excluded");
    }
  }
  if (!family && in.src_ip) family = in.src_ip->family();
  if (!family && !in.unicast_peers.empty()) family = in.unicast_peers.front().family();
  in.family = family.value_or(Family::kIpv4);

  if (in.src_ip && in.src_ip->family() != in.family) {
    d.error(dr.src_where,
            fmt::format("source address {} is {} but the instance is {}", in.src_ip->to_string(),
                        to_string(in.src_ip->family()), to_string(in.family)),
            "the source address, the peers and the virtual addresses are of one family");
  }
  for (const IpAddress& p : in.unicast_peers) {
    if (p.family() != in.family) {
      d.error(in.where,
              fmt::format("unicast peer {} is {} but the instance is {}", p.to_string(),
                          to_string(p.family()), to_string(in.family)),
              "the source address, the peers and the virtual addresses are of one family");
    }
  }

  // Unicast.
  in.unicast = !in.unicast_peers.empty();
  if (dr.saw_unicast_peer_block && in.unicast_peers.empty()) {
    d.error(in.where, fmt::format("vrrp_instance '{}' has an empty unicast_peer block", n),
            "an empty unicast_peer block makes the instance multicast, which is rarely meant "
            "(keepalived 2.2.4 and older fall back silently): list the peer addresses, or "
            "remove the block for multicast");
  }
  if (in.unicast_ttl && !in.unicast) {
    d.error(in.where, "unicast_ttl without unicast peers",
            "unicast_ttl applies only to unicast adverts: add peers or remove it");
  }
  in.check_unicast_src = dr.check_unicast_src.value_or(g.vrrp_check_unicast_src);
  in.skip_check_adv_addr = dr.skip_check_adv_addr.value_or(g.vrrp_skip_check_adv_addr);
  in.v3_checksum_as_v2 = dr.v3_checksum_as_v2.value_or(g.v3_checksum_as_v2);
  if (dr.mcast_dst && dr.mcast_dst->family() != in.family) {
    d.error(
        in.where,
        fmt::format("mcast_dst_ip {} is not {}", dr.mcast_dst->to_string(), to_string(in.family)),
        "the multicast group is of the instance's family");
  }
  in.mcast_group = dr.mcast_dst && dr.mcast_dst->family() == in.family
                       ? *dr.mcast_dst
                       : (in.family == Family::kIpv4 ? g.vrrp_mcast_group4 : g.vrrp_mcast_group6);

  if (in.interface.empty()) {
    if (!in.unicast) {
      d.error(in.where, fmt::format("vrrp_instance '{}' has no interface", n),
              "add 'interface <IFACE>': multicast adverts need one");
    } else {
      for (const auto* list : {&in.vips, &in.excluded_vips}) {
        for (const VirtualAddress& v : *list) {
          if (v.dev.empty()) {
            d.error(v.where,
                    fmt::format("virtual address {} has no dev and the instance no interface",
                                v.address.to_string()),
                    "add 'dev <IFACE>' to the address, or 'interface <IFACE>' to the instance");
          }
        }
      }
    }
  }

  // Version: the instance's, else the global one; IPv6 needs 3, as keepalived.
  in.version = dr.version.value_or(g.vrrp_version);
  if (in.family == Family::kIpv6 && in.version == 2) {
    if (dr.version) {
      d.warning(dr.version_word->where,
                fmt::format("vrrp_instance '{}' is IPv6, which needs VRRP version 3; using 3", n),
                "VRRPv2 is IPv4 only (RFC 3768): write 'version 3'");
    }
    in.version = 3;
  }

  // Advert interval: v2 carries whole seconds, v3 centiseconds.
  const core::SourceLocation& adv_where = dr.advert_word ? dr.advert_word->where : in.where;
  auto adv = in.advert_interval;
  if (in.version == 2) {
    if (adv < seconds(1) || adv > seconds(255) || adv % seconds(1) != Duration::zero()) {
      d.error(adv_where,
              fmt::format("advert_int {} is not valid for VRRP version 2",
                          dr.advert_word ? dr.advert_word->text : "?"),
              "VRRPv2 adverts carry whole seconds from 1 to 255 (keepalived rounds); use "
              "'version 3' for sub-second intervals");
    }
  } else {
    using std::chrono::milliseconds;
    if (adv < milliseconds(10) || adv > milliseconds(40950) ||
        adv % milliseconds(10) != Duration::zero()) {
      d.error(adv_where,
              fmt::format("advert_int {} is not valid for VRRP version 3",
                          dr.advert_word ? dr.advert_word->text : "?"),
              "VRRPv3 adverts carry hundredths of a second from 0.01 to 40.95 (keepalived "
              "rounds)");
    }
  }

  // Authentication: VRRPv2 only.
  if (in.auth_type != AuthType::kNone && in.version == 3) {
    d.warning(dr.auth_type_word ? dr.auth_type_word->where : in.where,
              fmt::format("vrrp_instance '{}' uses VRRP version 3, which has no "
                          "authentication; it is ignored",
                          n),
              "remove the authentication block (keepalived ignores it too)");
    in.auth_type = AuthType::kNone;
    in.auth_pass.clear();
  }

  // No virtual addresses.
  if (in.vips.empty() && !in.no_virtual_ipaddress) {
    if (in.version == 3) {
      d.error(in.where, fmt::format("vrrp_instance '{}' has no virtual_ipaddress", n),
              "VRRPv3 adverts need at least one address (keepalived refuses it too); add "
              "virtual_ipaddress, or 'no_virtual_ipaddress' if that is meant");
    } else {
      d.warning(in.where, fmt::format("vrrp_instance '{}' has no virtual_ipaddress", n),
                "add 'no_virtual_ipaddress' if that is meant");
    }
  }
  if (in.family == Family::kIpv6 && !in.unicast && !in.vips.empty() &&
      !in.vips.front().address.is_link_local()) {
    d.warning(in.vips.front().where,
              "the first IPv6 virtual address of a multicast instance is not link-local",
              "RFC 5798 section 5.2.9 wants a link-local address first (keepalived warns too)");
  }
  if (in.vips.size() > 255) {
    d.error(in.vips[255].where, "more than 255 virtual addresses",
            "an advert carries at most 255; move the rest to virtual_ipaddress_excluded");
  }

  // Priority, initial state and preemption, as keepalived.
  bool master = dr.state_master.value_or(false);
  in.priority = dr.priority.value_or(master ? 255 : 100);
  in.start_as_master = dr.state_master ? master : in.priority == 255;
  in.preempt = !dr.nopreempt;
  if (dr.nopreempt && in.priority == 255) {
    d.warning(in.where,
              fmt::format("vrrp_instance '{}': nopreempt has no effect with priority 255", n),
              "the address owner always takes over (keepalived clears nopreempt too)");
    in.preempt = true;
  } else if (dr.nopreempt && in.start_as_master) {
    d.warning(in.where,
              fmt::format("vrrp_instance '{}': nopreempt does not work with state MASTER; "
                          "ignored",
                          n),
              "write 'state BACKUP' on every node for nopreempt (keepalived clears it too)");
    in.preempt = true;
  }
  if (in.preempt_delay > Duration::zero()) {
    if (in.start_as_master) {
      d.warning(in.where,
                fmt::format("vrrp_instance '{}': preempt_delay does not work with state "
                            "MASTER; ignored",
                            n),
                "write 'state BACKUP' for preempt_delay (keepalived clears it too)");
      in.preempt_delay = Duration::zero();
    } else if (!in.preempt) {
      d.warning(in.where,
                fmt::format("vrrp_instance '{}': preempt_delay has no effect with nopreempt", n),
                "remove one of them (keepalived clears preempt_delay)");
      in.preempt_delay = Duration::zero();
    }
  }

  // Gratuitous ARP settings fall back to the global ones.
  in.garp_master_delay = dr.garp_master_delay.value_or(g.vrrp_garp_master_delay);
  in.garp_master_repeat = dr.garp_master_repeat.value_or(g.vrrp_garp_master_repeat);
  in.garp_master_refresh = dr.garp_master_refresh.value_or(g.vrrp_garp_master_refresh);
  in.garp_master_refresh_repeat =
      dr.garp_master_refresh_repeat.value_or(g.vrrp_garp_master_refresh_repeat);
  in.garp_lower_prio_delay = dr.garp_lower_prio_delay.value_or(
      g.vrrp_garp_lower_prio_delay.value_or(g.vrrp_garp_master_delay));
  in.garp_lower_prio_repeat = dr.garp_lower_prio_repeat.value_or(
      g.vrrp_garp_lower_prio_repeat.value_or(g.vrrp_garp_master_repeat));
  if (g.vrrp_min_garp) {
    // keepalived: one message and no second burst, unless set per instance.
    if (!dr.garp_master_repeat) in.garp_master_repeat = 1;
    if (!dr.garp_master_delay) in.garp_master_delay = Duration::zero();
  }
}

template <class T>
void check_refs(const std::vector<TrackRef>& refs, const std::vector<T>& defined,
                std::string_view kind, std::string_view block, Diagnostics& d) {
  for (const TrackRef& r : refs) {
    bool found =
        std::any_of(defined.begin(), defined.end(), [&](const T& x) { return x.name == r.name; });
    if (!found) {
      std::string hint = fmt::format("define it with '{} {} {{ ... }}'", kind, r.name);
      if (!defined.empty()) {
        std::vector<std::string> names;
        for (const T& x : defined) names.push_back(x.name);
        hint += fmt::format("; defined: {}", fmt::join(names, ", "));
      }
      d.error(r.where, fmt::format("{} '{}' names no {}", block, r.name, kind), hint);
    }
  }
}

// Two instances clash when they would receive each other's adverts: same interface, family
// and VRID, and both multicast to one group, or unicast with a common peer.
void check_vrid_clashes(const std::vector<Instance>& all, Diagnostics& d) {
  for (size_t a = 0; a < all.size(); ++a) {
    for (size_t b = a + 1; b < all.size(); ++b) {
      const Instance& x = all[a];
      const Instance& y = all[b];
      if (x.vrid == 0 || x.vrid != y.vrid || x.family != y.family || x.interface != y.interface)
        continue;
      bool clash = false;
      if (!x.unicast && !y.unicast) {
        clash = x.mcast_group == y.mcast_group;
      } else if (x.unicast && y.unicast) {
        for (const IpAddress& p : x.unicast_peers) {
          if (std::find(y.unicast_peers.begin(), y.unicast_peers.end(), p) != y.unicast_peers.end())
            clash = true;
        }
      }
      if (clash) {
        d.error(y.where,
                fmt::format("vrrp_instance '{}' uses VRID {} on {} like '{}'", y.name, y.vrid,
                            y.interface.empty() ? "the same peers" : y.interface, x.name),
                fmt::format("'{}' is at {}; give one of them another virtual_router_id", x.name,
                            x.where.to_string()));
      }
    }
  }
}

void finish(Draft& draft, Diagnostics& d) {
  Config& c = draft.cfg;
  for (InstanceDraft& dr : draft.instances) {
    finish_instance(dr, c.global, d);
    c.instances.push_back(std::move(dr.inst));
  }
  check_vrid_clashes(c.instances, d);

  for (const Instance& in : c.instances) {
    check_refs(in.track_scripts, c.scripts, "vrrp_script", "track_script", d);
    check_refs(in.track_files, c.track_files, "track_file", "track_file", d);
    check_refs(in.track_processes, c.track_processes, "vrrp_track_process", "track_process", d);
    check_refs(in.track_proxies, c.track_proxies, "track_proxy", "track_proxy", d);
  }
  std::map<std::string, const SyncGroup*> member_of;
  for (const SyncGroup& g : c.sync_groups) {
    check_refs(g.track_scripts, c.scripts, "vrrp_script", "track_script", d);
    check_refs(g.track_files, c.track_files, "track_file", "track_file", d);
    check_refs(g.track_processes, c.track_processes, "vrrp_track_process", "track_process", d);
    std::set<std::string> seen;
    for (const std::string& m : g.members) {
      bool known = std::any_of(c.instances.begin(), c.instances.end(),
                               [&](const Instance& i) { return i.name == m; });
      if (!known) {
        d.error(g.where,
                fmt::format("vrrp_sync_group '{}' names unknown vrrp_instance '{}'", g.name, m),
                "group members are vrrp_instance names");
        continue;
      }
      if (!seen.insert(m).second) {
        d.error(g.where, fmt::format("vrrp_sync_group '{}' lists '{}' twice", g.name, m));
        continue;
      }
      auto [it, fresh] = member_of.emplace(m, &g);
      if (!fresh) {
        d.error(g.where,
                fmt::format("vrrp_instance '{}' is in vrrp_sync_group '{}' and '{}'", m,
                            it->second->name, g.name),
                "an instance belongs to one sync group at most");
      }
    }
    if (g.members.size() == 1) {
      d.warning(g.where, fmt::format("vrrp_sync_group '{}' has only one member", g.name),
                "a sync group ties several instances together; one alone needs no group");
    }
  }
}

}  // namespace

std::string_view to_string(Scope s) {
  switch (s) {
    case Scope::kGlobal:
      return "global";
    case Scope::kSite:
      return "site";
    case Scope::kLink:
      return "link";
    case Scope::kHost:
      return "host";
    case Scope::kNowhere:
      return "nowhere";
  }
  return "?";
}

std::optional<std::vector<std::string>> split_script(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  bool quoted = false;
  for (char c : text) {
    if (quoted) {
      if (c == '\'') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c == '\'') {
      quoted = true;
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) out.push_back(std::move(cur));
      cur.clear();
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (quoted) return std::nullopt;
  if (in_word) out.push_back(std::move(cur));
  return out;
}

Config build_config(const std::vector<conf::Node>& nodes, core::Diagnostics& diags) {
  Draft draft;
  tables().top.dispatch_all(nodes, draft, diags);
  finish(draft, diags);
  return std::move(draft.cfg);
}

Config load_config(const std::string& path, core::Diagnostics& diags,
                   const conf::IncludeOptions& opts) {
  return build_config(conf::load_keepalived(path, diags, opts), diags);
}

std::string keyword_reference_markdown() {
  return tables().top.markdown(3);
}

FsmConfig fsm_config(const Instance& instance, const IpAddress& interface_primary) {
  FsmConfig f;
  f.version = instance.version;
  f.priority = instance.priority;
  f.advert_interval = instance.advert_interval;
  f.preempt = instance.preempt;
  f.preempt_delay = instance.preempt_delay;
  f.start_as_master = instance.start_as_master;
  f.primary = instance.src_ip.value_or(interface_primary);
  return f;
}

}  // namespace tandem::vrrp
