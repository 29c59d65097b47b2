// Server states that outlive a worker: what the runtime API set (maintenance, drain, weight),
// written in haproxy's `show servers state` format and read back by the next worker, either
// from the master's hand-over or from haproxy's server state files (server-state-file,
// load-server-state-from-file).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "lb/config.h"
#include "lb/stats/view.h"

namespace tandem::lb::stats {

// One server's line of a `show servers state` dump, as far as a new worker uses it.
struct SavedServer {
  std::string backend, server;
  AdminState admin = AdminState::kReady;  // set by an operator
  bool config_maint = false;              // `disabled` in the configuration it was saved from
  uint32_t weight = 0;                    // srv_uweight: the weight in force
  uint32_t initial_weight = 0;            // srv_iweight: the configuration's, when saved
  OpState op = OpState::kRunning;         // srv_op_state: 0 DOWN, 1 or 2 UP, 3 NOLB
  std::string address;                    // srv_addr, "-" when none
  std::optional<uint16_t> port;           // srv_port, when the line has it
};

// Parses haproxy's format (a "1" version line, a "# be_id be_name ..." header, one line per
// server). Lines that are not version 1 server lines give an error naming the line. For the
// master's hand-over, which tandem-lb wrote itself.
core::Result<std::vector<SavedServer>> parse_servers_state(std::string_view text);

// A server state file as an operator's script wrote it: forgiving, as haproxy is. A file whose
// first line is not version 1 is ignored whole; a malformed server line is skipped. Each
// problem is one warning "NAME:LINE: ...".
struct StateFile {
  std::vector<SavedServer> servers;
  std::vector<std::string> warnings;
};
StateFile parse_state_file(std::string_view text, std::string_view name);

// The file a backend reads at start-up, as haproxy 2.6 resolves it: the global
// server-state-file (global) or server-state-file-name, else the backend's name (local); a
// relative path is taken in server-state-base when set, else in the current folder. Empty when
// the backend loads nothing.
std::string state_file_path(const Global& global, const Proxy& backend);

// The states the master handed over carry the time they were written (a comment line, which
// haproxy's parser and ours skip), to be compared with a state file's modification time.
std::string with_saved_time(std::string dump, int64_t unix_ns);
std::optional<int64_t> saved_time(std::string_view dump);

// Where a backend's saved states come from when a worker starts. The fresher source wins: the
// hand-over (what the previous worker had, kept up to date by every change) unless the state
// file was written after it (a reload script's `show servers state`, or an edited file). A
// hand-over without a time counts as the fresher.
enum class StateSource : uint8_t { kNone, kHandOver, kFile };
struct FileInfo {
  bool found = false;
  int64_t mtime_ns = 0;
};
StateSource choose_state_source(bool handover_has_backend, std::optional<int64_t> handover_ns,
                                const std::optional<FileInfo>& file);

// What to change in `view` (the new worker's, from its configuration) so that each server
// found in both gets its saved operator state back, by backend and server name, as haproxy
// 2.6 does:
// - `disabled` in the configuration wins when it differs from the saved line's; otherwise a
//   forced maintenance comes back, and a drain unless the saved line's drain came from a
//   configured weight of 0 that is no longer 0;
// - a server with `check` saved DOWN (srv_op_state 0, not in maintenance) starts DOWN, and
//   its checks bring it UP (`start_down`); without `check` the operational state is ignored;
// - a weight comes back only when the configuration's weight is the one the saved line
//   started from (a weight changed in the file wins);
// - the address and port always stay the configuration's (haproxy 2.6 takes the saved port,
//   and the saved address of a server named by a host name): a difference is in `note`.
// Servers or backends gone from the configuration are skipped.
struct StateChange {
  std::string backend, server;
  bool set_admin = false;
  AdminState admin = AdminState::kReady;
  bool set_weight = false;
  uint32_t weight = 0;
  bool start_down = false;  // a checked server that starts DOWN
  std::string note;         // e.g. the saved address differs from the configuration's
};
std::vector<StateChange> changes_to_restore(const StatsView& view,
                                            const std::vector<SavedServer>& saved);

}  // namespace tandem::lb::stats
