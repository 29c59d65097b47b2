// Gratuitous ARP and unsolicited neighbour advertisements for a VIP, as keepalived sends them.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "vrrp/ip_address.h"

namespace tandem::vrrp::os {

using MacAddress = std::array<uint8_t, 6>;

// A whole Ethernet frame (42 octets, the NIC pads): broadcast ARP request "who-has VIP tell
// VIP" from `mac`, target hardware address ff:ff:ff:ff:ff:ff, byte for byte keepalived 2.2.7.
std::vector<uint8_t> build_garp_frame(const MacAddress& mac, const IpAddress& vip);

// A whole Ethernet frame (86 octets): IPv6 from the VIP to ff02::1 (33:33:00:00:00:01), hop
// limit 255, ICMPv6 neighbour advertisement for the VIP with Override set, Router set when
// the interface forwards IPv6 (as keepalived does), and the target link-layer address option.
std::vector<uint8_t> build_unsolicited_na(const MacAddress& mac, const IpAddress& vip, bool router);

class Announcer {
 public:
  virtual ~Announcer() = default;
  // One announcement of `vip` on `ifname`: a GARP for IPv4, an unsolicited NA for IPv6.
  // How often and how many belong to the caller (garp_master_delay/repeat/refresh).
  virtual core::Result<void> announce(const std::string& ifname, const IpAddress& vip) = 0;
};
using AnnouncerPtr = std::unique_ptr<Announcer>;

// Sends through an AF_PACKET socket (CAP_NET_RAW), opened on first use: the frames are
// whole, so the source may be the VIP whatever the state of its DAD, as keepalived does.
AnnouncerPtr make_packet_announcer();

// The interface's hardware address (SIOCGIFHWADDR); fails on non-Ethernet links.
core::Result<MacAddress> interface_mac(const std::string& ifname);

}  // namespace tandem::vrrp::os
