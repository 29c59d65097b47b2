// Tracking, pure: each tracked item (script, interface, file, process, proxy) is up or down
// with a weight; together they give an instance its effective priority or put it in FAULT.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tandem::vrrp {

// keepalived's rule: a positive weight is added while the item is up, a negative one while
// it is down; weight 0 means "down puts the instance in FAULT". `reverse` swaps up and down
// for the weight (not for FAULT).
struct TrackedWeight {
  int weight = 0;
  bool reverse = false;
};

struct PriorityVerdict {
  uint8_t priority = 0;  // effective priority, 1..254 (or 255 for an owner, never changed)
  bool fault = false;    // a weight-0 item is down
};

class PriorityTracker {
 public:
  explicit PriorityTracker(uint8_t base_priority) : base_(base_priority) {}

  // Adds an item; returns its index. `up` is its state until set() says otherwise.
  size_t add(std::string name, TrackedWeight weight, bool up);
  // Adds a numeric item (keepalived's track_file): value x weight joins the priority
  // (negated with reverse); with weight 0 a non-zero value means FAULT, and so does a
  // contribution of -254 or less.
  size_t add_value(std::string name, TrackedWeight weight, int64_t value);
  // Returns true when the item's state changed.
  bool set(size_t index, bool up);
  bool set_value(size_t index, int64_t value);
  PriorityVerdict verdict() const;

  size_t size() const { return items_.size(); }
  const std::string& name(size_t i) const { return items_[i].name; }
  bool up(size_t i) const { return items_[i].up; }
  bool numeric(size_t i) const { return items_[i].numeric; }
  int64_t value(size_t i) const { return items_[i].value; }
  int weight(size_t i) const { return items_[i].weight.weight; }

 private:
  struct Item {
    std::string name;
    TrackedWeight weight;
    bool up;
    bool numeric = false;
    int64_t value = 0;
  };
  static bool verdict_of(const Item& item);  // a numeric item is "up" unless it means FAULT
  static int64_t contribution(const Item& item);
  uint8_t base_;
  std::vector<Item> items_;
};

// A script's result history turned into up/down with rise and fall, as vrrp_script does:
// `fall` failures in a row take it down, `rise` successes in a row bring it up.
class RiseFall {
 public:
  RiseFall(int rise, int fall, bool start_up) : rise_(rise), fall_(fall), up_(start_up) {}
  // Feeds one result; returns true when the state changed.
  bool result(bool ok);
  bool up() const { return up_; }

 private:
  int rise_;
  int fall_;
  bool up_;
  int run_ = 0;  // consecutive results against the current state
};

}  // namespace tandem::vrrp
