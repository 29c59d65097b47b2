#include "vrrp/instance.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace tandem::vrrp {

using core::logger;

namespace {

std::string format_time(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::system_clock::to_time_t(t);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms.count());
}

}  // namespace

uint8_t scope_number(Scope scope) {
  switch (scope) {
    case Scope::kGlobal:
      return os::kScopeUniverse;
    case Scope::kSite:
      return os::kScopeSite;
    case Scope::kLink:
      return os::kScopeLink;
    case Scope::kHost:
      return os::kScopeHost;
    case Scope::kNowhere:
      return 255;
  }
  return os::kScopeUniverse;
}

VrrpInstance::VrrpInstance(const Instance& config, const GlobalDefs& global, IpAddress primary,
                           Deps deps)
    : config_(config),
      global_(global),
      primary_(primary),
      deps_(std::move(deps)),
      fsm_(fsm_config(config, primary)),
      tracker_(config.priority),
      fsm_timer_(deps_.clock.make_timer()),
      garp_delay_timer_(deps_.clock.make_timer()),
      garp_refresh_timer_(deps_.clock.make_timer()),
      garp_pace_timer_(deps_.clock.make_timer()),
      garp_lower_timer_(deps_.clock.make_timer()),
      drop_log_(std::chrono::seconds(10), 5) {
  // What a received advert must look like for this instance.
  check_.check_ttl = !config_.unicast;
  check_.v3_checksum_as_v2 = config_.v3_checksum_as_v2;
  check_.version = config_.version;
  check_.vrid = config_.vrid;
  if (config_.version == 2) {
    check_.auth_type = config_.auth_type;
    check_.auth_data = auth_pass(config_.auth_pass);
    check_.v2_interval = static_cast<uint8_t>(
        std::chrono::duration_cast<std::chrono::seconds>(config_.advert_interval).count());
  }
  // The advert we send: our VIPs of this family (none with no_virtual_ipaddress).
  advert_.version = config_.version;
  advert_.vrid = config_.vrid;
  advert_.set_interval(std::chrono::duration_cast<Centiseconds>(config_.advert_interval));
  if (config_.version == 2) {
    advert_.auth_type = static_cast<uint8_t>(config_.auth_type);
    advert_.auth_data = auth_pass(config_.auth_pass);
  }
  for (const auto& vip : config_.vips)
    if (vip.address.family() == config_.family) advert_.addresses.push_back(vip.address);
  if (!config_.skip_check_adv_addr)
    check_.addresses = std::span<const IpAddress>(advert_.addresses);
}

VrrpInstance::~VrrpInstance() = default;

void VrrpInstance::start() {
  logger().info("({}) starting: VRID {}, priority {}, VRRPv{} {} on {}, source {}", name(),
                config_.vrid, config_.priority, config_.version,
                config_.unicast ? "unicast" : "multicast", config_.interface, primary_.to_string());
  // Tracked items first: an instance whose proxy or check has not answered yet must not
  // announce itself as master for a moment and then leave (its peer would flap).
  update_priority();
  apply(fsm_.start(deps_.clock.now()));
  // A previous run killed without a chance to clean up may have left the addresses on:
  // take them off, as keepalived does, or two nodes would answer for them.
  if (state() != State::kMaster) {
    addresses_on_ = true;
    remove_addresses();
  }
}

void VrrpInstance::stop() {
  apply(fsm_.stop(deps_.clock.now()));
}

void VrrpInstance::stop_handover() {
  if (fsm_.state() == State::kMaster)
    logger().info(
        "({}) leaving: priority 0 sent, keeping the addresses until a backup takes "
        "over",
        name());
  apply(fsm_.stop_handover(deps_.clock.now()));
}

size_t VrrpInstance::add_tracked(std::string name, TrackedWeight weight, bool up) {
  return tracker_.add(std::move(name), weight, up);
}

void VrrpInstance::set_tracked(size_t index, bool up) {
  if (!tracker_.set(index, up)) return;
  logger().info("({}) tracked {} is {}", name(), tracker_.name(index), up ? "UP" : "DOWN");
  update_priority();
}

size_t VrrpInstance::add_tracked_value(std::string name, TrackedWeight weight, int64_t value) {
  return tracker_.add_value(std::move(name), weight, value);
}

void VrrpInstance::set_tracked_value(size_t index, int64_t value) {
  if (!tracker_.set_value(index, value)) return;
  logger().info("({}) tracked {} reads {}", name(), tracker_.name(index), value);
  update_priority();
}

void VrrpInstance::force_master(const std::string& why) {
  apply(fsm_.force_master(deps_.clock.now(), why));
}

void VrrpInstance::force_backup(const std::string& why) {
  apply(fsm_.force_backup(deps_.clock.now(), why));
}

void VrrpInstance::set_group_fault(bool fault) {
  if (group_fault_ == fault) return;
  group_fault_ = fault;
  update_priority();
}

void VrrpInstance::update_priority() {
  const auto verdict = tracker_.verdict();
  const auto now = deps_.clock.now();
  if (verdict.priority != fsm_.priority()) {
    logger().info("({}) Changing effective priority from {} to {}", name(), fsm_.priority(),
                  verdict.priority);
    apply(fsm_.set_priority(now, verdict.priority));
  }
  apply(fsm_.set_fault(now, verdict.fault || group_fault_));
}

void VrrpInstance::receive(const os::RxPacket& packet) {
  Decoded d = packet.destination.is_v4() && !packet.ipv4_datagram.empty()
                  ? decode_ipv4_packet(packet.ipv4_datagram, check_)
                  : decode_ipv6(packet.source, packet.destination, packet.ttl, packet.vrrp, check_);
  if (!d.ok()) {
    drop(d.status, packet);
    return;
  }
  if (config_.unicast && config_.check_unicast_src &&
      std::find(config_.unicast_peers.begin(), config_.unicast_peers.end(), packet.source) ==
          config_.unicast_peers.end()) {
    ++counters_.unknown_source;
    core::log_limited(drop_log_, deps_.clock.now(), spdlog::level::warn,
                      "({}) advert from {} who is no unicast_peer: dropped", name(),
                      packet.source.to_string());
    return;
  }
  ++counters_.adverts_rx;
  if (d.advert.priority == kPriorityStop) ++counters_.priority_zero_rx;
  ReceivedAdvert rx{packet.source, d.advert.priority,
                    std::chrono::duration_cast<core::Duration>(d.advert.interval())};
  apply(fsm_.receive(deps_.clock.now(), rx));
}

void VrrpInstance::drop(RxStatus status, const os::RxPacket& packet) {
  ++counters_.dropped[static_cast<size_t>(status)];
  core::log_limited(drop_log_, deps_.clock.now(), spdlog::level::warn,
                    "({}) dropped an advert from {}: {}", name(), packet.source.to_string(),
                    to_string(status));
}

void VrrpInstance::apply(const Actions& actions) {
  for (const auto& a : actions) {
    switch (a.kind) {
      case Action::Kind::kSendAdvert:
        send_advert(a.priority);
        break;
      case Action::Kind::kAddAddresses:
        add_addresses();
        break;
      case Action::Kind::kRemoveAddresses:
        stop_announcements();
        remove_addresses();
        break;
      case Action::Kind::kAnnounce:
        start_announcements();
        break;
      case Action::Kind::kStateChange: {
        // keepalived's words, so existing log watchers keep working.
        logger().info("({}) Entering {} STATE ({})", name(), to_string(a.to), a.reason);
        if (a.to == State::kMaster) ++counters_.became_master;
        if (a.from == State::kMaster) ++counters_.released_master;
        Transition t{std::chrono::system_clock::now(), a.from, a.to, a.priority, a.reason};
        transitions_.push_back(t);
        if (transitions_.size() > kHistory) transitions_.pop_front();
        if (deps_.on_transition) deps_.on_transition(*this, t);
        break;
      }
      case Action::Kind::kMasterRxLowerPri:
        announce_lower_prio();
        if (deps_.on_master_rx_lower_pri) deps_.on_master_rx_lower_pri(*this, a.priority);
        break;
    }
  }
  rearm();
}

void VrrpInstance::rearm() {
  const auto at = fsm_.next_deadline();
  if (at == core::TimePoint::max()) {
    fsm_timer_->cancel();
    return;
  }
  if (fsm_timer_->armed() && fsm_timer_->deadline() == at) return;
  fsm_timer_->arm_at(at, [this] { apply(fsm_.on_timer(deps_.clock.now())); });
}

void VrrpInstance::send_advert(uint8_t priority) {
  advert_.priority = priority;
  if (priority == kPriorityStop) ++counters_.priority_zero_tx;
  auto send_to = [&](const IpAddress& dst) {
    auto bytes = encode(advert_, {primary_, dst, config_.v3_checksum_as_v2});
    if (!bytes) {
      ++counters_.send_errors;
      core::log_limited(drop_log_, deps_.clock.now(), spdlog::level::err,
                        "({}) cannot build an advert: {}", name(), bytes.error().message);
      return;
    }
    auto sent = deps_.socket.send(primary_, dst, *bytes);
    if (!sent) {
      ++counters_.send_errors;
      core::log_limited(drop_log_, deps_.clock.now(), spdlog::level::err,
                        "({}) cannot send an advert to {}: {}", name(), dst.to_string(),
                        sent.error().to_string());
      return;
    }
    ++counters_.adverts_tx;
  };
  if (config_.unicast) {
    for (const auto& peer : config_.unicast_peers) send_to(peer);
  } else {
    send_to(config_.mcast_group);
  }
}

void VrrpInstance::add_addresses() {
  addresses_on_ = true;
  set_addresses(true);
}

void VrrpInstance::remove_addresses() {
  if (!addresses_on_) return;
  addresses_on_ = false;
  set_addresses(false);
}

// Routes come after the addresses when adding (a route may name a VIP as its source) and
// before them when removing.
void VrrpInstance::set_addresses(bool on) {
  if (config_.no_virtual_ipaddress) return;
  auto report = [&](std::string_view what, const std::string& spec, const core::Result<bool>& r) {
    if (r) return;
    ++counters_.address_errors;
    logger().error("({}) cannot {} {}: {}", name(), what, spec, r.error().to_string());
  };
  auto address = [&](const VirtualAddress& vip) {
    os::AddressSpec spec{vip.address, vip.prefix_len, vip.dev.empty() ? config_.interface : vip.dev,
                         vip.label,   vip.broadcast,  scope_number(vip.scope)};
    report(on ? "add" : "remove", spec.to_string(),
           on ? deps_.addresses.add(spec) : deps_.addresses.remove(spec));
  };
  auto routes = [&] {
    for (const auto& route : config_.routes) {
      os::RouteSpec spec{route.destination,
                         route.prefix_len,
                         route.via,
                         route.dev.empty() ? config_.interface : route.dev,
                         route.src,
                         route.metric,
                         route.table.value_or(254)};
      report(on ? "add route" : "remove route", spec.to_string(),
             on ? deps_.addresses.add_route(spec) : deps_.addresses.remove_route(spec));
    }
  };
  if (!on) routes();
  for (const auto* list : {&config_.vips, &config_.excluded_vips})
    for (const auto& vip : *list) address(vip);
  if (on) routes();
}

void VrrpInstance::announce_round(uint32_t repeat) {
  if (config_.no_virtual_ipaddress) return;
  for (uint32_t i = 0; i < repeat; ++i) {
    for (const auto* list : {&config_.vips, &config_.excluded_vips})
      for (const auto& vip : *list)
        pending_.emplace_back(vip.dev.empty() ? config_.interface : vip.dev, vip.address);
  }
  pump_announcements();
}

// Sends queued announcements, spaced by vrrp_garp_interval (ARP) or vrrp_gna_interval (NA)
// when those are set, all at once otherwise.
void VrrpInstance::pump_announcements() {
  while (!pending_.empty() && !garp_pace_timer_->armed()) {
    auto [dev, ip] = pending_.front();
    pending_.pop_front();
    auto r = deps_.announcer.announce(dev, ip);
    if (!r)
      core::log_limited(drop_log_, deps_.clock.now(), spdlog::level::warn,
                        "({}) cannot announce {} on {}: {}", name(), ip.to_string(), dev,
                        r.error().to_string());
    const core::Duration gap = ip.is_v4() ? global_.vrrp_garp_interval : global_.vrrp_gna_interval;
    if (gap > core::Duration::zero() && !pending_.empty())
      deps_.clock.arm_after(*garp_pace_timer_, gap, [this] { pump_announcements(); });
  }
}

// A master that hears a lower priority refreshes the neighbours' caches: a burst of
// garp_lower_prio_repeat now and another after garp_lower_prio_delay, at most once per delay.
void VrrpInstance::announce_lower_prio() {
  if (garp_lower_timer_->armed() || config_.garp_lower_prio_repeat == 0) return;
  announce_round(config_.garp_lower_prio_repeat);
  const core::Duration delay =
      std::max<core::Duration>(config_.garp_lower_prio_delay, config_.advert_interval);
  deps_.clock.arm_after(*garp_lower_timer_, delay, [this] {
    if (state() == State::kMaster) announce_round(config_.garp_lower_prio_repeat);
  });
}

void VrrpInstance::start_announcements() {
  // As keepalived: a burst at once, another after garp_master_delay, then a refresh burst
  // every garp_master_refresh while master.
  announce_round(config_.garp_master_repeat);
  if (config_.garp_master_delay > core::Duration::zero()) {
    deps_.clock.arm_after(*garp_delay_timer_, config_.garp_master_delay, [this] {
      if (state() == State::kMaster) announce_round(config_.garp_master_repeat);
    });
  }
  if (config_.garp_master_refresh > core::Duration::zero()) {
    refresh_ = [this] {
      if (state() != State::kMaster) return;
      announce_round(config_.garp_master_refresh_repeat);
      start_refresh_timer();
    };
    start_refresh_timer();
  }
}

void VrrpInstance::start_refresh_timer() {
  deps_.clock.arm_after(*garp_refresh_timer_, config_.garp_master_refresh, refresh_);
}

void VrrpInstance::stop_announcements() {
  garp_delay_timer_->cancel();
  garp_refresh_timer_->cancel();
  garp_pace_timer_->cancel();
  garp_lower_timer_->cancel();
  pending_.clear();
}

nlohmann::json VrrpInstance::status() const {
  using nlohmann::json;
  json vips = json::array();
  for (const auto& vip : config_.vips)
    vips.push_back(fmt::format("{}/{}", vip.address.to_string(), vip.prefix_len));
  json history = json::array();
  for (const auto& t : transitions_)
    history.push_back({{"at", format_time(t.at)},
                       {"from", to_string(t.from)},
                       {"to", to_string(t.to)},
                       {"priority", t.priority},
                       {"reason", t.reason}});
  json drops = json::object();
  for (size_t i = 0; i < kRxStatusCount; ++i)
    if (counters_.dropped[i] > 0)
      drops[std::string(to_string(static_cast<RxStatus>(i)))] = counters_.dropped[i];
  json tracked = json::array();
  for (size_t i = 0; i < tracker_.size(); ++i) {
    json item = {
        {"name", tracker_.name(i)}, {"up", tracker_.up(i)}, {"weight", tracker_.weight(i)}};
    if (tracker_.numeric(i)) item["value"] = tracker_.value(i);
    tracked.push_back(std::move(item));
  }
  json j = {
      {"name", config_.name},
      {"state", to_string(state())},
      {"vrid", config_.vrid},
      {"version", config_.version},
      {"interface", config_.interface},
      {"mode", config_.unicast ? "unicast" : "multicast"},
      {"source", primary_.to_string()},
      {"priority", config_.priority},
      {"effective_priority", effective_priority()},
      {"advert_interval_ms",
       std::chrono::duration_cast<std::chrono::milliseconds>(config_.advert_interval).count()},
      {"master_down_interval_ms",
       std::chrono::duration_cast<std::chrono::milliseconds>(fsm_.master_down_interval()).count()},
      {"master", state() == State::kMaster
                     ? primary_.to_string()
                     : (fsm_.master_address() ? fsm_.master_address()->to_string() : "")},
      {"virtual_addresses", vips},
      {"addresses_on", addresses_on_},
      {"tracked", tracked},
      {"transitions", history},
      {"counters",
       {{"adverts_rx", counters_.adverts_rx},
        {"adverts_tx", counters_.adverts_tx},
        {"send_errors", counters_.send_errors},
        {"became_master", counters_.became_master},
        {"released_master", counters_.released_master},
        {"priority_zero_rx", counters_.priority_zero_rx},
        {"priority_zero_tx", counters_.priority_zero_tx},
        {"address_errors", counters_.address_errors},
        {"unknown_source", counters_.unknown_source},
        {"dropped", drops}}},
  };
  return j;
}

}  // namespace tandem::vrrp
