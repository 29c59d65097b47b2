#include "vrrp/track.h"

#include <algorithm>

namespace tandem::vrrp {

size_t PriorityTracker::add(std::string name, TrackedWeight weight, bool up) {
  items_.push_back({std::move(name), weight, up});
  return items_.size() - 1;
}

size_t PriorityTracker::add_value(std::string name, TrackedWeight weight, int64_t value) {
  items_.push_back({std::move(name), weight, true, true, value});
  items_.back().up = verdict_of(items_.back());
  return items_.size() - 1;
}

bool PriorityTracker::set_value(size_t index, int64_t value) {
  Item& item = items_.at(index);
  if (item.value == value) return false;
  item.value = value;
  item.up = verdict_of(item);
  return true;
}

bool PriorityTracker::verdict_of(const Item& item) {
  if (item.weight.weight == 0) return item.value == 0;
  return contribution(item) > -254;
}

int64_t PriorityTracker::contribution(const Item& item) {
  // Bounded before multiplying: a file may hold any number.
  const int64_t v = std::clamp<int64_t>(item.value, -100000, 100000);
  const int64_t c = v * item.weight.weight;
  return item.weight.reverse ? -c : c;
}

bool PriorityTracker::set(size_t index, bool up) {
  Item& item = items_.at(index);
  if (item.up == up) return false;
  item.up = up;
  return true;
}

PriorityVerdict PriorityTracker::verdict() const {
  PriorityVerdict v;
  int priority = base_;
  for (const auto& item : items_) {
    if (item.numeric) {
      if (!item.up) {
        v.fault = true;
      } else if (item.weight.weight != 0) {
        priority += static_cast<int>(std::clamp<int64_t>(contribution(item), -1000, 1000));
      }
      continue;
    }
    if (item.weight.weight == 0) {
      if (!item.up) v.fault = true;
      continue;
    }
    const bool counts_up = item.up != item.weight.reverse;
    if (item.weight.weight > 0 && counts_up) priority += item.weight.weight;
    if (item.weight.weight < 0 && !counts_up) priority += item.weight.weight;
  }
  // An owner's priority is fixed; everyone else stays within 1..254 (RFC 5798 section 5.2.4).
  v.priority = base_ == 255 ? 255 : static_cast<uint8_t>(std::clamp(priority, 1, 254));
  return v;
}

bool RiseFall::result(bool ok) {
  if (ok == up_) {
    run_ = 0;
    return false;
  }
  ++run_;
  if (run_ >= (ok ? rise_ : fall_)) {
    up_ = ok;
    run_ = 0;
    return true;
  }
  return false;
}

}  // namespace tandem::vrrp
