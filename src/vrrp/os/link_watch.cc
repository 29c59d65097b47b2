#include "vrrp/os/link_watch.h"

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <map>
#include <utility>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include "core/log.h"

namespace tandem::vrrp::os {
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

constexpr int kDumpTimeoutMs = 2000;
constexpr size_t kBufferSize = 32768;
// Events come in bursts (a bond going down takes its addresses along); a large queue makes
// an overrun (ENOBUFS) rare, and an overrun is answered with a fresh dump.
constexpr int kReceiveBuffer = 1 << 20;

class NetlinkLinkWatch final : public LinkWatch {
 public:
  NetlinkLinkWatch(asio::io_context& io, mnl_socket* nl)
      : nl_(nl), descriptor_(io, mnl_socket_get_fd(nl)), alive_(std::make_shared<char>(0)) {}

  ~NetlinkLinkWatch() override {
    asio::error_code ignored;
    descriptor_.cancel(ignored);
    descriptor_.release();  // the fd belongs to nl_
    mnl_socket_close(nl_);
  }

  void on_link(std::function<void(const LinkState&)> callback) override {
    on_link_ = std::move(callback);
  }
  void on_address(std::function<void(const AddressEvent&)> callback) override {
    on_address_ = std::move(callback);
  }
  std::optional<LinkState> link(const std::string& name) const override {
    for (const auto& [index, state] : links_) {
      if (state.name == name) return state;
    }
    return std::nullopt;
  }

  // The first dump, before anyone listens: read until its end, whatever else arrives.
  core::Result<void> initial_dump() {
    if (!request_dump()) return core::fail_errno("link watch: request link dump", errno);
    while (dump_pending_) {
      pollfd p{mnl_socket_get_fd(nl_), POLLIN, 0};
      const int rc = ::poll(&p, 1, kDumpTimeoutMs);
      if (rc == 0) return core::fail("link watch: no answer to the link dump in 2 s");
      if (rc < 0 && errno != EINTR) return core::fail_errno("link watch: poll", errno);
      if (rc > 0 && !read_once()) {
        if (errno == EAGAIN) continue;
        return core::fail_errno("link watch: read", errno);
      }
    }
    return {};
  }

  void arm() {
    std::weak_ptr<char> alive = alive_;
    descriptor_.async_wait(asio::posix::stream_descriptor::wait_read,
                           [this, alive](const asio::error_code& ec) {
                             if (alive.expired() || ec == asio::error::operation_aborted) return;
                             // A callback may destroy us: stop as soon as that happens.
                             for (int i = 0; i < 64 && !alive.expired(); ++i) {
                               if (!read_once()) {
                                 if (!alive.expired()) handle_read_error(errno);
                                 break;
                               }
                             }
                             if (!alive.expired()) arm();
                           });
  }

 private:
  bool request_dump() {
    std::array<char, 256> request{};  // header and ifinfomsg only
    nlmsghdr* nlh = mnl_nlmsg_put_header(request.data());
    nlh->nlmsg_type = RTM_GETLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = dump_seq_ = ++seq_;
    auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
    ifm->ifi_family = AF_UNSPEC;
    if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) return false;
    dump_pending_ = true;
    return true;
  }

  void handle_read_error(int err) {
    if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) return;
    const auto now = core::TimePoint(std::chrono::steady_clock::now().time_since_epoch());
    if (err == ENOBUFS) {
      // Events were lost: take the link states again; missed address events stay missed.
      core::log_limited(log_, now, spdlog::level::warn,
                        "link watch: netlink queue overrun, dumping links again");
      if (!dump_pending_) request_dump();
      return;
    }
    core::log_limited(log_, now, spdlog::level::warn, "link watch: netlink read: {}",
                      std::strerror(err));
  }

  // One datagram; false with errno set when there was none or reading failed.
  bool read_once() {
    sockaddr_nl from{};
    socklen_t from_len = sizeof from;
    const ssize_t n = ::recvfrom(mnl_socket_get_fd(nl_), buffer_.data(), buffer_.size(), 0,
                                 reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) return false;
    // Only the kernel (port 0) may speak: another process could forge link events.
    if (from.nl_pid != 0) return true;
    std::weak_ptr<char> alive = alive_;
    int len = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buffer_.data()); mnl_nlmsg_ok(nlh, len);
         nlh = mnl_nlmsg_next(nlh, &len)) {
      if (alive.expired()) return true;
      handle(nlh);
    }
    return true;
  }

  void handle(const nlmsghdr* nlh) {
    switch (nlh->nlmsg_type) {
      case NLMSG_DONE:
      case NLMSG_ERROR:
        if (nlh->nlmsg_seq == dump_seq_) dump_pending_ = false;
        break;
      case RTM_NEWLINK:
      case RTM_DELLINK:
        handle_link(nlh);
        break;
      case RTM_NEWADDR:
      case RTM_DELADDR:
        handle_address(nlh);
        break;
      default:
        break;
    }
  }

  void handle_link(const nlmsghdr* nlh) {
    if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(ifinfomsg))) return;
    const auto* ifm = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
    LinkState state;
    state.ifindex = ifm->ifi_index;
    state.exists = nlh->nlmsg_type == RTM_NEWLINK;
    state.admin_up = (ifm->ifi_flags & IFF_UP) != 0;
    state.running = (ifm->ifi_flags & IFF_RUNNING) != 0;
    for_each_attr(nlh, sizeof(ifinfomsg), [&](const nlattr* attr) {
      const auto type = mnl_attr_get_type(attr);
      if (type == IFLA_IFNAME && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0) {
        state.name = mnl_attr_get_str(attr);
      } else if (type == IFLA_OPERSTATE && mnl_attr_validate(attr, MNL_TYPE_U8) >= 0) {
        state.operstate = mnl_attr_get_u8(attr);
      }
    });
    auto it = links_.find(state.ifindex);
    if (state.name.empty() && it != links_.end()) state.name = it->second.name;
    if (!state.exists) {
      if (it == links_.end()) return;
      links_.erase(it);
      state.admin_up = state.running = false;
    } else {
      if (it != links_.end() && it->second == state) return;  // a change we do not watch
      links_[state.ifindex] = state;
    }
    if (on_link_) on_link_(state);
  }

  void handle_address(const nlmsghdr* nlh) {
    if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(ifaddrmsg))) return;
    const auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(nlh));
    if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return;
    const size_t size = ifa->ifa_family == AF_INET ? 4 : 16;
    AddressEvent event;
    event.added = nlh->nlmsg_type == RTM_NEWADDR;
    event.ifindex = static_cast<int>(ifa->ifa_index);
    event.prefix_len = ifa->ifa_prefixlen;
    event.flags = ifa->ifa_flags;
    const uint8_t* local = nullptr;
    const uint8_t* address = nullptr;
    for_each_attr(nlh, sizeof(ifaddrmsg), [&](const nlattr* attr) {
      const auto type = mnl_attr_get_type(attr);
      const bool sized = mnl_attr_get_payload_len(attr) == size;
      const auto* payload = static_cast<const uint8_t*>(mnl_attr_get_payload(attr));
      if (type == IFA_LOCAL && sized) local = payload;
      if (type == IFA_ADDRESS && sized) address = payload;
      if (type == IFA_FLAGS && mnl_attr_validate(attr, MNL_TYPE_U32) >= 0) {
        event.flags = mnl_attr_get_u32(attr);
      }
    });
    const uint8_t* bytes = local != nullptr ? local : address;
    if (bytes == nullptr) return;
    event.address = size == 4 ? IpAddress::v4(std::span<const uint8_t, 4>(bytes, 4))
                              : IpAddress::v6(std::span<const uint8_t, 16>(bytes, 16));
    if (auto it = links_.find(event.ifindex); it != links_.end()) event.ifname = it->second.name;
    if (on_address_) on_address_(event);
  }

  mnl_socket* nl_;
  asio::posix::stream_descriptor descriptor_;
  std::shared_ptr<char> alive_;  // handlers hold a weak_ptr: they may run after we are gone
  std::map<int, LinkState> links_;
  std::function<void(const LinkState&)> on_link_;
  std::function<void(const AddressEvent&)> on_address_;
  uint32_t seq_ = static_cast<uint32_t>(time(nullptr));
  uint32_t dump_seq_ = 0;
  bool dump_pending_ = false;
  core::RateLimiter log_{std::chrono::seconds(10), 5};
  std::array<char, kBufferSize> buffer_{};
};

}  // namespace

core::Result<LinkWatchPtr> open_link_watch(asio::io_context& io) {
  mnl_socket* nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (nl == nullptr) return core::fail_errno("link watch: open rtnetlink socket", errno);
  const int fd = mnl_socket_get_fd(nl);
  // Best effort: without CAP_NET_ADMIN the ordinary limit applies.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kReceiveBuffer, sizeof kReceiveBuffer) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kReceiveBuffer, sizeof kReceiveBuffer);
  }
  // Subscribe before the dump so that nothing falls between the two.
  if (mnl_socket_bind(nl, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
                      MNL_SOCKET_AUTOPID) < 0) {
    const int err = errno;
    mnl_socket_close(nl);
    return core::fail_errno("link watch: bind rtnetlink groups", err);
  }
  auto watch = std::make_unique<NetlinkLinkWatch>(io, nl);
  if (auto r = watch->initial_dump(); !r) return tl::unexpected(r.error());
  watch->arm();
  return LinkWatchPtr(std::move(watch));
}

}  // namespace tandem::vrrp::os
