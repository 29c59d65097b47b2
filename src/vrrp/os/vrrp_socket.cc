#include "vrrp/os/vrrp_socket.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>
#include <utility>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include "core/log.h"
#include "vrrp/checksum.h"
#include "vrrp/codec.h"

namespace tandem::vrrp::os {
namespace {

// Large enough for an IPv4 header with options and 255 IPv6 addresses (8 + 4080 octets).
constexpr size_t kRxBufferSize = 8192;

core::TimePoint log_now() {
  return core::TimePoint(std::chrono::steady_clock::now().time_since_epoch());
}

class RawVrrpSocket final : public VrrpSocket {
 public:
  RawVrrpSocket(asio::io_context& io, int fd, std::string ifname, int ifindex, Family family)
      : descriptor_(io, fd),
        ifname_(std::move(ifname)),
        ifindex_(ifindex),
        family_(family),
        alive_(std::make_shared<char>(0)) {
    arm();
  }

  ~RawVrrpSocket() override {
    asio::error_code ignored;
    descriptor_.close(ignored);
  }

  core::Result<void> send(const IpAddress& src, const IpAddress& dst,
                          std::span<const uint8_t> payload) override {
    if (src.family() != family_ || dst.family() != family_) {
      return core::fail("send on " + ifname_ + " (" + std::string(to_string(family_)) +
                        "): address family of " + src.to_string() + " -> " + dst.to_string());
    }
    const ssize_t sent =
        family_ == Family::kIpv4 ? send_v4(src, dst, payload) : send_v6(src, dst, payload);
    if (sent < 0) {
      const int err = errno;
      ++counters_.tx_errors;
      core::log_limited(tx_log_, log_now(), spdlog::level::warn, "vrrp send on {} to {}: {}",
                        ifname_, dst.to_string(), std::strerror(err));
      return core::fail_errno("send VRRP on " + ifname_ + " to " + dst.to_string(), err);
    }
    ++counters_.tx_packets;
    return {};
  }

  void set_receiver(std::function<void(const RxPacket&)> receiver) override {
    receiver_ = std::move(receiver);
  }

  core::Result<void> join(const IpAddress& group) override { return membership(group, true); }
  core::Result<void> leave(const IpAddress& group) override { return membership(group, false); }

  const SocketCounters& counters() const override { return counters_; }
  int ifindex() const override { return ifindex_; }
  Family family() const override { return family_; }

 private:
  ssize_t send_v4(const IpAddress& src, const IpAddress& dst, std::span<const uint8_t> payload) {
    if (++ip_id_ == 0) ip_id_ = 1;
    const std::vector<uint8_t> datagram = build_ipv4_datagram(src, dst, payload, ip_id_);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    std::memcpy(&to.sin_addr, dst.bytes().data(), 4);
    return ::sendto(descriptor_.native_handle(), datagram.data(), datagram.size(), 0,
                    reinterpret_cast<const sockaddr*>(&to), sizeof to);
  }

  ssize_t send_v6(const IpAddress& src, const IpAddress& dst, std::span<const uint8_t> payload) {
    sockaddr_in6 to{};
    to.sin6_family = AF_INET6;
    std::memcpy(&to.sin6_addr, dst.bytes().data(), 16);
    // Link-local destinations (ff02::12, fe80::/10 peers) need the interface as their scope.
    if (dst.is_multicast() || dst.is_link_local()) to.sin6_scope_id = ifindex_;
    iovec iov{const_cast<uint8_t*>(payload.data()), payload.size()};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(in6_pktinfo))> control{};
    msghdr msg{};
    msg.msg_name = &to;
    msg.msg_namelen = sizeof to;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = IPPROTO_IPV6;
    cm->cmsg_type = IPV6_PKTINFO;
    cm->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
    in6_pktinfo info{};
    std::memcpy(&info.ipi6_addr, src.bytes().data(), 16);
    info.ipi6_ifindex = static_cast<unsigned>(ifindex_);
    std::memcpy(CMSG_DATA(cm), &info, sizeof info);
    return ::sendmsg(descriptor_.native_handle(), &msg, 0);
  }

  core::Result<void> membership(const IpAddress& group, bool add) {
    const int fd = descriptor_.native_handle();
    const std::string what =
        std::string(add ? "join " : "leave ") + group.to_string() + " on " + ifname_;
    if (group.family() != family_ || !group.is_multicast()) {
      return core::fail(what + ": not an " + std::string(to_string(family_)) + " multicast group");
    }
    int rc = 0;
    if (family_ == Family::kIpv4) {
      ip_mreqn mreq{};
      std::memcpy(&mreq.imr_multiaddr, group.bytes().data(), 4);
      mreq.imr_ifindex = ifindex_;
      rc = ::setsockopt(fd, IPPROTO_IP, add ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &mreq,
                        sizeof mreq);
    } else {
      ipv6_mreq mreq{};
      std::memcpy(&mreq.ipv6mr_multiaddr, group.bytes().data(), 16);
      mreq.ipv6mr_interface = static_cast<unsigned>(ifindex_);
      rc = ::setsockopt(fd, IPPROTO_IPV6, add ? IPV6_ADD_MEMBERSHIP : IPV6_DROP_MEMBERSHIP, &mreq,
                        sizeof mreq);
    }
    if (rc != 0) {
      const int err = errno;
      // Already a member / not a member: the state the caller wants is there.
      if ((add && err == EADDRINUSE) || (!add && err == EADDRNOTAVAIL)) return {};
      return core::fail_errno(what, err);
    }
    return {};
  }

  void arm() {
    std::weak_ptr<char> alive = alive_;
    descriptor_.async_wait(
        asio::posix::stream_descriptor::wait_read, [this, alive](const asio::error_code& ec) {
          // The socket may be gone: look at nothing of it until we know.
          if (alive.expired() || ec == asio::error::operation_aborted) return;
          if (ec) {
            ++counters_.rx_errors;
            core::log_limited(rx_log_, log_now(), spdlog::level::warn,
                              "vrrp socket on {}: wait: {}", ifname_, ec.message());
          }
          drain();
          if (!alive.expired()) arm();
        });
  }

  // Reads until EAGAIN so one wake-up serves a burst; bounded so one busy socket cannot
  // starve the loop.
  void drain() {
    std::weak_ptr<char> alive = alive_;
    for (int i = 0; i < 256 && !alive.expired(); ++i) {
      if (!receive_one()) return;
    }
  }

  bool receive_one() {
    sockaddr_storage from{};
    iovec iov{buffer_.data(), buffer_.size()};
    alignas(cmsghdr) std::array<char, 256> control{};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    const ssize_t n = ::recvmsg(descriptor_.native_handle(), &msg, MSG_DONTWAIT);
    if (n < 0) {
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return false;
      if (err == EINTR) return true;
      ++counters_.rx_errors;
      core::log_limited(rx_log_, log_now(), spdlog::level::warn, "vrrp receive on {}: {}", ifname_,
                        std::strerror(err));
      return false;
    }
    if (msg.msg_flags & MSG_TRUNC) {
      ++counters_.rx_truncated;
      core::log_limited(rx_log_, log_now(), spdlog::level::warn,
                        "vrrp receive on {}: datagram larger than {} octets dropped", ifname_,
                        buffer_.size());
      return true;
    }
    ++counters_.rx_packets;
    RxPacket packet;
    packet.ifindex = ifindex_;
    const std::span<const uint8_t> data(buffer_.data(), static_cast<size_t>(n));
    if (family_ == Family::kIpv4) {
      fill_v4(data, packet);
    } else {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&from);
      packet.source = IpAddress::v6(
          std::span<const uint8_t, 16>(reinterpret_cast<const uint8_t*>(&sin6->sin6_addr), 16));
      packet.vrrp = data;
    }
    for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
      if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
        in_pktinfo info{};
        std::memcpy(&info, CMSG_DATA(cm), sizeof info);
        packet.ifindex = info.ipi_ifindex;
      } else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
        in6_pktinfo info{};
        std::memcpy(&info, CMSG_DATA(cm), sizeof info);
        packet.destination = IpAddress::v6(
            std::span<const uint8_t, 16>(reinterpret_cast<const uint8_t*>(&info.ipi6_addr), 16));
        packet.ifindex = static_cast<int>(info.ipi6_ifindex);
      } else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_HOPLIMIT) {
        int hops = 0;
        std::memcpy(&hops, CMSG_DATA(cm), sizeof hops);
        packet.ttl = static_cast<uint8_t>(hops);
      }
    }
    if (receiver_) receiver_(packet);
    return true;
  }

  // Header fields for the receiver; the codec validates the datagram again (checksum, length).
  static void fill_v4(std::span<const uint8_t> data, RxPacket& packet) {
    packet.ipv4_datagram = data;
    if (data.size() < kIpv4HeaderSize || (data[0] >> 4) != 4) return;
    const size_t header = static_cast<size_t>(data[0] & 0x0f) * 4;
    if (header < kIpv4HeaderSize || header > data.size()) return;
    packet.ttl = data[8];
    packet.source = IpAddress::v4(std::span<const uint8_t, 4>(data.data() + 12, 4));
    packet.destination = IpAddress::v4(std::span<const uint8_t, 4>(data.data() + 16, 4));
    size_t total = (static_cast<size_t>(data[2]) << 8) | data[3];
    if (total < header || total > data.size()) total = data.size();
    packet.vrrp = data.subspan(header, total - header);
  }

  asio::posix::stream_descriptor descriptor_;
  std::string ifname_;
  int ifindex_;
  Family family_;
  std::shared_ptr<char> alive_;  // handlers hold a weak_ptr: they run after we are gone
  std::function<void(const RxPacket&)> receiver_;
  SocketCounters counters_;
  uint16_t ip_id_ = 0;
  core::RateLimiter rx_log_{std::chrono::seconds(10), 5};
  core::RateLimiter tx_log_{std::chrono::seconds(10), 5};
  std::array<uint8_t, kRxBufferSize> buffer_{};
};

core::Result<void> set_option(int fd, int level, int name, int value, const std::string& what) {
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0) {
    return core::fail_errno(what, errno);
  }
  return {};
}

}  // namespace

std::vector<uint8_t> build_ipv4_datagram(const IpAddress& src, const IpAddress& dst,
                                         std::span<const uint8_t> vrrp_payload, uint16_t ip_id) {
  std::vector<uint8_t> out(kIpv4HeaderSize + vrrp_payload.size());
  const size_t total = out.size();
  out[0] = 0x45;
  out[1] = kIpv4TosNetworkControl;
  out[2] = static_cast<uint8_t>(total >> 8);
  out[3] = static_cast<uint8_t>(total);
  out[4] = static_cast<uint8_t>(ip_id >> 8);
  out[5] = static_cast<uint8_t>(ip_id);
  out[8] = kRequiredTtl;
  out[9] = kIpProtocolVrrp;
  std::memcpy(out.data() + 12, src.bytes().data(), 4);
  std::memcpy(out.data() + 16, dst.bytes().data(), 4);
  const uint16_t sum = internet_checksum(std::span<const uint8_t>(out.data(), kIpv4HeaderSize));
  out[10] = static_cast<uint8_t>(sum >> 8);
  out[11] = static_cast<uint8_t>(sum);
  std::copy(vrrp_payload.begin(), vrrp_payload.end(), out.begin() + kIpv4HeaderSize);
  return out;
}

core::Result<VrrpSocketPtr> open_vrrp_socket(asio::io_context& io, const std::string& ifname,
                                             Family family) {
  const std::string what = "open VRRP " + std::string(to_string(family)) + " socket on " + ifname;
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) return core::fail(what + ": bad interface name");
  const unsigned ifindex = ::if_nametoindex(ifname.c_str());
  if (ifindex == 0) return core::fail_errno(what, errno);
  const int domain = family == Family::kIpv4 ? AF_INET : AF_INET6;
  const int fd = ::socket(domain, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, kIpProtocolVrrp);
  if (fd < 0) return core::fail_errno(what + ": socket", errno);
  auto close_on_error = [fd](core::Error error) {
    ::close(fd);
    return tl::unexpected<core::Error>(std::move(error));
  };
  if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(),
                   static_cast<socklen_t>(ifname.size())) != 0) {
    return close_on_error(
        core::Error{std::error_code(errno, std::system_category()), what + ": SO_BINDTODEVICE"});
  }
  // Each option with its reason: a table keeps the failure text precise.
  struct Option {
    int level, name, value;
    const char* label;
  };
  const int idx = static_cast<int>(ifindex);
  // IPv4 sends with IP_HDRINCL, as keepalived does: the header is exactly ours (TOS 0xc0,
  // TTL 255, the caller's source, over which a v3 checksum was computed) whatever the
  // socket options or the address's state (so no IP_TTL / IP_MULTICAST_TTL); multicast
  // leaves through IP_MULTICAST_IF and the bound device.
  const Option v4[] = {{IPPROTO_IP, IP_HDRINCL, 1, "IP_HDRINCL"},
                       {IPPROTO_IP, IP_PKTINFO, 1, "IP_PKTINFO"},
                       {IPPROTO_IP, IP_MULTICAST_LOOP, 0, "IP_MULTICAST_LOOP"}};
  // IPv6 raw sockets carry no header: hop limits and source come from options and ancillary
  // data. IPV6_CHECKSUM stays off: the v3 checksum is ours and the kernel must not touch it.
  const Option v6[] = {{IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO"},
                       {IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT"},
                       {IPPROTO_IPV6, IPV6_MULTICAST_HOPS, kRequiredTtl, "IPV6_MULTICAST_HOPS"},
                       {IPPROTO_IPV6, IPV6_UNICAST_HOPS, kRequiredTtl, "IPV6_UNICAST_HOPS"},
                       {IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0, "IPV6_MULTICAST_LOOP"},
                       {IPPROTO_IPV6, IPV6_MULTICAST_IF, idx, "IPV6_MULTICAST_IF"}};
  for (const Option& o :
       family == Family::kIpv4 ? std::span<const Option>(v4) : std::span<const Option>(v6)) {
    if (auto r = set_option(fd, o.level, o.name, o.value, what + ": " + o.label); !r) {
      return close_on_error(r.error());
    }
  }
  if (family == Family::kIpv4) {
    ip_mreqn mreq{};
    mreq.imr_ifindex = idx;
    if (::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof mreq) != 0) {
      return close_on_error(
          core::Error{std::error_code(errno, std::system_category()), what + ": IP_MULTICAST_IF"});
    }
  }
  return VrrpSocketPtr(std::make_unique<RawVrrpSocket>(io, fd, ifname, idx, family));
}

}  // namespace tandem::vrrp::os
