// The VRRP OS adapters against the real kernel. Every test that needs root runs in a forked
// child (a gtest death test) inside a network namespace of its own, with a veth pair va/vb;
// the root namespace is never touched. The frame builders are checked against keepalived's
// captures without root.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <asio/io_context.hpp>

#include "vrrp/codec.h"
#include "vrrp/os/addresses.h"
#include "vrrp/os/announce.h"
#include "vrrp/os/fakes.h"
#include "vrrp/os/link_watch.h"
#include "vrrp/os/vrrp_socket.h"

namespace tandem::vrrp::os {
namespace {

using ::testing::HasSubstr;
using Bytes = std::vector<uint8_t>;

IpAddress ip(const char* text) {
  return *IpAddress::parse(text);
}

// ---- keepalived's captures, read with a few lines rather than a library ----

std::filesystem::path vectors_dir() {
  return std::filesystem::path(__FILE__).parent_path() / "../../../shared/vectors/vrrp";
}

// Ethernet frames of a classic pcap file (either byte order, micro- or nanoseconds).
std::vector<Bytes> read_pcap(const std::string& name) {
  const auto path = vectors_dir() / name;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "capture missing: " << path << " (the vectors live in shared/vectors/vrrp)";
    return {};
  }
  const Bytes file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (file.size() < 24) {
    ADD_FAILURE() << "not a pcap file: " << path;
    return {};
  }
  const bool swapped = file[0] == 0xa1;  // a big-endian magic: a1b2c3d4 or a1b23c4d
  auto u32 = [&](size_t at) -> uint32_t {
    if (swapped)
      return (file[at] << 24) | (file[at + 1] << 16) | (file[at + 2] << 8) | file[at + 3];
    return (file[at + 3] << 24) | (file[at + 2] << 16) | (file[at + 1] << 8) | file[at];
  };
  EXPECT_EQ(u32(20), 1u) << "link type is not Ethernet in " << path;
  std::vector<Bytes> frames;
  for (size_t at = 24; at + 16 <= file.size();) {
    const uint32_t len = u32(at + 8);
    at += 16;
    if (at + len > file.size()) break;
    frames.emplace_back(file.begin() + at, file.begin() + at + len);
    at += len;
  }
  return frames;
}

MacAddress mac_at(const Bytes& frame, size_t at) {
  MacAddress mac;
  std::copy(frame.begin() + at, frame.begin() + at + 6, mac.begin());
  return mac;
}

bool is_garp(const Bytes& f) {
  return f.size() >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 1 &&
         std::equal(f.begin() + 28, f.begin() + 32, f.begin() + 38);
}

bool is_na(const Bytes& f) {
  return f.size() >= 78 && f[12] == 0x86 && f[13] == 0xdd && f[20] == 58 && f[54] == 136;
}

TEST(FrameBuilders, GarpMatchesKeepalivedByteForByte) {
  int compared = 0;
  for (const char* name : {"v2-unicast.pcap", "v2-multicast-authpass.pcap"}) {
    for (const Bytes& frame : read_pcap(name)) {
      if (!is_garp(frame)) continue;
      const IpAddress vip = IpAddress::v4(std::span<const uint8_t, 4>(frame.data() + 28, 4));
      EXPECT_EQ(build_garp_frame(mac_at(frame, 6), vip), frame) << name << " " << vip;
      ++compared;
    }
  }
  EXPECT_GE(compared, 2);
}

TEST(FrameBuilders, UnsolicitedNaMatchesKeepalivedByteForByte) {
  int compared = 0;
  for (const Bytes& frame : read_pcap("v3-ipv6-multicast.pcap")) {
    if (!is_na(frame)) continue;
    const IpAddress vip = IpAddress::v6(std::span<const uint8_t, 16>(frame.data() + 62, 16));
    EXPECT_EQ(vip, ip("2001:db8::100"));
    EXPECT_EQ(build_unsolicited_na(mac_at(frame, 6), vip, false), frame);
    ++compared;
  }
  EXPECT_GE(compared, 1);
}

TEST(FrameBuilders, NaRouterFlagAndChecksum) {
  const MacAddress mac{0x02, 0, 0, 0, 0, 1};
  const Bytes na = build_unsolicited_na(mac, ip("2001:db8::100"), true);
  EXPECT_EQ(na[58], 0xa0);  // Router | Override
  // The ICMPv6 checksum verifies: summing the message with it gives 0.
  EXPECT_EQ(ipv6_pseudo_checksum(ip("2001:db8::100"), ip("ff02::1"), 58,
                                 std::span<const uint8_t>(na).subspan(54)),
            0);
}

// Our IPv4 header around keepalived's VRRP message gives keepalived's datagram back.
TEST(FrameBuilders, Ipv4DatagramMatchesKeepalived) {
  int compared = 0;
  for (const Bytes& frame : read_pcap("v2-multicast-authpass.pcap")) {
    if (frame.size() < 34 || frame[12] != 0x08 || frame[13] != 0x00 || frame[23] != 112) continue;
    const Bytes datagram(frame.begin() + 14, frame.end());
    const uint16_t id = static_cast<uint16_t>((datagram[4] << 8) | datagram[5]);
    const auto src = IpAddress::v4(std::span<const uint8_t, 4>(datagram.data() + 12, 4));
    const auto dst = IpAddress::v4(std::span<const uint8_t, 4>(datagram.data() + 16, 4));
    EXPECT_EQ(build_ipv4_datagram(src, dst, std::span<const uint8_t>(datagram).subspan(20), id),
              datagram);
    ++compared;
  }
  EXPECT_GE(compared, 2);
}

TEST(Fakes, SocketRecordsAndInjects) {
  FakeVrrpSocket socket;
  std::vector<IpAddress> seen;
  socket.set_receiver([&](const RxPacket& p) {
    seen.push_back(p.source);
    EXPECT_EQ(decode_ipv4_packet(p.ipv4_datagram, RxCheck{}).ip.ttl, 255);
  });
  const Bytes payload{1, 2, 3};
  ASSERT_TRUE(socket.send(ip("198.18.0.1"), ip("224.0.0.18"), payload));
  socket.inject(ip("198.18.0.2"), ip("224.0.0.18"), payload);
  ASSERT_EQ(socket.sent.size(), 1u);
  EXPECT_EQ(socket.sent[0].payload, payload);
  EXPECT_EQ(seen, std::vector<IpAddress>{ip("198.18.0.2")});

  FakeAddresses addresses;
  AddressSpec spec{ip("198.18.0.100"), 24, "eth0", "", std::nullopt, kScopeUniverse, true};
  EXPECT_EQ(addresses.add(spec), true);
  EXPECT_EQ(addresses.add(spec), false);
  EXPECT_TRUE(addresses.has("eth0", spec.address));
  EXPECT_EQ(addresses.remove(spec), true);
  EXPECT_EQ(addresses.remove(spec), false);
}

// ---- the real kernel, in a namespace of our own ----

#define NEEDS_ROOT()                                                                \
  do {                                                                              \
    if (geteuid() != 0) GTEST_SKIP() << "needs root to create a network namespace"; \
  } while (0)

void sh(const std::string& command) {
  if (std::system(command.c_str()) != 0) {
    std::fprintf(stderr, "command failed: %s\n", command.c_str());
    std::_Exit(3);
  }
}

void write_file(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  out << value;
  if (!out) ADD_FAILURE() << "cannot write " << path;
}

// The two namespaces of a child: va lives in A (where the test runs), vb in B, so that
// packets between them cross the link (in one namespace, both addresses would be local).
int g_netns_a = -1;
int g_netns_b = -1;

int new_netns() {
  if (unshare(CLONE_NEWNET) != 0) {
    std::perror("unshare(CLONE_NEWNET)");
    std::_Exit(4);
  }
  return open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
}

// Runs fn in namespace B: sockets keep the namespace they were made in, and commands run
// from here inherit it.
template <class F>
auto in_b(F&& fn) {
  struct Back {
    ~Back() { setns(g_netns_a, CLONE_NEWNET); }
  };
  if (setns(g_netns_b, CLONE_NEWNET) != 0) std::_Exit(6);
  Back back;
  return fn();
}

// In the child: lo and a veth pair va (A) <-> vb (B), up, DAD off on both (so the link-local
// addresses are usable at once), then the body; the exit status tells.
[[noreturn]] void in_netns(const std::function<void()>& body) {
  g_netns_a = new_netns();
  g_netns_b = new_netns();
  sh("ip link set lo up");
  if (setns(g_netns_a, CLONE_NEWNET) != 0) std::_Exit(6);
  sh("ip link set lo up && ip link add name va type veth peer name vb");
  write_file("/proc/sys/net/ipv6/conf/va/accept_dad", "0");
  sh("ip link set vb netns /proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(g_netns_b));
  in_b([] {
    write_file("/proc/sys/net/ipv6/conf/vb/accept_dad", "0");
    sh("ip link set vb up");
  });
  sh("ip link set va up");
  // A death-test child prints nothing of its own failures: collect them and say them on
  // stderr, which the parent shows.
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ALL_THREADS, &results);
    body();
  }
  bool failed = false;
  for (int i = 0; i < results.size(); ++i) {
    const auto& r = results.GetTestPartResult(i);
    failed = failed || r.failed();
    std::fprintf(stderr, "%s:%d: %s\n", r.file_name() ? r.file_name() : "?", r.line_number(),
                 r.message());
  }
  std::fflush(nullptr);
  std::_Exit(failed ? 1 : 0);
}

#define IN_NETNS(...) EXPECT_EXIT(in_netns(__VA_ARGS__), ::testing::ExitedWithCode(0), "")

// Runs the loop until `done` or the deadline; events, not sleeps, end the wait.
bool run_until(asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds deadline = std::chrono::milliseconds(3000)) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    io.restart();
    io.run_for(std::chrono::milliseconds(10));
  }
  return true;
}

AddressManagerPtr make_manager() {
  auto m = make_netlink_address_manager();
  if (!m) {
    std::fprintf(stderr, "%s\n", m.error().to_string().c_str());
    std::_Exit(5);
  }
  return std::move(*m);
}

// Netlink sockets talk to the namespace they were made in: one manager for each.
AddressManager& addresses() {
  static AddressManagerPtr manager = make_manager();
  return *manager;
}
AddressManager& addresses_b() {
  static AddressManagerPtr manager = in_b(make_manager);
  return *manager;
}
AddressManager& addresses_of(const std::string& dev) {
  return dev == "vb" ? addresses_b() : addresses();
}

void add_v4(const char* dev, const char* address) {
  auto r = addresses_of(dev).add({ip(address), 24, dev, "", std::nullopt, kScopeUniverse, true});
  ASSERT_TRUE(r) << r.error().to_string();
}

// The kernel adds link-local addresses once the carrier is up; wait for a usable one.
IpAddress link_local_of(const char* dev) {
  std::optional<IpAddress> found;
  for (int i = 0; i < 300 && !found; ++i) {
    auto list = addresses_of(dev).list(dev);
    if (list) found = ipv6_link_local(*list);
    if (!found) usleep(10000);
  }
  EXPECT_TRUE(found) << "no link-local address on " << dev;
  return found.value_or(IpAddress());
}

Bytes v2_advert(const IpAddress& src, const IpAddress& dst) {
  Advert advert;
  advert.version = 2;
  advert.vrid = 51;
  advert.priority = 101;
  advert.interval_raw = 1;
  advert.addresses = {ip("198.18.0.100")};
  return encode(advert, {src, dst}).value();
}

struct Received {
  RxPacket packet;
  Bytes vrrp, datagram;
};

void receive_into(VrrpSocket& socket, std::vector<Received>& out) {
  socket.set_receiver([&out](const RxPacket& p) {
    out.push_back({p, Bytes(p.vrrp.begin(), p.vrrp.end()),
                   Bytes(p.ipv4_datagram.begin(), p.ipv4_datagram.end())});
  });
}

void check_v2_over(const IpAddress& dst, bool multicast) {
  add_v4("va", "198.18.0.1");
  add_v4("vb", "198.18.0.2");
  asio::io_context io;
  auto a = open_vrrp_socket(io, "va", Family::kIpv4);
  auto b = in_b([&] { return open_vrrp_socket(io, "vb", Family::kIpv4); });
  ASSERT_TRUE(a && b);
  if (multicast) {
    ASSERT_TRUE((*b)->join(dst)) << "join";
    ASSERT_TRUE((*b)->join(dst)) << "joining twice is fine";
  }
  std::vector<Received> got;
  receive_into(**b, got);
  const IpAddress src = ip("198.18.0.1");
  const Bytes payload = v2_advert(src, dst);
  auto sent = (*a)->send(src, dst, payload);
  ASSERT_TRUE(sent) << sent.error().to_string();
  ASSERT_TRUE(run_until(io, [&] { return !got.empty(); })) << "nothing received on vb";
  const Received& r = got[0];
  EXPECT_EQ(r.packet.source, src);
  EXPECT_EQ(r.packet.destination, dst);
  EXPECT_EQ(r.packet.ttl, 255);
  EXPECT_EQ(r.packet.ifindex, in_b([] { return static_cast<int>(if_nametoindex("vb")); }));
  EXPECT_EQ(r.vrrp, payload);
  ASSERT_GE(r.datagram.size(), 20u);
  EXPECT_EQ(r.datagram[1], 0xc0) << "TOS";
  RxCheck check;
  check.version = 2;
  check.vrid = 51;
  const Decoded decoded = decode_ipv4_packet(r.datagram, check);
  EXPECT_TRUE(decoded.ok()) << decoded.status;
  EXPECT_EQ(decoded.advert.priority, 101);
  EXPECT_EQ((*a)->counters().tx_packets, 1u);
  EXPECT_EQ((*b)->counters().rx_packets, 1u);
}

TEST(VrrpSocketNetns, V2UnicastAdvertReachesPeer) {
  NEEDS_ROOT();
  IN_NETNS([] { check_v2_over(ip("198.18.0.2"), false); });
}

TEST(VrrpSocketNetns, V2MulticastAdvertReachesPeer) {
  NEEDS_ROOT();
  IN_NETNS([] { check_v2_over(kMulticastGroupV4, true); });
}

TEST(VrrpSocketNetns, V3Ipv6MulticastFromLinkLocal) {
  NEEDS_ROOT();
  IN_NETNS([] {
    const IpAddress src = link_local_of("va");
    link_local_of("vb");
    asio::io_context io;
    auto a = open_vrrp_socket(io, "va", Family::kIpv6);
    auto b = in_b([&] { return open_vrrp_socket(io, "vb", Family::kIpv6); });
    ASSERT_TRUE(a && b);
    ASSERT_TRUE((*b)->join(multicast_group_v6()));
    std::vector<Received> got;
    receive_into(**b, got);
    Advert advert;
    advert.version = 3;
    advert.vrid = 54;
    advert.priority = 120;
    advert.interval_raw = 100;
    advert.addresses = {ip("2001:db8::100")};
    const Bytes payload = encode(advert, {src, multicast_group_v6()}).value();
    auto sent = (*a)->send(src, multicast_group_v6(), payload);
    ASSERT_TRUE(sent) << sent.error().to_string();
    ASSERT_TRUE(run_until(io, [&] { return !got.empty(); })) << "nothing received on vb";
    const Received& r = got[0];
    EXPECT_EQ(r.packet.source, src);
    EXPECT_EQ(r.packet.destination, multicast_group_v6());
    EXPECT_EQ(r.packet.ttl, 255);
    EXPECT_TRUE(r.datagram.empty());
    RxCheck check;
    check.version = 3;
    // The checksum is ours end to end: the kernel neither filled nor checked it.
    const Decoded d =
        decode_ipv6(r.packet.source, r.packet.destination, r.packet.ttl, r.vrrp, check);
    EXPECT_TRUE(d.ok()) << d.status;
    EXPECT_EQ(d.advert.vrid, 54);
    EXPECT_EQ(d.advert.priority, 120);
    EXPECT_EQ(d.advert.addresses, advert.addresses);
  });
}

TEST(AddressesNetns, AddListRemoveIdempotent) {
  NEEDS_ROOT();
  IN_NETNS([] {
    write_file("/proc/sys/net/ipv6/conf/va/accept_dad", "1");  // so that nodad shows
    AddressManager& m = addresses();
    const AddressSpec v4{ip("198.18.0.100"), 24,  "va", "va:vip", ip("198.18.0.255"),
                         kScopeUniverse,     true};
    const AddressSpec v6{ip("2001:db8::100"), 64, "va", "", std::nullopt, kScopeUniverse, true};
    for (const AddressSpec& spec : {v4, v6}) {
      auto r = m.add(spec);
      ASSERT_TRUE(r) << r.error().to_string();
      EXPECT_TRUE(*r) << "first add changes";
      EXPECT_EQ(m.add(spec), false) << "second add is a no-op";
    }
    auto list = m.list("va");
    ASSERT_TRUE(list) << list.error().to_string();
    bool seen4 = false, seen6 = false;
    for (const InterfaceAddress& a : *list) {
      if (a.address == v4.address) {
        seen4 = true;
        EXPECT_EQ(a.prefix_len, 24);
        EXPECT_EQ(a.label, "va:vip");
        EXPECT_EQ(a.broadcast, ip("198.18.0.255"));
      }
      if (a.address == v6.address) {
        seen6 = true;
        EXPECT_FALSE(a.tentative()) << "nodad: usable at once";
        EXPECT_NE(a.flags & kAddrFlagNoDad, 0u);
      }
    }
    EXPECT_TRUE(seen4 && seen6);
    EXPECT_EQ(primary_ipv4(*list), v4.address);
    for (const AddressSpec& spec : {v4, v6}) {
      EXPECT_EQ(m.remove(spec), true);
      EXPECT_EQ(m.remove(spec), false) << "second remove is a no-op";
    }
    list = m.list("va");
    ASSERT_TRUE(list);
    EXPECT_FALSE(has_address(*list, v4.address) || has_address(*list, v6.address));

    AddressSpec bad = v4;
    bad.label = "eth0:1";
    auto r = m.add(bad);
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(), HasSubstr("label starts with the device name"));
  });
}

TEST(AddressesNetns, RouteAddRemoveIdempotent) {
  NEEDS_ROOT();
  IN_NETNS([] {
    add_v4("va", "198.18.0.1");
    AddressManager& m = addresses();
    RouteSpec v4{ip("198.18.5.0"), 24, ip("198.18.0.2"), "va", ip("198.18.0.1"), 50u};
    RouteSpec v6{ip("2001:db8:5::"), 64, std::nullopt, "va", std::nullopt, std::nullopt};
    for (const RouteSpec& route : {v4, v6}) {
      auto r = m.add_route(route);
      ASSERT_TRUE(r) << r.error().to_string();
      EXPECT_TRUE(*r);
      EXPECT_EQ(m.add_route(route), false);
    }
    sh("ip route show 198.18.5.0/24 | grep -q 'via 198.18.0.2 dev va .*src 198.18.0.1 metric 50'");
    sh("ip -6 route show 2001:db8:5::/64 | grep -q 'dev va'");
    for (const RouteSpec& route : {v4, v6}) {
      auto r = m.remove_route(route);
      ASSERT_TRUE(r) << r.error().to_string();
      EXPECT_TRUE(*r);
      EXPECT_EQ(m.remove_route(route), false);
    }
    sh("test -z \"$(ip route show 198.18.5.0/24)\"");
  });
}

// Frames of `ethertype` arriving on `dev`, read with an AF_PACKET socket.
struct Capture {
  explicit Capture(const char* dev, uint16_t ethertype) {
    fd = socket(AF_PACKET, SOCK_RAW, htons(ethertype));
    sockaddr_ll at{};
    at.sll_family = AF_PACKET;
    at.sll_protocol = htons(ethertype);
    at.sll_ifindex = static_cast<int>(if_nametoindex(dev));
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
    timeval timeout{0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~Capture() { close(fd); }
  // The first frame `wanted` accepts within ~3 s.
  std::optional<Bytes> next(const std::function<bool(const Bytes&)>& wanted) {
    for (int i = 0; i < 15; ++i) {
      Bytes frame(2048);
      const ssize_t n = recv(fd, frame.data(), frame.size(), 0);
      if (n <= 0) continue;
      frame.resize(static_cast<size_t>(n));
      if (wanted(frame)) return frame;
    }
    return std::nullopt;
  }
  int fd;
};

TEST(AnnounceNetns, GarpAndNaArriveAsBuilt) {
  NEEDS_ROOT();
  IN_NETNS([] {
    const MacAddress mac = interface_mac("va").value();
    AnnouncerPtr announcer = make_packet_announcer();
    {
      Capture capture = in_b([] { return Capture("vb", ETH_P_ARP); });
      auto r = announcer->announce("va", ip("198.18.0.100"));
      ASSERT_TRUE(r) << r.error().to_string();
      auto frame = capture.next(is_garp);
      ASSERT_TRUE(frame) << "no gratuitous ARP on vb";
      EXPECT_EQ(*frame, build_garp_frame(mac, ip("198.18.0.100")));
    }
    for (bool forwarding : {false, true}) {
      write_file("/proc/sys/net/ipv6/conf/va/forwarding", forwarding ? "1" : "0");
      Capture capture = in_b([] { return Capture("vb", ETH_P_IPV6); });
      auto r = announcer->announce("va", ip("2001:db8::100"));
      ASSERT_TRUE(r) << r.error().to_string();
      auto frame = capture.next(is_na);
      ASSERT_TRUE(frame) << "no neighbour advertisement on vb";
      EXPECT_EQ(*frame, build_unsolicited_na(mac, ip("2001:db8::100"), forwarding));
    }
  });
}

TEST(LinkWatchNetns, SeesLinkDownUpCarrierAndAddress) {
  NEEDS_ROOT();
  IN_NETNS([] {
    asio::io_context io;
    auto watch = open_link_watch(io);
    ASSERT_TRUE(watch) << watch.error().to_string();
    // The initial dump knows va before any event (its carrier may still be on its way).
    ASSERT_TRUE((*watch)->link("va"));
    EXPECT_TRUE((*watch)->link("va")->admin_up);
    EXPECT_FALSE((*watch)->link("vb")) << "vb lives in the other namespace";
    std::vector<LinkState> links;
    std::vector<AddressEvent> events;
    (*watch)->on_link([&](const LinkState& s) {
      if (s.name == "va") links.push_back(s);
    });
    (*watch)->on_address([&](const AddressEvent& e) { events.push_back(e); });
    ASSERT_TRUE(run_until(io, [&] { return (*watch)->link("va")->up(); }));
    auto went = [&](bool up) {
      return run_until(io, [&] { return !links.empty() && links.back().up() == up; });
    };

    links.clear();
    sh("ip link set va down");
    ASSERT_TRUE(went(false)) << "va down";
    EXPECT_FALSE(links.back().admin_up);
    sh("ip link set va up");
    ASSERT_TRUE(went(true)) << "va up";

    // The peer going down takes va's carrier: admin up, not running.
    links.clear();
    in_b([] { sh("ip link set vb down"); });
    ASSERT_TRUE(went(false)) << "carrier lost";
    EXPECT_TRUE(links.back().admin_up);
    EXPECT_FALSE(links.back().running);
    in_b([] { sh("ip link set vb up"); });
    ASSERT_TRUE(went(true)) << "carrier back";

    add_v4("va", "198.18.0.7");
    auto seen = [&] {
      for (const auto& e : events) {
        if (e.added && e.ifname == "va" && e.address == ip("198.18.0.7")) return true;
      }
      return false;
    };
    EXPECT_TRUE(run_until(io, seen)) << "no address event";
    ASSERT_TRUE(addresses().remove({ip("198.18.0.7"), 24, "va", "", {}, kScopeUniverse, true}));
    EXPECT_TRUE(run_until(io, [&] { return !events.empty() && !events.back().added; }));
  });
}

TEST(ErrorsNetns, MissingInterfaceIsNamed) {
  NEEDS_ROOT();
  IN_NETNS([] {
    asio::io_context io;
    auto socket = open_vrrp_socket(io, "nosuch0", Family::kIpv4);
    ASSERT_FALSE(socket);
    EXPECT_EQ(socket.error().to_string(), "open VRRP IPv4 socket on nosuch0: No such device");
    auto added = addresses().add({ip("198.18.0.100"), 24, "nosuch0", "", {}, kScopeUniverse, true});
    ASSERT_FALSE(added);
    EXPECT_EQ(added.error().to_string(), "add 198.18.0.100/24 dev nosuch0: No such device");
    auto listed = addresses().list("nosuch0");
    ASSERT_FALSE(listed);
    EXPECT_EQ(listed.error().to_string(), "list addresses of nosuch0: No such device");
    auto announced = make_packet_announcer()->announce("nosuch0", ip("198.18.0.100"));
    ASSERT_FALSE(announced);
    EXPECT_EQ(announced.error().to_string(),
              "gratuitous ARP for 198.18.0.100 on nosuch0: No such device");
    // A kernel refusal carries errno text and what was attempted.
    auto route = addresses().add_route({ip("198.18.9.0"), 24, ip("203.0.113.1"), "va", {}, {}});
    ASSERT_FALSE(route);
    EXPECT_THAT(route.error().to_string(),
                HasSubstr("add route 198.18.9.0/24 via 203.0.113.1 dev va: "));
  });
}

}  // namespace
}  // namespace tandem::vrrp::os
