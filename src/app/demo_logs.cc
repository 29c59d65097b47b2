#include "app/demo_logs.h"

#include <cstdio>
#include <ctime>

namespace tandem::app::demo {

std::optional<double> log_time_ms(const std::string& line) {
  std::tm tm{};
  int ms = 0;
  int used = 0;
  if (std::sscanf(line.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d%n", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &used) != 7 ||
      used != 23)
    return std::nullopt;
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60 || ms < 0)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_isdst = -1;
  std::time_t t = std::mktime(&tm);
  if (t == -1) return std::nullopt;
  return static_cast<double>(t) * 1000.0 + ms;
}

std::optional<StateLine> parse_state_line(const std::string& line, const std::string& instance) {
  const std::string key = "(" + instance + ") Entering ";
  auto pos = line.find(key);
  if (pos == std::string::npos) return std::nullopt;
  std::string rest = line.substr(pos + key.size());
  auto space = rest.find(' ');
  if (space == std::string::npos || rest.compare(space, 6, " STATE") != 0) return std::nullopt;
  StateLine s;
  s.state = rest.substr(0, space);
  auto open = rest.find('(', space);
  auto close = rest.rfind(')');
  if (open != std::string::npos && close != std::string::npos && close > open)
    s.reason = rest.substr(open + 1, close - open - 1);
  return s;
}

std::optional<CheckLine> parse_check_line(const std::string& text) {
  if (text.rfind("Server ", 0) != 0) return std::nullopt;
  auto slash = text.find('/');
  auto is = text.find(" is ");
  if (slash == std::string::npos || is == std::string::npos || is < slash) return std::nullopt;
  CheckLine c;
  c.name = text.substr(slash + 1, is - slash - 1);
  auto comma = text.find(',', is);
  c.verdict = text.substr(is + 4, comma == std::string::npos ? std::string::npos : comma - is - 4);
  auto info = text.find("info: \"");
  auto reason = text.find("reason: ");
  if (info != std::string::npos) {
    auto end = text.find('"', info + 7);
    c.reason = text.substr(info + 7, end == std::string::npos ? end : end - info - 7);
  } else if (reason != std::string::npos) {
    auto end = text.find(',', reason);
    c.reason = text.substr(reason + 8, end == std::string::npos ? end : end - reason - 8);
  }
  return c;
}

}  // namespace tandem::app::demo
