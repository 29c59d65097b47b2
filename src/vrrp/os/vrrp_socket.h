// The VRRP packet socket of one interface and family: raw IP protocol 112 on an asio loop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "vrrp/ip_address.h"

namespace asio {
class io_context;
}

namespace tandem::vrrp::os {

// One received VRRP message; the spans point into the socket's buffer and live only for the
// duration of the receiver call.
struct RxPacket {
  IpAddress source;
  IpAddress destination;
  uint8_t ttl = 0;                // IPv4 TTL or IPv6 hop limit (0 when the kernel did not say)
  std::span<const uint8_t> vrrp;  // the IP payload (empty when the IPv4 header is unreadable)
  int ifindex = 0;
  std::span<const uint8_t> ipv4_datagram;  // IPv4: the whole datagram for decode_ipv4_packet
};

struct SocketCounters {
  uint64_t rx_packets = 0;
  uint64_t rx_errors = 0;     // recvmsg failures other than EAGAIN
  uint64_t rx_truncated = 0;  // larger than the receive buffer: dropped
  uint64_t tx_packets = 0;
  uint64_t tx_errors = 0;
};

class VrrpSocket {
 public:
  virtual ~VrrpSocket() = default;
  // Sends one VRRP message (the IP payload, checksum already computed over src/dst) with
  // TTL / hop limit 255. IPv4 src goes into our own header; IPv6 src through IPV6_PKTINFO.
  virtual core::Result<void> send(const IpAddress& src, const IpAddress& dst,
                                  std::span<const uint8_t> vrrp_payload) = 0;
  // Called on the loop for every packet received on the interface (all VRIDs: dispatch is
  // the caller's business). Replaces any earlier receiver.
  virtual void set_receiver(std::function<void(const RxPacket&)> receiver) = 0;
  // Multicast membership on this interface; joining twice is not an error.
  virtual core::Result<void> join(const IpAddress& group) = 0;
  virtual core::Result<void> leave(const IpAddress& group) = 0;
  virtual const SocketCounters& counters() const = 0;
  virtual int ifindex() const = 0;
  virtual Family family() const = 0;
};
using VrrpSocketPtr = std::unique_ptr<VrrpSocket>;

// Opens the socket bound to `ifname` (SO_BINDTODEVICE) and starts receiving on `io`.
// Needs CAP_NET_RAW. Joins no group: call join() for multicast.
core::Result<VrrpSocketPtr> open_vrrp_socket(asio::io_context& io, const std::string& ifname,
                                             Family family);

// The IPv4 header we put in front of a VRRP message (IP_HDRINCL): TOS 0xc0, TTL 255, no
// fragment flags, protocol 112, header checksum filled in; the id is a per-socket counter as
// keepalived keeps it.
std::vector<uint8_t> build_ipv4_datagram(const IpAddress& src, const IpAddress& dst,
                                         std::span<const uint8_t> vrrp_payload, uint16_t ip_id);

}  // namespace tandem::vrrp::os
