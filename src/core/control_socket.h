// A unix-domain control socket both daemons serve: a line in, a reply out.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace tandem::core {

struct ControlSocketOptions {
  std::string path;
  uint32_t mode = 0600;              // file mode of the socket
  std::optional<std::string> owner;  // user name or number
  std::optional<std::string> group;  // group name or number
  size_t max_line = 16384;           // a longer line gets an error and the connection closes
  size_t max_clients = 32;           // more are refused at accept
};

// The reply to one command line. `close` ends the connection after the reply is sent.
struct ControlReply {
  std::string text;
  bool close = false;
};

// Called on the loop for each line (without its newline). Commands are the daemon's own.
using ControlHandler = std::function<ControlReply(std::string_view line)>;

class ControlServer {
 public:
  ControlServer(asio::io_context& io, ControlSocketOptions options, ControlHandler handler);
  ~ControlServer();  // closes the socket and removes its file

  // Binds (replacing a stale socket file nobody listens on), sets mode and owner, listens.
  Result<void> start();
  void stop();
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A client for the same protocol (used by `tandem status` and the tests): sends one line,
// returns everything the server sends until it closes or `timeout` passes.
Result<std::string> control_request(const std::string& path, std::string_view line,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace tandem::core
