// Server states that outlive a worker: what the runtime API set (maintenance, drain, weight),
// written in haproxy's `show servers state` format and read back by the next worker.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "lb/stats/view.h"

namespace tandem::lb::stats {

// One server's line of a `show servers state` dump, as far as a new worker uses it.
struct SavedServer {
  std::string backend, server;
  AdminState admin = AdminState::kReady;  // set by an operator
  bool config_maint = false;              // only `disabled` in the configuration: not saved
  uint32_t weight = 0;                    // srv_uweight: the weight in force
  uint32_t initial_weight = 0;            // srv_iweight: the configuration's, when saved
};

// Parses haproxy's format (a "1" version line, a "# be_id be_name ..." header, one line per
// server). Lines that are not version 1 server lines give an error naming the line.
core::Result<std::vector<SavedServer>> parse_servers_state(std::string_view text);

// What to change in `view` (the new worker's, from its configuration) so that each server
// found in both gets its saved operator state back. A weight is restored only when the
// configuration's weight is the one the saved line started from (as haproxy: a weight
// changed in the file wins). Servers gone from the configuration are skipped.
struct StateChange {
  std::string backend, server;
  bool set_admin = false;
  AdminState admin = AdminState::kReady;
  bool set_weight = false;
  uint32_t weight = 0;
};
std::vector<StateChange> changes_to_restore(const StatsView& view,
                                            const std::vector<SavedServer>& saved);

}  // namespace tandem::lb::stats
