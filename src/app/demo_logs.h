// Reading the daemons' log lines for the demo's timeline: times, VRRP state changes and
// tandem-lb's health-check verdicts (pure functions, for tests).
#pragma once

#include <optional>
#include <string>

namespace tandem::app::demo {

// "2026-11-26T12:00:00.123 tandem-vrrp[1] info: ..." -> milliseconds of the wall clock
// (the daemons write local time). nullopt when the line does not start with a time.
std::optional<double> log_time_ms(const std::string& line);

// "... (VI_1) Entering MASTER STATE (preempting ...)" -> {"MASTER", "preempting ..."}.
struct StateLine {
  std::string state;
  std::string reason;  // without its parentheses; empty if none
};
std::optional<StateLine> parse_state_line(const std::string& line, const std::string& instance);

// "Server webs/web3 is DOWN, reason: Layer4 connection problem, info: "Network is
// unreachable", check duration: 0ms. ..." -> {"web3", "DOWN", "Network is unreachable"};
// without an info, the reason. nullopt when the text is not such a line.
struct CheckLine {
  std::string name;
  std::string verdict;
  std::string reason;
};
std::optional<CheckLine> parse_check_line(const std::string& text);

}  // namespace tandem::app::demo
