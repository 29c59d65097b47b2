// Golden tests: every advert keepalived 2.2.7 sent in shared/vectors/vrrp decodes to the
// configured values and re-encodes to the same bytes.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "vrrp/codec.h"

#ifndef TANDEM_VECTORS_DIR
#error "TANDEM_VECTORS_DIR must name shared/vectors/vrrp"
#endif

namespace tandem::vrrp {
namespace {

using Bytes = std::vector<uint8_t>;

// One VRRP message found in a capture, with the IP layer around it.
struct CapturedAdvert {
  size_t frame = 0;  // 1-based, as tshark numbers them
  IpAddress source;
  IpAddress destination;
  uint8_t ttl = 0;
  Bytes ip_packet;  // IPv4: the whole datagram; IPv6: empty
  Bytes payload;    // the VRRP message
};

struct Capture {
  std::vector<CapturedAdvert> adverts;
  size_t frames = 0;
  size_t arp = 0;
  size_t icmpv6 = 0;
  size_t other = 0;
  size_t ipv6_extension_headers = 0;
};

uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

// Walks the IPv6 extension headers keepalived or the kernel could put before VRRP.
std::optional<size_t> skip_ipv6_extensions(const Bytes& f, size_t at, uint8_t& next,
                                           size_t& count) {
  while (next == 0 || next == 43 || next == 44 || next == 60) {
    if (at + 8 > f.size()) return std::nullopt;
    const size_t len = next == 44 ? 8 : (static_cast<size_t>(f[at + 1]) + 1) * 8;
    next = f[at];
    at += len;
    ++count;
  }
  return at;
}

void classify_frame(const Bytes& f, Capture& cap) {
  if (f.size() < 14) return void(++cap.other);
  size_t at = 12;
  uint16_t ethertype = be16(&f[at]);
  if (ethertype == 0x8100 && f.size() >= 18) {  // one VLAN tag
    at += 4;
    ethertype = be16(&f[at]);
  }
  at += 2;
  if (ethertype == 0x0806) return void(++cap.arp);
  if (ethertype == 0x0800 && f.size() >= at + 20) {
    const uint8_t* ip = &f[at];
    const size_t ihl = static_cast<size_t>(ip[0] & 0x0f) * 4;
    const size_t total = be16(ip + 2);
    if (ip[9] != kIpProtocolVrrp || at + total > f.size() || total < ihl) return void(++cap.other);
    CapturedAdvert a;
    a.frame = cap.frames;
    a.source = IpAddress::v4(std::span<const uint8_t, 4>(ip + 12, 4));
    a.destination = IpAddress::v4(std::span<const uint8_t, 4>(ip + 16, 4));
    a.ttl = ip[8];
    a.ip_packet.assign(ip, ip + total);
    a.payload.assign(ip + ihl, ip + total);
    cap.adverts.push_back(std::move(a));
    return;
  }
  if (ethertype == 0x86dd && f.size() >= at + 40) {
    const uint8_t* ip = &f[at];
    uint8_t next = ip[6];
    const size_t end = at + 40 + be16(ip + 4);
    if (end > f.size()) return void(++cap.other);
    auto body = skip_ipv6_extensions(f, at + 40, next, cap.ipv6_extension_headers);
    if (!body || *body > end) return void(++cap.other);
    if (next == 58) return void(++cap.icmpv6);
    if (next != kIpProtocolVrrp) return void(++cap.other);
    CapturedAdvert a;
    a.frame = cap.frames;
    a.source = IpAddress::v6(std::span<const uint8_t, 16>(ip + 8, 16));
    a.destination = IpAddress::v6(std::span<const uint8_t, 16>(ip + 24, 16));
    a.ttl = ip[7];
    a.payload.assign(f.begin() + static_cast<ptrdiff_t>(*body),
                     f.begin() + static_cast<ptrdiff_t>(end));
    cap.adverts.push_back(std::move(a));
    return;
  }
  ++cap.other;
}

// Reads NAME.pcap; fails the test (never skips) when the vectors are missing.
std::optional<Capture> read_capture(const std::string& name) {
  const std::filesystem::path dir = TANDEM_VECTORS_DIR;
  const std::filesystem::path file = dir / (name + ".pcap");
  if (!std::filesystem::is_directory(dir)) {
    ADD_FAILURE() << "VRRP wire vectors not found at " << dir
                  << ": shared/vectors/vrrp must sit beside the source tree (../shared)";
    return std::nullopt;
  }
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* pcap = pcap_open_offline(file.c_str(), err);
  if (pcap == nullptr) {
    ADD_FAILURE() << "cannot open " << file << ": " << err;
    return std::nullopt;
  }
  Capture cap;
  if (pcap_datalink(pcap) != DLT_EN10MB) {
    ADD_FAILURE() << file << ": link type " << pcap_datalink(pcap) << ", expected Ethernet";
    pcap_close(pcap);
    return std::nullopt;
  }
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  while (pcap_next_ex(pcap, &hdr, &data) == 1) {
    ++cap.frames;
    EXPECT_EQ(hdr->caplen, hdr->len) << name << " frame " << cap.frames << " was truncated";
    classify_frame(Bytes(data, data + hdr->caplen), cap);
  }
  pcap_close(pcap);
  return cap;
}

// What NAME.keepalived.conf configured.
struct Expected {
  std::string name;
  uint8_t version;
  uint8_t vrid;
  uint8_t priority;
  uint16_t interval_raw;
  Centiseconds interval;
  std::vector<std::string> addresses;
  std::string source;
  std::string destination;
  AuthType auth;
  // Frame counts, from tshark -r NAME.pcap.
  size_t frames;
  size_t adverts;
  size_t arp;
  size_t icmpv6;
  uint16_t checksum;       // of every advert at the configured priority
  uint16_t last_checksum;  // of the final priority-0 advert
};

const Expected kCaptures[] = {
    {"v2-unicast",
     2,
     51,
     101,
     1,
     Centiseconds(100),
     {"198.18.0.100"},
     "198.18.0.1",
     "198.18.0.2",
     AuthType::kNone,
     16,
     4,
     7,
     5,
     0xb353,
     0x1854},
    {"v2-multicast-authpass",
     2,
     52,
     150,
     1,
     Centiseconds(100),
     {"198.18.0.101", "198.18.0.102"},
     "198.18.0.1",
     "224.0.0.18",
     AuthType::kPass,
     15,
     4,
     10,
     1,
     0x4d59,
     0xe359},
    {"v3-unicast-centisec",
     3,
     53,
     200,
     10,
     Centiseconds(10),
     {"198.18.0.103"},
     "198.18.0.1",
     "198.18.0.2",
     AuthType::kNone,
     72,
     58,
     12,
     2,
     0xb3a0,
     0x7ba1},
    {"v3-ipv6-multicast",
     3,
     54,
     120,
     100,
     Centiseconds(100),
     {"2001:db8::100"},
     "fe80::5c9f:66ff:feda:f5ad",
     "ff02::12",
     AuthType::kNone,
     9,
     4,
     0,
     5,
     0x7165,
     0xe965},
};

// gtest prints a parameter by this; the bytes of the struct say nothing.
void PrintTo(const Expected& e, std::ostream* out) {
  *out << e.name;
}

class VrrpGolden : public ::testing::TestWithParam<Expected> {};

TEST_P(VrrpGolden, EveryAdvertDecodesAndReencodes) {
  const Expected& want = GetParam();
  const auto cap = read_capture(want.name);
  ASSERT_TRUE(cap);
  EXPECT_EQ(cap->frames, want.frames);
  ASSERT_EQ(cap->adverts.size(), want.adverts);
  EXPECT_EQ(cap->arp, want.arp);
  EXPECT_EQ(cap->icmpv6, want.icmpv6);
  EXPECT_EQ(cap->other, 0u);
  EXPECT_EQ(cap->ipv6_extension_headers, 0u);

  std::vector<IpAddress> vips;
  for (const auto& text : want.addresses) vips.push_back(*IpAddress::parse(text));
  RxCheck check;  // what a receiving keepalived with the same configuration checks
  check.check_ttl = true;
  check.version = want.version;
  check.vrid = want.vrid;
  check.addresses = vips;
  if (want.version == 2) {
    check.auth_type = want.auth;
    check.auth_data = want.auth == AuthType::kPass ? auth_pass("secret12") : AuthData{};
    check.v2_interval = static_cast<uint8_t>(want.interval_raw);
  }
  const IpAddress src = *IpAddress::parse(want.source);
  const IpAddress dst = *IpAddress::parse(want.destination);

  for (size_t i = 0; i < cap->adverts.size(); ++i) {
    const CapturedAdvert& c = cap->adverts[i];
    SCOPED_TRACE(want.name + " frame " + std::to_string(c.frame));
    const bool last = i + 1 == cap->adverts.size();
    EXPECT_EQ(c.source, src);
    EXPECT_EQ(c.destination, dst);

    const Decoded d = src.is_v4() ? decode_ipv4_packet(c.ip_packet, check)
                                  : decode_ipv6(c.source, c.destination, c.ttl, c.payload, check);
    ASSERT_EQ(d.status, RxStatus::kOk);
    EXPECT_EQ(d.ip.ttl, 255);
    EXPECT_EQ(Bytes(d.ip.payload.begin(), d.ip.payload.end()), c.payload);
    const Advert& a = d.advert;
    EXPECT_EQ(a.version, want.version);
    EXPECT_EQ(a.type, kTypeAdvertisement);
    EXPECT_EQ(a.vrid, want.vrid);
    // Keepalived's last word on SIGTERM is priority 0: "take over now".
    EXPECT_EQ(a.priority, last ? 0 : want.priority);
    EXPECT_EQ(a.address_count, vips.size());
    EXPECT_EQ(a.addresses, vips);
    EXPECT_EQ(a.interval_raw, want.interval_raw);
    EXPECT_EQ(a.interval(), want.interval);
    EXPECT_EQ(a.reserved, 0);
    EXPECT_EQ(a.checksum, last ? want.last_checksum : want.checksum);
    EXPECT_EQ(a.auth_type, want.version == 2 ? static_cast<uint8_t>(want.auth) : 0);
    EXPECT_EQ(a.auth_data, want.auth == AuthType::kPass ? auth_pass("secret12") : AuthData{});

    const EncodeOptions out{c.source, c.destination};
    const auto message = encode(a, out);
    ASSERT_TRUE(message) << message.error().to_string();
    EXPECT_EQ(*message, c.payload);
    if (src.is_v4()) {
      // The kernel picked the IP id (1, 2, 3, ...); everything else is keepalived's header.
      const uint16_t id = static_cast<uint16_t>(c.ip_packet[4] << 8 | c.ip_packet[5]);
      EXPECT_EQ(id, i + 1);
      const auto packet = encode_ipv4_packet(a, out, id);
      ASSERT_TRUE(packet);
      EXPECT_EQ(*packet, c.ip_packet);
    }
    if (want.version == 3 && src.is_v4()) {
      // Keepalived 2.2 sums the IPv4 pseudo-header: an RFC 9568 receiver would refuse it.
      RxCheck as_v2 = check;
      as_v2.v3_checksum_as_v2 = true;
      EXPECT_EQ(decode_ipv4_packet(c.ip_packet, as_v2).status, RxStatus::kBadChecksum);
    }
  }
}

// Test names from the capture names: gtest wants [A-Za-z0-9_].
std::string capture_name(const ::testing::TestParamInfo<Expected>& param) {
  std::string n = param.param.name;
  for (char& ch : n) ch = ch == '-' ? '_' : ch;
  return n;
}

INSTANTIATE_TEST_SUITE_P(Keepalived227, VrrpGolden, ::testing::ValuesIn(kCaptures), capture_name);

}  // namespace
}  // namespace tandem::vrrp
