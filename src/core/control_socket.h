// A unix-domain control socket both daemons serve: a line in, a reply out, in the manner of
// HAProxy's stats socket (one command per connection, or "prompt" for an interactive one).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace asio {
class io_context;
}

namespace tandem::core {

struct ControlSocketOptions {
  std::string path;
  uint32_t mode = 0600;              // file mode of the socket
  std::optional<std::string> owner;  // user name or number
  std::optional<std::string> group;  // group name or number
  size_t max_line = 16384;           // a longer line gets an error and the connection closes
  size_t max_clients = 32;           // more are accepted and closed at once
  // A connection with nothing to say for this long is closed (HAProxy's "stats timeout");
  // zero disables it.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(10);
};

// The reply to one command line. `close` ends the connection after the reply is sent.
struct ControlReply {
  std::string text;
  bool close = false;
};

// Called on the loop for each line (without its newline). Commands are the daemon's own;
// "prompt" and "quit" are handled here and never reach it, nor do empty lines.
using ControlHandler = std::function<ControlReply(std::string_view line)>;

struct ControlStats {
  uint64_t accepted = 0;     // connections served
  uint64_t refused = 0;      // closed at once: max_clients were busy
  uint64_t too_long = 0;     // lines over max_line
  uint64_t idle_closed = 0;  // closed after idle_timeout
  uint64_t commands = 0;     // lines given to the handler
};

class ControlServer {
 public:
  // `io` must outlive the server; the handler runs on it.
  ControlServer(asio::io_context& io, ControlSocketOptions options, ControlHandler handler);
  ~ControlServer();  // stop()
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds (replacing a stale socket file nobody listens on, refusing a live one or a file
  // that is no socket), sets mode and owner, then listens. Call from the loop's thread or
  // before the loop runs.
  Result<void> start();
  // Closes the listener and every connection and removes the socket file (if it is still
  // the one we made). Idempotent. On the loop's thread.
  void stop();
  const std::string& path() const;
  size_t clients() const;
  ControlStats stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with pending asio handlers
};

// A client for the same protocol (used by `tandem status` and the tests): sends one line,
// half-closes, returns everything the server sends until it closes or `timeout` passes.
// Blocking, no loop needed. Errors name the path and the system's reason.
Result<std::string> control_request(const std::string& path, std::string_view line,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace tandem::core
