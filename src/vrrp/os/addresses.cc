#include "vrrp/os/addresses.h"

// <net/if.h> before the kernel headers: the other order redefines the IFF_* flags.
#include <net/if.h>

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

namespace tandem::vrrp::os {

static_assert(kScopeUniverse == RT_SCOPE_UNIVERSE && kScopeSite == RT_SCOPE_SITE &&
              kScopeLink == RT_SCOPE_LINK && kScopeHost == RT_SCOPE_HOST);
static_assert(kAddrFlagSecondary == IFA_F_SECONDARY && kAddrFlagNoDad == IFA_F_NODAD &&
              kAddrFlagDadFailed == IFA_F_DADFAILED && kAddrFlagTentative == IFA_F_TENTATIVE &&
              kAddrFlagPermanent == IFA_F_PERMANENT);
static_assert(RT_TABLE_MAIN == 254);

std::string AddressSpec::to_string() const {
  std::string s = address.to_string() + "/" + std::to_string(prefix_len) + " dev " + dev;
  if (!label.empty()) s += " label " + label;
  return s;
}

std::string RouteSpec::to_string() const {
  std::string s = destination.to_string() + "/" + std::to_string(prefix_len);
  if (gateway) s += " via " + gateway->to_string();
  if (!dev.empty()) s += " dev " + dev;
  if (source) s += " src " + source->to_string();
  if (metric) s += " metric " + std::to_string(*metric);
  return s;
}

std::optional<IpAddress> primary_ipv4(const std::vector<InterfaceAddress>& addresses) {
  for (const auto& a : addresses) {
    if (a.address.is_v4() && !a.secondary()) return a.address;
  }
  return std::nullopt;
}

std::optional<IpAddress> ipv6_link_local(const std::vector<InterfaceAddress>& addresses) {
  for (const auto& a : addresses) {
    if (a.address.is_v6() && a.address.is_link_local() && !a.tentative() &&
        (a.flags & kAddrFlagDadFailed) == 0) {
      return a.address;
    }
  }
  return std::nullopt;
}

bool has_address(const std::vector<InterfaceAddress>& addresses, const IpAddress& ip) {
  for (const auto& a : addresses) {
    if (a.address == ip) return true;
  }
  return false;
}

namespace {

// Calls fn(attr) for each attribute after the fixed header of `nlh` (libmnl's
// mnl_attr_for_each macro does not compile as C++).
template <class Fn>
void for_each_attr(const nlmsghdr* nlh, size_t header, Fn&& fn) {
  const auto* attr = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, header));
  const auto* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
  while (mnl_attr_ok(attr, static_cast<int>(tail - reinterpret_cast<const char*>(attr)))) {
    fn(attr);
    attr = mnl_attr_next(attr);
  }
}

// A stuck kernel (or a lost reply) must never hang the daemon.
constexpr time_t kReplyTimeoutSeconds = 2;
// Dumps of many addresses come in several datagrams of up to a page or two each.
constexpr size_t kBufferSize = 32768;

uint8_t af_of(const IpAddress& ip) {
  return ip.is_v4() ? AF_INET : AF_INET6;
}

void put_ip(nlmsghdr* nlh, uint16_t type, const IpAddress& ip) {
  mnl_attr_put(nlh, type, ip.size(), ip.bytes().data());
}

std::optional<IpAddress> get_ip(const nlattr* attr, uint8_t family) {
  const size_t len = mnl_attr_get_payload_len(attr);
  const auto* p = static_cast<const uint8_t*>(mnl_attr_get_payload(attr));
  if (family == AF_INET && len == 4) return IpAddress::v4(std::span<const uint8_t, 4>(p, 4));
  if (family == AF_INET6 && len == 16) return IpAddress::v6(std::span<const uint8_t, 16>(p, 16));
  return std::nullopt;
}

class NetlinkAddressManager final : public AddressManager {
 public:
  explicit NetlinkAddressManager(mnl_socket* nl) : nl_(nl), portid_(mnl_socket_get_portid(nl)) {}
  ~NetlinkAddressManager() override { mnl_socket_close(nl_); }

  core::Result<bool> add(const AddressSpec& spec) override { return change(spec, true); }
  core::Result<bool> remove(const AddressSpec& spec) override { return change(spec, false); }

  core::Result<std::vector<InterfaceAddress>> list(const std::string& dev) override {
    const std::string what = "list addresses of " + dev;
    auto ifindex = index_of(dev, what);
    if (!ifindex) return tl::unexpected(ifindex.error());
    nlmsghdr* nlh = start(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP);
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = AF_UNSPEC;
    ListState state{*ifindex, {}};
    if (auto r = transact(nlh, &parse_address, &state); !r) {
      return core::fail_errno(what, r.error());
    }
    return std::move(state.out);
  }

  core::Result<bool> add_route(const RouteSpec& route) override {
    return change_route(route, true);
  }
  core::Result<bool> remove_route(const RouteSpec& route) override {
    return change_route(route, false);
  }

 private:
  struct ListState {
    int ifindex;
    std::vector<InterfaceAddress> out;
  };

  static int parse_address(const nlmsghdr* nlh, void* data) {
    auto* state = static_cast<ListState*>(data);
    const auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(nlh));
    if (static_cast<int>(ifa->ifa_index) != state->ifindex) return MNL_CB_OK;
    if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return MNL_CB_OK;
    InterfaceAddress a;
    a.prefix_len = ifa->ifa_prefixlen;
    a.scope = ifa->ifa_scope;
    a.flags = ifa->ifa_flags;
    std::optional<IpAddress> local, address;
    for_each_attr(nlh, sizeof(ifaddrmsg), [&](const nlattr* attr) {
      switch (mnl_attr_get_type(attr)) {
        case IFA_LOCAL:
          local = get_ip(attr, ifa->ifa_family);
          break;
        case IFA_ADDRESS:
          address = get_ip(attr, ifa->ifa_family);
          break;
        case IFA_BROADCAST:
          a.broadcast = get_ip(attr, ifa->ifa_family);
          break;
        case IFA_LABEL:
          if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0) a.label = mnl_attr_get_str(attr);
          break;
        case IFA_FLAGS:
          if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0) a.flags = mnl_attr_get_u32(attr);
          break;
        default:
          break;
      }
    });
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point.
    if (local) {
      a.address = *local;
    } else if (address) {
      a.address = *address;
    } else {
      return MNL_CB_OK;
    }
    state->out.push_back(std::move(a));
    return MNL_CB_OK;
  }

  core::Result<bool> change(const AddressSpec& spec, bool add) {
    const std::string what = std::string(add ? "add " : "remove ") + spec.to_string();
    if (spec.prefix_len > spec.address.size() * 8) return core::fail(what + ": prefix too long");
    if (!spec.label.empty()) {
      if (!spec.address.is_v4()) return core::fail(what + ": labels are IPv4 only");
      if (spec.label.size() >= IFNAMSIZ || spec.label.rfind(spec.dev, 0) != 0) {
        return core::fail(what + ": a label starts with the device name and has at most " +
                          std::to_string(IFNAMSIZ - 1) + " characters");
      }
    }
    if (spec.broadcast && (!spec.address.is_v4() || !spec.broadcast->is_v4())) {
      return core::fail(what + ": broadcast is IPv4 only");
    }
    auto ifindex = index_of(spec.dev, what);
    if (!ifindex) return tl::unexpected(ifindex.error());

    nlmsghdr* nlh = start(add ? RTM_NEWADDR : RTM_DELADDR,
                          NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0));
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = af_of(spec.address);
    ifa->ifa_prefixlen = spec.prefix_len;
    ifa->ifa_scope = spec.scope;
    ifa->ifa_index = static_cast<uint32_t>(*ifindex);
    uint32_t flags = 0;
    if (spec.address.is_v6() && spec.no_dad) flags |= IFA_F_NODAD;
    ifa->ifa_flags = static_cast<uint8_t>(flags);
    put_ip(nlh, IFA_LOCAL, spec.address);
    put_ip(nlh, IFA_ADDRESS, spec.address);
    if (add) {
      if (flags != 0) mnl_attr_put_u32(nlh, IFA_FLAGS, flags);
      if (spec.broadcast) put_ip(nlh, IFA_BROADCAST, *spec.broadcast);
    }
    if (!spec.label.empty()) mnl_attr_put_strz(nlh, IFA_LABEL, spec.label.c_str());
    return outcome(transact(nlh, nullptr, nullptr), what, add ? EEXIST : EADDRNOTAVAIL);
  }

  core::Result<bool> change_route(const RouteSpec& route, bool add) {
    const std::string what = std::string(add ? "add route " : "remove route ") + route.to_string();
    const IpAddress& dst = route.destination;
    if (route.prefix_len > dst.size() * 8) return core::fail(what + ": prefix too long");
    for (const auto* other :
         {route.gateway ? &*route.gateway : nullptr, route.source ? &*route.source : nullptr}) {
      if (other && other->family() != dst.family()) {
        return core::fail(what + ": mixed address families");
      }
    }
    int ifindex = 0;
    if (!route.dev.empty()) {
      auto index = index_of(route.dev, what);
      if (!index) return tl::unexpected(index.error());
      ifindex = *index;
    }
    nlmsghdr* nlh = start(add ? RTM_NEWROUTE : RTM_DELROUTE,
                          NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0));
    auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
    rtm->rtm_family = af_of(dst);
    rtm->rtm_dst_len = route.prefix_len;
    rtm->rtm_table = static_cast<uint8_t>(route.table < 256 ? route.table : 0);  // 0: RTA_TABLE
    rtm->rtm_protocol = add ? RTPROT_BOOT : RTPROT_UNSPEC;  // as `ip route add`; delete: any
    // As `ip route`: a route without a gateway is on the link; deletes match any scope.
    rtm->rtm_scope = !add ? RT_SCOPE_NOWHERE
                          : (route.gateway || dst.is_v6() ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
    rtm->rtm_type = RTN_UNICAST;
    if (route.prefix_len > 0) put_ip(nlh, RTA_DST, dst);
    if (route.table >= 256) mnl_attr_put_u32(nlh, RTA_TABLE, route.table);
    if (route.gateway) put_ip(nlh, RTA_GATEWAY, *route.gateway);
    if (route.source) put_ip(nlh, RTA_PREFSRC, *route.source);
    if (route.metric) mnl_attr_put_u32(nlh, RTA_PRIORITY, *route.metric);
    if (ifindex != 0) mnl_attr_put_u32(nlh, RTA_OIF, static_cast<uint32_t>(ifindex));
    return outcome(transact(nlh, nullptr, nullptr), what, add ? EEXIST : ESRCH);
  }

  static core::Result<bool> outcome(const tl::expected<void, int>& r, const std::string& what,
                                    int unchanged_errno) {
    if (r) return true;
    if (r.error() == unchanged_errno) return false;
    return core::fail_errno(what, r.error());
  }

  // Asked of the kernel over this socket rather than if_nametoindex(), so the name is looked
  // up in the namespace the socket talks to.
  core::Result<int> index_of(const std::string& dev, const std::string& what) {
    if (dev.empty() || dev.size() >= IFNAMSIZ) return core::fail(what + ": bad device name");
    nlmsghdr* nlh = start(RTM_GETLINK, NLM_F_REQUEST);
    auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
    ifi->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, dev.c_str());
    // Only the fixed header is needed: skip the statistics and the rest.
    mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    int index = 0;
    auto r = transact(
        nlh,
        [](const nlmsghdr* reply, void* data) {
          if (reply->nlmsg_type == RTM_NEWLINK) {
            *static_cast<int*>(data) =
                static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(reply))->ifi_index;
          }
          return MNL_CB_STOP;
        },
        &index);
    if (!r) return core::fail_errno(what, r.error());
    if (index <= 0) return core::fail_errno(what, ENODEV);
    return index;
  }

  nlmsghdr* start(uint16_t type, uint16_t flags) {
    nlmsghdr* nlh = mnl_nlmsg_put_header(buffer_.data());
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = flags;
    nlh->nlmsg_seq = ++seq_;
    return nlh;
  }

  // Sends the request and reads replies until its ACK (or a dump's end); errno on failure.
  tl::expected<void, int> transact(nlmsghdr* nlh, mnl_cb_t callback, void* data) {
    const uint32_t seq = nlh->nlmsg_seq;
    if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) return tl::unexpected(errno);
    for (;;) {
      const ssize_t n = mnl_socket_recvfrom(nl_, buffer_.data(), buffer_.size());
      if (n < 0) {
        const int err = errno;
        if (err == EINTR) continue;
        return tl::unexpected(err == EAGAIN || err == EWOULDBLOCK ? ETIMEDOUT : err);
      }
      // A late reply to an earlier request that timed out: not ours, read on.
      const auto* first = reinterpret_cast<const nlmsghdr*>(buffer_.data());
      if (mnl_nlmsg_ok(first, static_cast<int>(n)) && first->nlmsg_seq != seq) continue;
      const int rc =
          mnl_cb_run(buffer_.data(), static_cast<size_t>(n), seq, portid_, callback, data);
      if (rc == MNL_CB_ERROR) return tl::unexpected(errno);
      if (rc == MNL_CB_STOP) return {};
    }
  }

  mnl_socket* nl_;
  uint32_t portid_;
  uint32_t seq_ = static_cast<uint32_t>(time(nullptr));
  std::array<char, kBufferSize> buffer_{};
};

}  // namespace

core::Result<AddressManagerPtr> make_netlink_address_manager() {
  mnl_socket* nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
  if (nl == nullptr) return core::fail_errno("open rtnetlink socket", errno);
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    const int err = errno;
    mnl_socket_close(nl);
    return core::fail_errno("bind rtnetlink socket", err);
  }
  timeval timeout{kReplyTimeoutSeconds, 0};
  if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0) {
    const int err = errno;
    mnl_socket_close(nl);
    return core::fail_errno("rtnetlink socket: SO_RCVTIMEO", err);
  }
  // Extended ACKs would carry a reason text; the errno is what we report, so leave them off.
  return AddressManagerPtr(std::make_unique<NetlinkAddressManager>(nl));
}

}  // namespace tandem::vrrp::os
