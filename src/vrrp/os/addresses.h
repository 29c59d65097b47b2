// Virtual addresses and simple routes through rtnetlink (libmnl): add, remove, list.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "vrrp/ip_address.h"

namespace tandem::vrrp::os {

// RT_SCOPE_* values (linux/rtnetlink.h), here so callers need not include kernel headers.
inline constexpr uint8_t kScopeUniverse = 0;
inline constexpr uint8_t kScopeSite = 200;
inline constexpr uint8_t kScopeLink = 253;
inline constexpr uint8_t kScopeHost = 254;
// IFA_F_* flags as list() reports them.
inline constexpr uint32_t kAddrFlagSecondary = 0x01;
inline constexpr uint32_t kAddrFlagNoDad = 0x02;
inline constexpr uint32_t kAddrFlagDadFailed = 0x08;
inline constexpr uint32_t kAddrFlagTentative = 0x40;
inline constexpr uint32_t kAddrFlagPermanent = 0x80;

struct AddressSpec {
  IpAddress address;
  uint8_t prefix_len = 32;
  std::string dev;
  std::string label;  // IPv4 only; must start with dev, at most 15 characters; empty: none
  std::optional<IpAddress> broadcast;  // IPv4 only
  uint8_t scope = kScopeUniverse;
  // IPv6: IFA_F_NODAD, so the VIP is usable at once (keepalived does the same).
  bool no_dad = true;

  std::string to_string() const;  // "198.18.0.100/24 dev eth0 label eth0:1", for messages
};

struct InterfaceAddress {
  IpAddress address;
  uint8_t prefix_len = 0;
  uint8_t scope = kScopeUniverse;
  uint32_t flags = 0;  // IFA_F_*
  std::string label;   // IPv4 only
  std::optional<IpAddress> broadcast;

  bool tentative() const { return (flags & kAddrFlagTentative) != 0; }
  bool secondary() const { return (flags & kAddrFlagSecondary) != 0; }
};

struct RouteSpec {
  IpAddress destination;  // 0.0.0.0 or :: with prefix 0 for a default route
  uint8_t prefix_len = 32;
  std::optional<IpAddress> gateway;
  std::string dev;  // empty: the kernel picks it from the gateway
  std::optional<IpAddress> source;
  std::optional<uint32_t> metric;
  uint32_t table = 254;  // RT_TABLE_MAIN

  std::string to_string() const;  // "198.18.5.0/24 via 198.18.0.1 dev eth0", for messages
};

// Every call is synchronous with the kernel's acknowledgement and bounded by a receive
// timeout. Each mutating call answers whether it changed anything: adding what is there
// (EEXIST) or removing what is not (EADDRNOTAVAIL, ESRCH) succeeds with false.
class AddressManager {
 public:
  virtual ~AddressManager() = default;
  virtual core::Result<bool> add(const AddressSpec& spec) = 0;
  virtual core::Result<bool> remove(const AddressSpec& spec) = 0;
  // Addresses of `dev`, both families, in the kernel's order (primary IPv4 first).
  virtual core::Result<std::vector<InterfaceAddress>> list(const std::string& dev) = 0;
  virtual core::Result<bool> add_route(const RouteSpec& route) = 0;
  virtual core::Result<bool> remove_route(const RouteSpec& route) = 0;
};
using AddressManagerPtr = std::unique_ptr<AddressManager>;

// Opens a NETLINK_ROUTE socket (CAP_NET_ADMIN to change anything).
core::Result<AddressManagerPtr> make_netlink_address_manager();

// Helpers over list(): the first primary IPv4 address (a VRRP source), the first usable
// IPv6 link-local address (not tentative), and whether `ip` is configured on the interface.
std::optional<IpAddress> primary_ipv4(const std::vector<InterfaceAddress>& addresses);
std::optional<IpAddress> ipv6_link_local(const std::vector<InterfaceAddress>& addresses);
bool has_address(const std::vector<InterfaceAddress>& addresses, const IpAddress& ip);

}  // namespace tandem::vrrp::os
