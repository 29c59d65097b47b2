#include "vrrp/codec.h"

#include <algorithm>
#include <cstdio>
#include <ostream>

#include "vrrp/checksum.h"

namespace tandem::vrrp {
namespace {

uint16_t load_u16(std::span<const uint8_t> p, size_t at) {
  return static_cast<uint16_t>(p[at] << 8 | p[at + 1]);
}

void store_u16(std::vector<uint8_t>& out, size_t at, uint16_t value) {
  out[at] = static_cast<uint8_t>(value >> 8);
  out[at + 1] = static_cast<uint8_t>(value);
}

IpAddress address_at(Family family, std::span<const uint8_t> p) {
  if (family == Family::kIpv4) return IpAddress::v4(p.first<IpAddress::kV4Size>());
  return IpAddress::v6(p.first<IpAddress::kV6Size>());
}

size_t address_size(Family family) {
  return family == Family::kIpv4 ? IpAddress::kV4Size : IpAddress::kV6Size;
}

}  // namespace

Centiseconds Advert::interval() const {
  if (version == 2) return std::chrono::seconds(interval_raw);
  return Centiseconds(interval_raw);
}

bool Advert::set_interval(Centiseconds value) {
  if (value.count() <= 0) return false;
  if (version == 2) {
    if (value.count() % 100 != 0 || value.count() / 100 > 0xff) return false;
    interval_raw = static_cast<uint16_t>(value.count() / 100);
    return true;
  }
  if (value.count() > kV3MaxInterval) return false;
  interval_raw = static_cast<uint16_t>(value.count());
  return true;
}

std::string Advert::to_string() const {
  std::string s = "v" + std::to_string(version) + " type " + std::to_string(type) + " vrid " +
                  std::to_string(vrid) + " prio " + std::to_string(priority) + " interval " +
                  std::to_string(interval().count() * 10) + "ms";
  if (version == 2) s += " auth " + std::to_string(auth_type);
  char csum[8];
  std::snprintf(csum, sizeof csum, "%04x", checksum);
  s += " csum 0x";
  s += csum;
  s += " count " + std::to_string(address_count) + " [";
  for (size_t i = 0; i < addresses.size(); ++i) {
    if (i) s += ' ';
    s += addresses[i].to_string();
  }
  return s + "]";
}

std::ostream& operator<<(std::ostream& out, const Advert& advert) {
  return out << advert.to_string();
}

AuthData auth_pass(std::string_view password) {
  AuthData data{};
  std::copy_n(password.begin(), std::min(password.size(), data.size()), data.begin());
  return data;
}

uint16_t vrrp_checksum(uint8_t version, const IpAddress& src, const IpAddress& dst,
                       std::span<const uint8_t> message, bool v3_checksum_as_v2) {
  if (version != 3) return internet_checksum(message);
  if (src.is_v6()) return ipv6_pseudo_checksum(src, dst, kIpProtocolVrrp, message);
  if (v3_checksum_as_v2) return internet_checksum(message);
  return ipv4_pseudo_checksum(src, dst, kIpProtocolVrrp, message);
}

core::Result<std::vector<uint8_t>> encode(const Advert& advert, const EncodeOptions& options) {
  const Family family = options.source.family();
  if (options.destination.family() != family) {
    return core::fail("vrrp: source and destination are not of one address family");
  }
  if (advert.version != 2 && advert.version != 3) {
    return core::fail("vrrp: version " + std::to_string(advert.version) + " is not 2 or 3");
  }
  if (advert.version == 2 && family != Family::kIpv4) {
    return core::fail("vrrp: version 2 runs over IPv4 only");
  }
  if (advert.type > 0x0f) return core::fail("vrrp: type does not fit in 4 bits");
  if (advert.addresses.size() > 0xff) return core::fail("vrrp: more than 255 addresses");
  for (const IpAddress& a : advert.addresses) {
    if (a.family() != family) {
      return core::fail("vrrp: address " + a.to_string() + " is not " +
                        std::string(vrrp::to_string(family)));
    }
  }
  const bool v2 = advert.version == 2;
  if (v2 ? advert.interval_raw > 0xff : advert.interval_raw > kV3MaxInterval) {
    return core::fail("vrrp: interval " + std::to_string(advert.interval_raw) +
                      " does not fit version " + std::to_string(advert.version));
  }
  if (!v2 && advert.reserved > 0x0f) return core::fail("vrrp: reserved does not fit in 4 bits");

  const size_t alen = address_size(family);
  std::vector<uint8_t> out(kHeaderSize + advert.addresses.size() * alen + (v2 ? kAuthDataSize : 0));
  out[0] = static_cast<uint8_t>(advert.version << 4 | advert.type);
  out[1] = advert.vrid;
  out[2] = advert.priority;
  out[3] = static_cast<uint8_t>(advert.addresses.size());
  if (v2) {
    out[4] = advert.auth_type;
    out[5] = static_cast<uint8_t>(advert.interval_raw);
  } else {
    store_u16(out, 4, static_cast<uint16_t>(advert.reserved << 12 | advert.interval_raw));
  }
  size_t at = kHeaderSize;
  for (const IpAddress& a : advert.addresses) {
    std::copy(a.bytes().begin(), a.bytes().end(), out.begin() + static_cast<ptrdiff_t>(at));
    at += alen;
  }
  if (v2) std::copy(advert.auth_data.begin(), advert.auth_data.end(), out.begin() + at);
  store_u16(out, 6,
            vrrp_checksum(advert.version, options.source, options.destination, out,
                          options.v3_checksum_as_v2));
  return out;
}

core::Result<std::vector<uint8_t>> encode_ipv4_packet(const Advert& advert,
                                                      const EncodeOptions& options,
                                                      uint16_t ip_id) {
  if (!options.source.is_v4()) return core::fail("vrrp: an IPv4 packet needs IPv4 addresses");
  auto message = encode(advert, options);
  if (!message) return message;
  std::vector<uint8_t> out(kIpv4HeaderSize + message->size());
  out[0] = 0x45;  // version 4, 5 words of header
  out[1] = kIpv4TosNetworkControl;
  store_u16(out, 2, static_cast<uint16_t>(out.size()));
  store_u16(out, 4, ip_id);
  // Octets 6-7 (flags, fragment offset) stay 0: keepalived does not set DF.
  out[8] = kRequiredTtl;
  out[9] = kIpProtocolVrrp;
  std::copy(options.source.bytes().begin(), options.source.bytes().end(), out.begin() + 12);
  std::copy(options.destination.bytes().begin(), options.destination.bytes().end(),
            out.begin() + 16);
  store_u16(out, 10, internet_checksum(std::span(out).first(kIpv4HeaderSize)));
  std::copy(message->begin(), message->end(), out.begin() + kIpv4HeaderSize);
  return out;
}

std::string_view to_string(RxStatus status) {
  switch (status) {
    case RxStatus::kOk:
      return "ok";
    case RxStatus::kTooShort:
      return "too short";
    case RxStatus::kBadIpHeader:
      return "bad IP header";
    case RxStatus::kBadIpChecksum:
      return "bad IP header checksum";
    case RxStatus::kNotVrrp:
      return "not VRRP (IP protocol)";
    case RxStatus::kBadTtl:
      return "TTL/hop limit not 255";
    case RxStatus::kBadAddressFamily:
      return "bad address family";
    case RxStatus::kBadVersion:
      return "bad version";
    case RxStatus::kBadType:
      return "bad type";
    case RxStatus::kBadLength:
      return "length does not match address count";
    case RxStatus::kBadChecksum:
      return "bad checksum";
    case RxStatus::kVridMismatch:
      return "VRID mismatch";
    case RxStatus::kAuthTypeUnknown:
      return "unknown auth type";
    case RxStatus::kAuthAhUnsupported:
      return "auth type AH not supported";
    case RxStatus::kAuthTypeMismatch:
      return "auth type mismatch";
    case RxStatus::kAuthMismatch:
      return "auth data mismatch";
    case RxStatus::kIntervalMismatch:
      return "advert interval mismatch";
    case RxStatus::kAddressCountMismatch:
      return "address count mismatch";
    case RxStatus::kAddressListMismatch:
      return "address list mismatch";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& out, RxStatus status) {
  return out << to_string(status);
}

Decoded decode(const RxView& view, const RxCheck& check) {
  Decoded d;
  d.ip = view;
  Advert& a = d.advert;
  auto drop = [&d](RxStatus status) {
    d.status = status;
    return d;
  };
  const Family family = view.source.family();
  if (view.destination.family() != family) return drop(RxStatus::kBadAddressFamily);
  if (check.check_ttl && view.ttl != kRequiredTtl) return drop(RxStatus::kBadTtl);
  const std::span<const uint8_t> p = view.payload;
  if (p.size() < kHeaderSize) return drop(RxStatus::kTooShort);

  a.version = p[0] >> 4;
  a.type = p[0] & 0x0f;
  a.vrid = p[1];
  a.priority = p[2];
  a.address_count = p[3];
  const bool v2 = a.version == 2;
  if (v2) {
    a.auth_type = p[4];
    a.interval_raw = p[5];
  } else {
    a.reserved = p[4] >> 4;
    a.interval_raw = load_u16(p, 4) & kV3MaxInterval;
  }
  a.checksum = load_u16(p, 6);

  if (a.version != 2 && a.version != 3) return drop(RxStatus::kBadVersion);
  if (check.version && *check.version != a.version) return drop(RxStatus::kBadVersion);
  if (v2 && family != Family::kIpv4) return drop(RxStatus::kBadAddressFamily);
  if (a.type != kTypeAdvertisement) return drop(RxStatus::kBadType);

  const size_t alen = address_size(family);
  const size_t expected = kHeaderSize + a.address_count * alen + (v2 ? kAuthDataSize : 0);
  if (p.size() != expected) return drop(RxStatus::kBadLength);
  a.addresses.reserve(a.address_count);
  for (size_t i = 0; i < a.address_count; ++i) {
    a.addresses.push_back(address_at(family, p.subspan(kHeaderSize + i * alen)));
  }
  if (v2) std::copy_n(p.end() - kAuthDataSize, kAuthDataSize, a.auth_data.begin());

  if (vrrp_checksum(a.version, view.source, view.destination, p, check.v3_checksum_as_v2) != 0) {
    return drop(RxStatus::kBadChecksum);
  }
  if (check.vrid && *check.vrid != a.vrid) return drop(RxStatus::kVridMismatch);

  if (v2) {
    if (a.auth_type > static_cast<uint8_t>(AuthType::kAh)) return drop(RxStatus::kAuthTypeUnknown);
    if (a.auth_type == static_cast<uint8_t>(AuthType::kAh)) {
      return drop(RxStatus::kAuthAhUnsupported);
    }
    if (check.auth_type) {
      if (static_cast<uint8_t>(*check.auth_type) != a.auth_type) {
        return drop(RxStatus::kAuthTypeMismatch);
      }
      if (*check.auth_type == AuthType::kPass && a.auth_data != check.auth_data) {
        return drop(RxStatus::kAuthMismatch);
      }
    }
    // A different interval means two routers configured differently for one VRID (RFC 3768).
    if (check.v2_interval && *check.v2_interval != a.interval_raw) {
      return drop(RxStatus::kIntervalMismatch);
    }
  }

  if (check.addresses) {
    const std::span<const IpAddress> want = *check.addresses;
    if (want.size() != a.address_count) return drop(RxStatus::kAddressCountMismatch);
    for (const IpAddress& w : want) {
      if (std::find(a.addresses.begin(), a.addresses.end(), w) == a.addresses.end()) {
        return drop(RxStatus::kAddressListMismatch);
      }
    }
  }
  d.status = RxStatus::kOk;
  return d;
}

Decoded decode_ipv4_packet(std::span<const uint8_t> packet, const RxCheck& check) {
  Decoded d;
  auto drop = [&d](RxStatus status) {
    d.status = status;
    return d;
  };
  if (packet.size() < kIpv4HeaderSize) return drop(RxStatus::kTooShort);
  const size_t ihl = static_cast<size_t>(packet[0] & 0x0f) * 4;
  const size_t total = load_u16(packet, 2);
  d.ip.source = IpAddress::v4(packet.subspan<12, IpAddress::kV4Size>());
  d.ip.destination = IpAddress::v4(packet.subspan<16, IpAddress::kV4Size>());
  d.ip.ttl = packet[8];
  if (packet[0] >> 4 != 4 || ihl < kIpv4HeaderSize || total < ihl) {
    return drop(RxStatus::kBadIpHeader);
  }
  if (total > packet.size()) return drop(RxStatus::kTooShort);
  // Raw sockets deliver reassembled datagrams; a fragment here is not a VRRP message.
  if ((load_u16(packet, 6) & 0x3fff) != 0) return drop(RxStatus::kBadIpHeader);
  if (internet_checksum(packet.first(ihl)) != 0) return drop(RxStatus::kBadIpChecksum);
  if (packet[9] != kIpProtocolVrrp) return drop(RxStatus::kNotVrrp);
  d.ip.payload = packet.subspan(ihl, total - ihl);
  return decode(d.ip, check);
}

Decoded decode_ipv6(const IpAddress& source, const IpAddress& destination, uint8_t hop_limit,
                    std::span<const uint8_t> payload, const RxCheck& check) {
  const RxView view{source, destination, hop_limit, payload};
  if (!source.is_v6() || !destination.is_v6()) {
    Decoded d;
    d.ip = view;
    d.status = RxStatus::kBadAddressFamily;
    return d;
  }
  return decode(view, check);
}

}  // namespace tandem::vrrp
