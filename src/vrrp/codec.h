// The VRRP v2/v3 wire codec: Advert <-> bytes, checksums, and receive-side validation. Pure.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "vrrp/ip_address.h"

namespace tandem::vrrp {

inline constexpr uint8_t kIpProtocolVrrp = 112;
inline constexpr uint8_t kRequiredTtl = 255;  // TTL / hop limit on send, checked on receive
inline constexpr uint8_t kTypeAdvertisement = 1;
inline constexpr size_t kHeaderSize = 8;
inline constexpr size_t kAuthDataSize = 8;  // v2 only
inline constexpr size_t kIpv4HeaderSize = 20;
inline constexpr uint8_t kIpv4TosNetworkControl = 0xc0;  // what keepalived sends (CS6)
inline constexpr uint16_t kV3MaxInterval = 0x0fff;       // 12 bits of centiseconds

enum class AuthType : uint8_t { kNone = 0, kPass = 1, kAh = 2 };

using Centiseconds = std::chrono::duration<int64_t, std::centi>;
using AuthData = std::array<uint8_t, kAuthDataSize>;

// One advertisement, field by field as on the wire.
struct Advert {
  uint8_t version = 3;
  uint8_t type = kTypeAdvertisement;
  uint8_t vrid = 0;
  uint8_t priority = 100;
  uint8_t address_count = 0;    // the Count field as received; encode() writes addresses.size()
  uint8_t auth_type = 0;        // v2 only (0 in v3)
  uint8_t reserved = 0;         // v3 only: the 4 bits above the interval, sent as 0
  uint16_t interval_raw = 100;  // v2: seconds (8 bits); v3: centiseconds (12 bits)
  uint16_t checksum = 0;        // as received; encode() computes its own
  std::vector<IpAddress> addresses;
  AuthData auth_data{};  // v2 only: the PASS password, zero padded; zeros otherwise

  // The advertisement interval as a duration, whatever the version.
  Centiseconds interval() const;
  // Sets interval_raw for this version; false (and unchanged) when the version cannot carry it
  // (v2: whole seconds 1..255; v3: 1..4095 cs).
  bool set_interval(Centiseconds interval);

  std::string to_string() const;
  friend bool operator==(const Advert&, const Advert&) = default;
};

std::ostream& operator<<(std::ostream& out, const Advert& advert);

// A password as keepalived stores it for auth_type PASS: the first 8 octets, zero padded.
AuthData auth_pass(std::string_view password);

// Which checksum a message carries: RFC 3768 (v2) sums the message alone; RFC 5798 (v3) adds
// the IP pseudo-header, which RFC 9568 peers leave out over IPv4 (keepalived's
// v3_checksum_as_v2).
uint16_t vrrp_checksum(uint8_t version, const IpAddress& src, const IpAddress& dst,
                       std::span<const uint8_t> message, bool v3_checksum_as_v2 = false);

struct EncodeOptions {
  IpAddress source;       // the IP source (pseudo-header); its family picks the address size
  IpAddress destination;  // multicast group or unicast peer
  bool v3_checksum_as_v2 = false;
};

// The VRRP message (the IP payload) with its checksum, byte for byte as keepalived builds it.
// Fails on what the wire cannot carry: wrong families, >255 addresses, interval out of range.
core::Result<std::vector<uint8_t>> encode(const Advert& advert, const EncodeOptions& options);

// A whole IPv4 datagram as keepalived sends it over a raw socket with IP_HDRINCL: TOS 0xc0,
// no fragment flags, TTL 255, protocol 112, header checksum filled in (the kernel would do
// that and pick the id; we take the id as given).
core::Result<std::vector<uint8_t>> encode_ipv4_packet(const Advert& advert,
                                                      const EncodeOptions& options, uint16_t ip_id);

// Why a received packet was dropped: one value per reason, so each can be counted.
enum class RxStatus : uint8_t {
  kOk,
  kTooShort,              // shorter than an IPv4 header, its total length, or a VRRP header
  kBadIpHeader,           // IPv4 version not 4, IHL < 5, total length below the header
  kBadIpChecksum,         // IPv4 header checksum
  kNotVrrp,               // IP protocol is not 112
  kBadTtl,                // TTL / hop limit not 255 where it must be checked
  kBadAddressFamily,      // source and destination differ in family, or v2 over IPv6
  kBadVersion,            // neither 2 nor 3, or not the configured version
  kBadType,               // not 1 (advertisement)
  kBadLength,             // size does not match Count (and v2 auth data)
  kBadChecksum,           // VRRP checksum
  kVridMismatch,          // not the configured VRID
  kAuthTypeUnknown,       // v2 auth type above 2
  kAuthAhUnsupported,     // v2 auth type 2 (IPsec AH): not implemented
  kAuthTypeMismatch,      // v2 auth type differs from the configured one
  kAuthMismatch,          // v2 PASS: the 8 octets differ
  kIntervalMismatch,      // v2 interval differs from the configured one
  kAddressCountMismatch,  // Count differs from the configured addresses
  kAddressListMismatch,   // a configured address is missing from the advert
};
inline constexpr size_t kRxStatusCount = static_cast<size_t>(RxStatus::kAddressListMismatch) + 1;

std::string_view to_string(RxStatus status);
std::ostream& operator<<(std::ostream& out, RxStatus status);

// What the receiving instance is configured for. Unset optionals are not checked, so the
// caller can decode first and dispatch on the VRID.
struct RxCheck {
  bool check_ttl = true;  // multicast: always; unicast: when configured
  bool v3_checksum_as_v2 = false;
  std::optional<uint8_t> version;
  std::optional<uint8_t> vrid;
  std::optional<AuthType> auth_type;   // v2
  AuthData auth_data{};                // v2, compared when auth_type is kPass
  std::optional<uint8_t> v2_interval;  // v2, seconds
  // The configured virtual addresses: Count must match and each must be in the advert.
  std::optional<std::span<const IpAddress>> addresses;
};

// The IP-layer view of one received VRRP message.
struct RxView {
  IpAddress source;
  IpAddress destination;
  uint8_t ttl = 0;                   // IPv4 TTL or IPv6 hop limit
  std::span<const uint8_t> payload;  // the VRRP message
};

struct Decoded {
  RxStatus status = RxStatus::kTooShort;
  RxView ip;      // what the IP layer said; payload points into the caller's buffer
  Advert advert;  // filled as far as parsing got (for the log line); complete when ok()
  bool ok() const { return status == RxStatus::kOk; }
};

// Validates and decodes a VRRP message given its IP-layer view (RFC 3768 / RFC 5798 7.1 order).
Decoded decode(const RxView& view, const RxCheck& check);

// From a whole IPv4 datagram, as an IPv4 raw socket receives it (header included). Octets past
// the total length (link padding) are ignored.
Decoded decode_ipv4_packet(std::span<const uint8_t> packet, const RxCheck& check);

// From an IPv6 payload plus what ancillary data said (addresses, hop limit).
Decoded decode_ipv6(const IpAddress& source, const IpAddress& destination, uint8_t hop_limit,
                    std::span<const uint8_t> payload, const RxCheck& check);

}  // namespace tandem::vrrp
