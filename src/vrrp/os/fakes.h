// In-memory fakes of the OS adapters, so the VRRP instance runs in unit tests without root.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "vrrp/checksum.h"
#include "vrrp/os/addresses.h"
#include "vrrp/os/announce.h"
#include "vrrp/os/link_watch.h"
#include "vrrp/os/vrrp_socket.h"

namespace tandem::vrrp::os {

// Records what is sent; inject() plays a received packet to the receiver.
class FakeVrrpSocket final : public VrrpSocket {
 public:
  struct Sent {
    IpAddress source, destination;
    std::vector<uint8_t> payload;
  };

  explicit FakeVrrpSocket(Family family = Family::kIpv4, int ifindex = 2)
      : family_(family), ifindex_(ifindex) {}

  core::Result<void> send(const IpAddress& src, const IpAddress& dst,
                          std::span<const uint8_t> payload) override {
    if (fail_sends) {
      ++counters_.tx_errors;
      return core::fail("fake send failure");
    }
    ++counters_.tx_packets;
    sent.push_back({src, dst, {payload.begin(), payload.end()}});
    return {};
  }
  void set_receiver(std::function<void(const RxPacket&)> receiver) override {
    receiver_ = std::move(receiver);
  }
  core::Result<void> join(const IpAddress& group) override {
    if (std::find(groups.begin(), groups.end(), group) == groups.end()) groups.push_back(group);
    return {};
  }
  core::Result<void> leave(const IpAddress& group) override {
    std::erase(groups, group);
    return {};
  }
  const SocketCounters& counters() const override { return counters_; }
  int ifindex() const override { return ifindex_; }
  Family family() const override { return family_; }

  // Delivers a VRRP message as the kernel would (IPv4: with a built header as well).
  void inject(const IpAddress& src, const IpAddress& dst, std::span<const uint8_t> vrrp,
              uint8_t ttl = 255) {
    ++counters_.rx_packets;
    RxPacket packet{src, dst, ttl, vrrp, ifindex_, {}};
    std::vector<uint8_t> datagram;
    if (family_ == Family::kIpv4) {
      datagram = build_ipv4_datagram(src, dst, vrrp, 1);
      datagram[8] = ttl;
      datagram[10] = datagram[11] = 0;
      // The header checksum over the changed TTL, as a real packet would carry.
      const uint16_t sum = internet_checksum(std::span<const uint8_t>(datagram).first(20));
      datagram[10] = static_cast<uint8_t>(sum >> 8);
      datagram[11] = static_cast<uint8_t>(sum);
      packet.ipv4_datagram = datagram;
      packet.vrrp = std::span<const uint8_t>(datagram).subspan(20);
    }
    if (receiver_) receiver_(packet);
  }
  bool has_receiver() const { return static_cast<bool>(receiver_); }

  std::vector<Sent> sent;
  std::vector<IpAddress> groups;
  bool fail_sends = false;

 private:
  Family family_;
  int ifindex_;
  std::function<void(const RxPacket&)> receiver_;
  SocketCounters counters_;
};

// Keeps addresses and routes in memory with the kernel's idempotence answers.
class FakeAddresses final : public AddressManager {
 public:
  struct Op {
    bool add;
    AddressSpec spec;
  };

  core::Result<bool> add(const AddressSpec& spec) override {
    ops.push_back({true, spec});
    if (fail) return core::fail("add " + spec.to_string() + ": fake failure");
    auto& list = present[spec.dev];
    if (find(list, spec.address) != list.end()) return false;
    list.push_back({spec.address, spec.prefix_len, spec.scope, 0, spec.label, spec.broadcast});
    return true;
  }
  core::Result<bool> remove(const AddressSpec& spec) override {
    ops.push_back({false, spec});
    if (fail) return core::fail("remove " + spec.to_string() + ": fake failure");
    auto& list = present[spec.dev];
    auto it = find(list, spec.address);
    if (it == list.end()) return false;
    list.erase(it);
    return true;
  }
  core::Result<std::vector<InterfaceAddress>> list(const std::string& dev) override {
    if (fail) return core::fail("list addresses of " + dev + ": fake failure");
    return present[dev];
  }
  core::Result<bool> add_route(const RouteSpec& route) override {
    if (fail) return core::fail("add route " + route.to_string() + ": fake failure");
    return routes.insert({route.to_string(), route}).second;
  }
  core::Result<bool> remove_route(const RouteSpec& route) override {
    if (fail) return core::fail("remove route " + route.to_string() + ": fake failure");
    return routes.erase(route.to_string()) > 0;
  }

  bool has(const std::string& dev, const IpAddress& ip) { return has_address(present[dev], ip); }

  std::map<std::string, std::vector<InterfaceAddress>> present;  // preload interface addresses
  std::map<std::string, RouteSpec> routes;
  std::vector<Op> ops;
  bool fail = false;

 private:
  static std::vector<InterfaceAddress>::iterator find(std::vector<InterfaceAddress>& list,
                                                      const IpAddress& ip) {
    return std::find_if(list.begin(), list.end(),
                        [&](const InterfaceAddress& a) { return a.address == ip; });
  }
};

class FakeAnnouncer final : public Announcer {
 public:
  core::Result<void> announce(const std::string& ifname, const IpAddress& vip) override {
    if (fail) return core::fail("announce " + vip.to_string() + " on " + ifname + ": fake");
    announced.emplace_back(ifname, vip);
    return {};
  }
  std::vector<std::pair<std::string, IpAddress>> announced;
  bool fail = false;
};

// set_link() / add_address() play kernel events to the callbacks.
class FakeLinkWatch final : public LinkWatch {
 public:
  void on_link(std::function<void(const LinkState&)> callback) override {
    on_link_ = std::move(callback);
  }
  void on_address(std::function<void(const AddressEvent&)> callback) override {
    on_address_ = std::move(callback);
  }
  std::optional<LinkState> link(const std::string& name) const override {
    auto it = links_.find(name);
    if (it == links_.end()) return std::nullopt;
    return it->second;
  }

  void set_link(const std::string& name, bool up, int ifindex = 2) {
    LinkState state;
    state.ifindex = ifindex;
    state.name = name;
    state.admin_up = state.running = up;
    state.operstate = up ? 6 : 2;  // IF_OPER_UP / IF_OPER_DOWN
    links_[name] = state;
    if (on_link_) on_link_(state);
  }
  void remove_link(const std::string& name) {
    auto it = links_.find(name);
    if (it == links_.end()) return;
    LinkState state = it->second;
    links_.erase(it);
    state.exists = state.admin_up = state.running = false;
    if (on_link_) on_link_(state);
  }
  void address_event(const std::string& ifname, const IpAddress& ip, bool added,
                     uint8_t prefix_len = 0, uint32_t flags = 0) {
    AddressEvent event;
    event.added = added;
    event.ifname = ifname;
    auto it = links_.find(ifname);
    event.ifindex = it == links_.end() ? 0 : it->second.ifindex;
    event.address = ip;
    event.prefix_len = prefix_len != 0 ? prefix_len : static_cast<uint8_t>(ip.size() * 8);
    event.flags = flags;
    if (on_address_) on_address_(event);
  }

 private:
  std::map<std::string, LinkState> links_;
  std::function<void(const LinkState&)> on_link_;
  std::function<void(const AddressEvent&)> on_address_;
};

}  // namespace tandem::vrrp::os
