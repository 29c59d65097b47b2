#include "app/check.h"

#include <fstream>
#include <set>

#include <fmt/format.h>

#include "core/process.h"
#include "lb/config.h"
#include "vrrp/config.h"

namespace tandem::app {

namespace {

using vrrp::Instance;

bool sysctl_on(const std::string& root, const std::string& name) {
  std::ifstream in(root + "/" + name);
  int v = 0;
  return in >> v && v != 0;
}

void check_scripts(const vrrp::Config& c, core::Diagnostics& d) {
  auto check = [&](const vrrp::ScriptSpec& s, std::string_view what) {
    if (s.argv.empty() || s.argv[0].find('/') == std::string::npos) return;
    uint32_t uid = 0;
    if (auto user = s.user ? s.user : c.global.script_user) {
      auto u = core::lookup_uid(*user);
      if (!u) {
        d.error(s.where, fmt::format("{}: {}", what, u.error().message),
                "create the user or name another with script_user");
        return;
      }
      uid = *u;
    }
    auto ok = core::check_script(s.argv[0], c.global.enable_script_security, uid);
    if (!ok)
      d.error(s.where, fmt::format("{}: {}", what, ok.error().message),
              c.global.enable_script_security
                  ? "tandem-vrrp refuses to start with it (enable_script_security is on)"
                  : "tandem-vrrp refuses to start with it");
  };
  for (const auto& s : c.scripts) check(s.script, "vrrp_script " + s.name);
  for (const auto& i : c.instances)
    for (const auto* n : {&i.notify.master, &i.notify.backup, &i.notify.fault, &i.notify.stop,
                          &i.notify.any, &i.notify.master_rx_lower_pri})
      if (*n) check(**n, "notify script of " + i.name);
}

// Frontends that bind a virtual address need it on the node, which only the master has:
// the backup's proxy can bind it only with ip_nonlocal_bind.
void check_binds(const vrrp::Config& v, const lb::Config& l, const std::string& sysctl_root,
                 core::Diagnostics& d) {
  std::set<std::string> vips;
  for (const auto& i : v.instances)
    for (const auto& vip : i.vips) vips.insert(vip.address.to_string());
  bool bound_to_vip = false;
  for (const auto& p : l.proxies) {
    for (const auto& b : p.binds) {
      if (b.address.kind != lb::Address::Kind::kIpv4 && b.address.kind != lb::Address::Kind::kIpv6)
        continue;
      if (b.address.wildcard) {
        d.note(b.where, fmt::format("{} {} binds every address: it serves the virtual addresses "
                                    "whichever node holds them",
                                    lb::to_string(p.kind), p.name));
        continue;
      }
      if (vips.count(b.address.host)) {
        bound_to_vip = true;
        const bool v6 = b.address.kind == lb::Address::Kind::kIpv6;
        const std::string knob = v6 ? "net/ipv6/ip_nonlocal_bind" : "net/ipv4/ip_nonlocal_bind";
        if (!sysctl_on(sysctl_root, knob))
          d.error(b.where,
                  fmt::format("{} {} binds the virtual address {}, which the backup node does "
                              "not have: its proxy cannot start",
                              lb::to_string(p.kind), p.name, b.address.host),
                  fmt::format("set {}=1 (sysctl -w {}=1) on both nodes, or bind *:{}",
                              v6 ? "net.ipv6.ip_nonlocal_bind" : "net.ipv4.ip_nonlocal_bind",
                              v6 ? "net.ipv6.ip_nonlocal_bind" : "net.ipv4.ip_nonlocal_bind",
                              b.address.port_first));
        continue;
      }
      d.warning(b.where,
                fmt::format("{} {} binds {}, which is no virtual address of this node's "
                            "keepalived.conf: clients of the virtual address will not reach it",
                            lb::to_string(p.kind), p.name, b.address.host),
                "bind the virtual address, or *");
    }
  }
  (void)bound_to_vip;
}

// track_proxy watches the local proxy: what it probes must be what haproxy.cfg serves, or
// the proxy is "failed" from the start and the node never becomes master.
void check_track_proxy(const vrrp::Config& v, const lb::Config& l, core::Diagnostics& d) {
  auto is_loopback = [](const std::string& host) {
    return host.rfind("127.", 0) == 0 || host == "::1";
  };
  for (const auto& t : v.track_proxies) {
    for (const auto& listen : t.listens) {
      const std::string host = listen.address.to_string();
      bool served = false;
      for (const auto& p : l.proxies)
        for (const auto& b : p.binds) {
          const auto& a = b.address;
          if (a.kind != lb::Address::Kind::kIpv4 && a.kind != lb::Address::Kind::kIpv6) continue;
          if (listen.port < a.port_first || listen.port > a.port_last) continue;
          // A wildcard bind of the listen's family also accepts on loopback and on the VIPs.
          const bool same_family = (a.kind == lb::Address::Kind::kIpv6) == listen.address.is_v6();
          if (a.host == host || (a.wildcard && (same_family || a.kind == lb::Address::Kind::kIpv6)))
            served = true;
        }
      if (!served)
        d.error(listen.where,
                fmt::format("track_proxy {} probes {}:{}, which no frontend of the proxy's "
                            "configuration binds: the proxy would count as failed at all times",
                            t.name, host, listen.port),
                is_loopback(host) ? "probe a port a frontend binds with *, or bind it on loopback"
                                  : "probe an address and port that a frontend binds");
    }
    for (const auto& be : t.backends) {
      bool found = false;
      for (const auto& p : l.proxies)
        if (p.name == be &&
            (p.kind == lb::Proxy::Kind::kBackend || p.kind == lb::Proxy::Kind::kListen))
          found = true;
      if (!found)
        d.error(t.where,
                fmt::format("track_proxy {} watches backend {}, which the proxy's "
                            "configuration does not have",
                            t.name, be),
                "name a backend or listen section of haproxy.cfg");
    }
    if (t.stats_socket) {
      bool found = false;
      for (const auto& s : l.global.stats_sockets)
        if (s.address.kind == lb::Address::Kind::kUnix && s.address.host == *t.stats_socket)
          found = true;
      if (!found)
        d.error(t.where,
                fmt::format("track_proxy {} asks the stats socket {}, which the proxy's "
                            "configuration does not open",
                            t.name, *t.stats_socket),
                "add `stats socket " + *t.stats_socket + "` to its global section");
    }
    if (t.pidfile && !l.global.pidfile.empty() && *t.pidfile != l.global.pidfile)
      d.warning(t.where,
                fmt::format("track_proxy {} reads the pid file {}, but the proxy writes {}", t.name,
                            *t.pidfile, l.global.pidfile),
                "name the same file in both (or the service manager's pid file in both)");
  }
}

const Instance* find_vrid(const vrrp::Config& c, const Instance& like) {
  for (const auto& i : c.instances)
    if (i.vrid == like.vrid && i.family == like.family) return &i;
  return nullptr;
}

// The two nodes' instances must agree on what makes them one virtual router.
void check_pair(const vrrp::Config& a, const vrrp::Config& b, core::Diagnostics& d) {
  for (const auto& x : a.instances) {
    const Instance* y = find_vrid(b, x);
    if (!y) {
      d.error(x.where,
              fmt::format("{}: the other node has no instance with VRID {}", x.name, x.vrid),
              "both nodes need the same virtual_router_id for one virtual address");
      continue;
    }
    auto mismatch = [&](std::string_view what, const std::string& mine, const std::string& theirs) {
      if (mine != theirs)
        d.error(x.where,
                fmt::format("{}: {} is {} here but {} on the other node ({})", x.name, what, mine,
                            theirs, y->where.to_string()),
                "the two nodes must agree, or they will not see each other's adverts");
    };
    mismatch("the VRRP version", std::to_string(x.version), std::to_string(y->version));
    mismatch(
        "advert_int",
        fmt::format(
            "{}ms",
            std::chrono::duration_cast<std::chrono::milliseconds>(x.advert_interval).count()),
        fmt::format(
            "{}ms",
            std::chrono::duration_cast<std::chrono::milliseconds>(y->advert_interval).count()));
    mismatch("the mode", x.unicast ? "unicast" : "multicast", y->unicast ? "unicast" : "multicast");
    if (x.version == 2) {
      mismatch("auth_type", std::to_string(static_cast<int>(x.auth_type)),
               std::to_string(static_cast<int>(y->auth_type)));
      if (x.auth_pass.substr(0, 8) != y->auth_pass.substr(0, 8))
        d.error(x.where, fmt::format("{}: auth_pass differs from the other node's", x.name),
                "both nodes need the same password (its first 8 characters)");
    }
    std::set<std::string> vx, vy;
    for (const auto& v : x.vips) vx.insert(v.address.to_string());
    for (const auto& v : y->vips) vy.insert(v.address.to_string());
    if (vx != vy)
      d.error(x.where, fmt::format("{}: virtual_ipaddress differs from the other node's", x.name),
              "both nodes must carry the same virtual addresses");
    if (x.unicast && y->unicast) {
      // Each node's source must be among the other's peers.
      auto in_peers = [](const Instance& from, const Instance& to) {
        if (!from.src_ip) return true;  // the interface's address: cannot know it here
        for (const auto& p : to.unicast_peers)
          if (p == *from.src_ip) return true;
        return false;
      };
      if (!in_peers(x, *y))
        d.error(x.where,
                fmt::format("{}: unicast_src_ip {} is not among the other node's unicast_peer",
                            x.name, x.src_ip->to_string()),
                "the other node drops adverts from addresses it does not list");
      if (!in_peers(*y, x))
        d.error(x.where,
                fmt::format("{}: the other node's unicast_src_ip {} is not among this node's "
                            "unicast_peer",
                            x.name, y->src_ip->to_string()),
                "list each node in the other's unicast_peer block");
    }
    if (x.priority == y->priority)
      d.warning(x.where,
                fmt::format("{}: both nodes have priority {}: the higher address wins ties", x.name,
                            x.priority),
                "give the node that should be master the higher priority");
  }
}

}  // namespace

core::Diagnostics check_node(const CheckOptions& o) {
  core::Diagnostics d;
  auto v = vrrp::load_config(o.vrrp_config, d);
  if (!d.has_errors()) check_scripts(v, d);
  if (!o.lb_configs.empty()) {
    core::Diagnostics ld;
    auto l = lb::load_config(o.lb_configs, ld);
    d.append(ld);
    if (!ld.has_errors()) {
      check_binds(v, l, o.sysctl_root, d);
      check_track_proxy(v, l, d);
    }
  }
  if (o.peer_vrrp) {
    core::Diagnostics pd;
    auto peer = vrrp::load_config(*o.peer_vrrp, pd);
    d.append(pd);
    if (!pd.has_errors()) check_pair(v, peer, d);
  }
  return d;
}

int run_check(const CheckOptions& o) {
  auto d = check_node(o);
  fmt::print("{}", d.to_string());
  fmt::print("tandem check: {} error(s), {} warning(s)\n", d.error_count(), d.warning_count());
  return d.has_errors() ? 1 : 0;
}

}  // namespace tandem::app
