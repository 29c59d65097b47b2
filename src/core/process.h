// Runs scripts (checks, notify) as child processes without blocking the loop: each in its
// own process group, as a chosen user, with a time-out that kills the whole group.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace tandem::core {

struct ProcessSpec {
  std::vector<std::string> argv;     // argv[0] is the program (a path, or a name found in PATH)
  std::vector<std::string> env;      // KEY=VALUE, added to (or replacing) the minimal PATH=...
  std::optional<std::string> user;   // run as this user (name or number); default: ours
  std::optional<std::string> group;  // and group; default: the user's primary group
  Duration timeout = std::chrono::seconds(30);
  std::string name;  // for log lines, e.g. "notify_master of VI_1"
};

struct ProcessResult {
  enum class Outcome {
    kExited,       // exit_code is valid
    kSignaled,     // term_signal is valid (kill() of a running child gives SIGKILL here)
    kTimedOut,     // killed by us (the whole group) after spec.timeout
    kSpawnFailed,  // never ran: error says why (missing, not executable, unknown user, ...)
    kCancelled,    // kill() dropped it from the queue before it started
  };
  Outcome outcome = Outcome::kSpawnFailed;
  int exit_code = -1;
  int term_signal = 0;
  Duration run_time{};
  std::string error;
  std::string output;           // stdout and stderr interleaved, up to max_output_bytes
  uint64_t output_dropped = 0;  // bytes beyond max_output_bytes, read and thrown away

  bool success() const { return outcome == Outcome::kExited && exit_code == 0; }
  std::string describe() const;  // "exited 0", "killed by signal 9 (SIGKILL)", "timed out ..."
};

using ProcessCallback = std::function<void(const ProcessResult&)>;

// Checks that a script can be run: exists, is a regular file, executable. With `secure`,
// also that neither it nor any folder above it can be changed by anyone but root (or
// `run_as_uid` when that user owns the file), as keepalived's enable_script_security does.
Result<void> check_script(const std::string& path, bool secure, uint32_t run_as_uid = 0);

// A user or group given by name or by number, as in configuration files.
Result<uint32_t> lookup_uid(std::string_view user);
Result<uint32_t> lookup_gid(std::string_view group);

// Not thread-safe: use it from the loop's thread (or before the loop runs).
class ProcessRunner {
 public:
  struct Options {
    size_t max_concurrent = 16;       // more wait in a queue, in order
    size_t max_output_bytes = 16384;  // captured per run; the rest is counted and dropped
    bool log_output = true;           // each output line logged at info with the spec's name
  };

  // `io` and `clock` must outlive the runner; callbacks run on `io`.
  ProcessRunner(asio::io_context& io, Clock& clock, Options options);
  ProcessRunner(asio::io_context& io, Clock& clock);
  // Kills the groups of every child still running and reaps them; the callbacks of runs
  // not yet delivered are dropped (their owner is going away).
  ~ProcessRunner();
  ProcessRunner(const ProcessRunner&) = delete;
  ProcessRunner& operator=(const ProcessRunner&) = delete;

  // Starts (or queues) a run; the callback runs on the loop exactly once, never inside
  // run() itself (a spawn failure is posted too). Returns an id for kill().
  uint64_t run(ProcessSpec spec, ProcessCallback callback);
  // Kills a running child's group (or drops a queued one); its callback still runs.
  // Unknown or finished ids are ignored.
  void kill(uint64_t id);

  size_t running() const;
  size_t queued() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::core
