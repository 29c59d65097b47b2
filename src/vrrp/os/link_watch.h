// Link and address events from rtnetlink, on the loop: interfaces going up and down, addresses
// appearing and going away.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/result.h"
#include "vrrp/ip_address.h"

namespace asio {
class io_context;
}

namespace tandem::vrrp::os {

struct LinkState {
  int ifindex = 0;
  std::string name;
  bool exists = true;     // false once: the link was deleted
  bool admin_up = false;  // IFF_UP
  bool running = false;   // IFF_RUNNING (carrier and operstate allow traffic)
  uint8_t operstate = 0;  // IF_OPER_* (6 = up)

  // What VRRP calls an interface that works: configured up and able to pass traffic.
  bool up() const { return exists && admin_up && running; }
  friend bool operator==(const LinkState&, const LinkState&) = default;
};

struct AddressEvent {
  bool added = true;  // false: removed
  int ifindex = 0;
  std::string ifname;  // empty when the link is unknown (already gone)
  IpAddress address;
  uint8_t prefix_len = 0;
  uint32_t flags = 0;  // IFA_F_*: an IPv6 address is announced again when DAD ends
};

class LinkWatch {
 public:
  virtual ~LinkWatch() = default;
  // Called when a link appears, disappears, or its admin_up/running/operstate changes.
  virtual void on_link(std::function<void(const LinkState&)> callback) = 0;
  // Called for every address added or removed (both families, every interface).
  virtual void on_address(std::function<void(const AddressEvent&)> callback) = 0;
  // The last state seen; nullopt for an unknown interface.
  virtual std::optional<LinkState> link(const std::string& name) const = 0;
};
using LinkWatchPtr = std::unique_ptr<LinkWatch>;

// Subscribes to RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR, then takes the
// initial link states with a dump (synchronous, bounded by a timeout) before returning.
core::Result<LinkWatchPtr> open_link_watch(asio::io_context& io);

}  // namespace tandem::vrrp::os
