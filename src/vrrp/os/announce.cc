#include "vrrp/os/announce.h"

// <net/if.h> before the kernel headers: the other order redefines the IFF_* flags.
#include <net/if.h>

#include <arpa/inet.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "vrrp/checksum.h"

namespace tandem::vrrp::os {
namespace {

constexpr size_t kEthHeader = 14;
constexpr uint8_t kIcmpv6 = 58;
constexpr uint8_t kNeighbourAdvertisement = 136;
constexpr uint8_t kNaFlagRouter = 0x80;
constexpr uint8_t kNaFlagOverride = 0x20;
constexpr uint8_t kOptionTargetLinkAddress = 2;

void put16(std::vector<uint8_t>& out, size_t at, uint16_t v) {
  out[at] = static_cast<uint8_t>(v >> 8);
  out[at + 1] = static_cast<uint8_t>(v);
}

void put_bytes(std::vector<uint8_t>& out, size_t at, std::span<const uint8_t> bytes) {
  std::copy(bytes.begin(), bytes.end(), out.begin() + static_cast<ptrdiff_t>(at));
}

void put_eth(std::vector<uint8_t>& out, const MacAddress& dst, const MacAddress& src,
             uint16_t type) {
  put_bytes(out, 0, dst);
  put_bytes(out, 6, src);
  put16(out, 12, type);
}

// keepalived sets the NA Router flag from the interface's IPv6 forwarding sysctl.
bool ipv6_forwarding(const std::string& ifname) {
  std::ifstream in("/proc/sys/net/ipv6/conf/" + ifname + "/forwarding");
  int value = 0;
  return (in >> value) && value != 0;
}

class PacketAnnouncer final : public Announcer {
 public:
  ~PacketAnnouncer() override {
    if (fd_ >= 0) ::close(fd_);
  }

  core::Result<void> announce(const std::string& ifname, const IpAddress& vip) override {
    // Appended piece by piece: g++ 12 -O2 warns falsely (array-bounds) on a chain of +.
    std::string what = vip.is_v4() ? "gratuitous ARP for " : "unsolicited NA for ";
    what.append(vip.to_string()).append(" on ").append(ifname);
    if (ifname.empty() || ifname.size() >= IFNAMSIZ) return core::fail(what + ": bad interface");
    const unsigned ifindex = if_nametoindex(ifname.c_str());
    if (ifindex == 0) return core::fail_errno(what, errno);
    auto mac = interface_mac(ifname);
    if (!mac) return core::fail(what + ": " + mac.error().to_string());
    if (fd_ < 0) {
      // Protocol 0: a send-only socket that never queues received frames.
      fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
      if (fd_ < 0) return core::fail_errno(what + ": AF_PACKET socket", errno);
    }
    const std::vector<uint8_t> frame =
        vip.is_v4() ? build_garp_frame(*mac, vip)
                    : build_unsolicited_na(*mac, vip, ipv6_forwarding(ifname));
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_protocol = htons(vip.is_v4() ? ETH_P_ARP : ETH_P_IPV6);
    to.sll_ifindex = static_cast<int>(ifindex);
    to.sll_halen = ETH_ALEN;
    std::memcpy(to.sll_addr, frame.data(), ETH_ALEN);
    if (::sendto(fd_, frame.data(), frame.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                 sizeof to) < 0) {
      return core::fail_errno(what, errno);
    }
    return {};
  }

 private:
  int fd_ = -1;
};

}  // namespace

std::vector<uint8_t> build_garp_frame(const MacAddress& mac, const IpAddress& vip) {
  constexpr MacAddress kBroadcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  std::vector<uint8_t> out(kEthHeader + 28);
  put_eth(out, kBroadcast, mac, ETH_P_ARP);
  put16(out, 14, ARPHRD_ETHER);
  put16(out, 16, ETH_P_IP);
  out[18] = ETH_ALEN;
  out[19] = 4;
  put16(out, 20, ARPOP_REQUEST);
  put_bytes(out, 22, mac);
  put_bytes(out, 28, vip.bytes());
  put_bytes(out, 32, kBroadcast);  // keepalived's choice; RFC 5227 would say zeros
  put_bytes(out, 38, vip.bytes());
  return out;
}

std::vector<uint8_t> build_unsolicited_na(const MacAddress& mac, const IpAddress& vip,
                                          bool router) {
  constexpr MacAddress kAllNodesMac{0x33, 0x33, 0x00, 0x00, 0x00, 0x01};
  std::array<uint8_t, 16> all_nodes_bytes{};
  all_nodes_bytes[0] = 0xff;
  all_nodes_bytes[1] = 0x02;
  all_nodes_bytes[15] = 0x01;
  const IpAddress all_nodes = IpAddress::v6(all_nodes_bytes);
  constexpr size_t kIp6 = kEthHeader, kIcmp = kIp6 + 40, kIcmpLen = 32;
  std::vector<uint8_t> out(kIcmp + kIcmpLen);
  put_eth(out, kAllNodesMac, mac, ETH_P_IPV6);
  out[kIp6] = 0x60;  // version 6, traffic class 0, flow label 0
  put16(out, kIp6 + 4, kIcmpLen);
  out[kIp6 + 6] = kIcmpv6;
  out[kIp6 + 7] = 255;  // RFC 4861 7.1.2: receivers drop NAs with any other hop limit
  put_bytes(out, kIp6 + 8, vip.bytes());
  put_bytes(out, kIp6 + 24, all_nodes.bytes());
  out[kIcmp] = kNeighbourAdvertisement;
  out[kIcmp + 4] = static_cast<uint8_t>(kNaFlagOverride | (router ? kNaFlagRouter : 0));
  put_bytes(out, kIcmp + 8, vip.bytes());
  out[kIcmp + 24] = kOptionTargetLinkAddress;
  out[kIcmp + 25] = 1;  // length in units of 8 octets
  put_bytes(out, kIcmp + 26, mac);
  const uint16_t sum = ipv6_pseudo_checksum(vip, all_nodes, kIcmpv6,
                                            std::span<const uint8_t>(out.data() + kIcmp, kIcmpLen));
  put16(out, kIcmp + 2, sum);
  return out;
}

core::Result<MacAddress> interface_mac(const std::string& ifname) {
  const std::string what = "hardware address of " + ifname;
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) return core::fail(what + ": bad interface");
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return core::fail_errno(what, errno);
  ifreq req{};
  std::memcpy(req.ifr_name, ifname.c_str(), ifname.size());
  const int rc = ::ioctl(fd, SIOCGIFHWADDR, &req);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return core::fail_errno(what, err);
  if (req.ifr_hwaddr.sa_family != ARPHRD_ETHER) return core::fail(what + ": not Ethernet");
  MacAddress mac;
  std::memcpy(mac.data(), req.ifr_hwaddr.sa_data, mac.size());
  return mac;
}

AnnouncerPtr make_packet_announcer() {
  return std::make_unique<PacketAnnouncer>();
}

}  // namespace tandem::vrrp::os
