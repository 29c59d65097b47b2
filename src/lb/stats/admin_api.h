// The runtime API of `stats socket`: haproxy 2.6's command language (the commands tandem-lb
// supports), its answers and error texts word for word, its levels, `;` between commands.
// Pure: the socket and the changes live behind AdminTarget.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "lb/stats/view.h"

namespace tandem::lb::stats {

enum class Level : uint8_t { kUser, kOperator, kAdmin };
std::optional<Level> parse_level(std::string_view s);  // "user", "operator", "admin"
std::string_view to_string(Level l);

// What the runtime API reads and changes. The run-time implements it (reading a snapshot,
// posting changes to the workers); tests use a fake. Backend and server names passed to the
// setters were found in view() just before.
class AdminTarget {
 public:
  virtual ~AdminTarget() = default;
  // The current statistics: `show` commands, `get weight`, and name lookups.
  virtual StatsView view() = 0;
  // Errors come back to the operator as their message (end it with "\n").
  virtual core::Result<void> set_admin_state(std::string_view backend, std::string_view server,
                                             AdminState state) = 0;
  virtual core::Result<void> set_weight(std::string_view backend, std::string_view server,
                                        uint32_t weight) = 0;
  virtual core::Result<void> set_maxconn(std::string_view backend, std::string_view server,
                                         uint32_t maxconn) = 0;
  // Closes every session using the server now.
  virtual core::Result<void> shutdown_sessions(std::string_view backend,
                                               std::string_view server) = 0;
};

// Splits a CLI line as haproxy does: commands at unescaped ';', words at blanks, a backslash
// escapes the next character. Empty commands are dropped.
std::vector<std::vector<std::string>> split_commands(std::string_view line);

// One connection to the stats socket. haproxy's protocol: the client sends a line; each of
// its commands is answered with its output and an empty line; then the connection closes,
// unless `prompt` made the session interactive (then "> " follows each answer).
class CliSession {
 public:
  CliSession(AdminTarget& target, Level level) : target_(target), level_(level) {}

  struct Reply {
    std::string text;    // write all of it
    bool close = false;  // then close the connection
  };
  // One line from the client, without its line ending.
  Reply handle_line(std::string_view line);

  Level level() const { return level_; }
  bool interactive() const { return interactive_; }

  // The answer to one command (already split into words), without the trailing empty line.
  std::string execute(const std::vector<std::string>& args);

 private:
  AdminTarget& target_;
  Level level_;
  bool interactive_ = false;
  bool quit_ = false;
};

// The `help` text for a level: haproxy's heading, then "  usage : description" lines.
std::string help_text(Level level);

}  // namespace tandem::lb::stats
