// HTTP/1 framing: a byte lexer guards every head byte, llhttp parses the head's grammar, and
// our own framer streams Content-Length, chunked and close-delimited bodies.
//
// Why three pieces: the Debian llhttp is built in its loose mode (LLHTTP_STRICT_MODE 0), which
// accepts a bare LF in heads, obs-fold, NUL-free but odd request lines and, in chunk lines, a
// CR followed by any byte. The lexer rejects those before llhttp sees them; llhttp still
// checks methods, URLs, versions and Content-Length syntax; the body framer is strict RFC 9112.
//
// Answers, measured against haproxy 2.6.12 on loopback (option forwardfor, default tunes):
//   case                                   ours  haproxy 2.6
//   CL + TE (either order)                 400   200, CL dropped, connection closed  (*)
//   TE "chunked, chunked" / TE twice       400   400
//   TE "gzip, chunked"                     422   422
//   TE not ending in chunked, identity     400   400
//   TE "chunked," (empty element)          400   200  (*) llhttp refuses it
//   TE ",chunked" (empty element first)    400   422
//   TE in an HTTP/1.0 request              200, then close   200, then close
//   CL twice, same value / "5, 5"          400   200  (*) llhttp refuses duplicates
//   CL twice different / "5, 6" / +5 / -1 / 0x5 / "5 5" / empty / overflow      400   400
//   chunk size overflow, -5, 0x5, empty    400   400
//   bare LF in chunk lines                 400   200  (*)
//   chunk size then SP then CRLF           400   200  (*) RFC allows BWS only before ';'
//   obs-fold                               400   200, unfolded  (*) RFC 9112 5.2 allows 400
//   space or tab before colon              400   400
//   bare CR                                400   400
//   NUL in a value                         400   200  (*) RFC 9110 5.5 allows rejecting
//   NUL in name or URI                     400   400
//   CTL/DEL in a value                     400   200  (*)
//   bare LF as head line end               400   200  (*) RFC 9112 2.2 "MAY" accept
//   more than 100 header lines (maxhdr 101) 400  400 (haproxy keeps one slot for itself)
//   head over tune.bufsize-maxrewrite      400   400 (haproxy counts its internal form:
//                                                   it refused from ~15.27 KB; we use 15360 B)
//   request line over max_request_line     414   (no such limit; over the buffer: 400)
//   HTTP/1.1 without Host                  400   200  (*) RFC 9112 3.2 MUST
//   Host twice, same / different           400 / 400   200 / 400  (*) RFC 9112 3.2 MUST
//   absolute-form authority != Host        400   400
//   Content-Length/TE/Host in trailers     400   400
//   HTTP/0.9, double SP, trailing SP, '#', CTL/8bit in URI, bad version   400   400
//   "GET  / HTTP/1.1" (double space)       400   200  (*)
//   HTTP/2.0, HTTP/3.0, HTTP/1.2 request   505   200 as 1.1  (*) llhttp knows 1.0/1.1 only
//   unknown or lower-case method           501   200 forwarded  (*) llhttp knows a fixed set
//   malformed method ("G@T")               400   400
//   any malformed response                 502   502 (haproxy forwards NUL/CTL/obs-fold/bare
//                                                   LF, status 099/600; we answer 502)
//   response TE not ending in chunked      502   502
// (*) we are stricter than haproxy 2.6 on purpose: each is a request-smuggling vector or a
// MUST of RFC 9110/9112. haproxy closes the connection after every error; so do we.
#include "lb/http1.h"

#include <arpa/inet.h>
#include <llhttp.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <utility>

#include "core/object_cache.h"

namespace tandem::lb::http1 {
namespace {

using R = RejectReason;

constexpr size_t kMaxChunkLine = 4096;  // a chunk-size line with extensions

// RFC 9110 tchar, as a table: the lexer asks for every byte of methods and header names.
constexpr std::array<bool, 256> kTchar = [] {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<size_t>(c)] = true;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<size_t>(c)] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();
bool is_tchar(unsigned char c) {
  return kTchar[c];
}

int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(element) for each non-empty element of a comma-separated list.
template <typename F>
void for_each_element(std::string_view list, F&& f) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

bool has_empty_element(std::string_view list) {
  while (true) {
    size_t comma = list.find(',');
    if (trim(list.substr(0, comma)).empty()) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

// The authority of an absolute-form target ("http://host:port/path" -> "host:port"); empty
// for the origin form and for other schemes' forms.
std::string_view target_authority(std::string_view target) {
  size_t sep = target.find("://");
  if (sep == std::string_view::npos || target.find('/') < sep) return {};
  std::string_view rest = target.substr(sep + 3);
  std::string_view auth = rest.substr(0, rest.find_first_of("/?#"));
  if (size_t at = auth.rfind('@'); at != std::string_view::npos) auth.remove_prefix(at + 1);
  return auth;
}

// "host:80" for http (":443" for https) names the same site as "host".
std::string_view without_default_port(std::string_view target, std::string_view authority) {
  std::string_view port =
      target.starts_with("https:") || target.starts_with("HTTPS:") ? ":443" : ":80";
  if (authority.ends_with(port)) authority.remove_suffix(port.size());
  return authority;
}

int on_headers_complete(llhttp_t*) {
  return HPE_PAUSED;
}

const llhttp_settings_t& settings() {
  static const llhttp_settings_t s = [] {
    llhttp_settings_t v;
    llhttp_settings_init(&v);
    v.on_headers_complete = on_headers_complete;
    return v;
  }();
  return s;
}

}  // namespace

Verdict verdict(RejectReason reason, Mode mode) {
  if (reason == R::kNone) return {0, false};
  if (mode == Mode::kResponse) return {502, true};
  switch (reason) {
    case R::kUnsupportedMethod:
      return {501, true};
    case R::kUnsupportedVersion:
      return {505, true};
    case R::kUriTooLong:
      return {414, true};
    case R::kUnsupportedTransferCoding:
      return {422, true};
    case R::kBadStatusLine:
      return {502, true};
    default:
      return {400, true};
  }
}

std::string_view reject_name(RejectReason reason) {
  static constexpr std::array<std::string_view, kRejectReasonCount> kNames = {
      "none",
      "bad_request_line",
      "unsupported_method",
      "bad_version",
      "unsupported_version",
      "uri_too_long",
      "head_too_large",
      "too_many_headers",
      "bad_header_name",
      "bad_header_value",
      "space_before_colon",
      "obs_fold",
      "bare_cr",
      "bare_lf",
      "nul",
      "cl_and_te",
      "bad_transfer_encoding",
      "unsupported_transfer_coding",
      "bad_content_length",
      "conflicting_content_length",
      "missing_host",
      "duplicate_host",
      "host_mismatch",
      "framing_trailer",
      "bad_chunk",
      "truncated",
      "bad_status_line",
      "malformed",
  };
  size_t i = static_cast<size_t>(reason);
  return i < kNames.size() ? kNames[i] : "unknown";
}

uint64_t RejectCounters::total() const {
  uint64_t t = 0;
  for (size_t i = 1; i < n_.size(); ++i) t += n_[i];
  return t;
}

// ---------------------------------------------------------------------------------------

struct Parser::Impl {
  // Head lexer states.
  enum class Lx : uint8_t {
    kStart,
    kMethod,
    kTarget,
    kVersion,
    kStatus,
    kLineStart,
    kName,
    kValue,
    kCr,
    kDone
  };
  enum class LineEnd : uint8_t { kLeading, kStartLine, kHeader, kEmpty };
  enum class Body : uint8_t { kLength, kChunked, kUntilEof };
  enum class Ch : uint8_t { kSize, kBws, kExt, kSizeLf, kData, kDataCr, kDataLf, kTrailers };

  Mode mode;
  Limits limits;
  RejectCounters* counters;
  llhttp_t p{};
  State state = State::kIdle;
  RejectReason error = R::kNone;
  Head head;
  Headers trailers;
  std::vector<std::string_view> pieces;
  // Header fields of earlier messages, kept for the storage of their strings: a new field
  // takes one before anything is allocated.
  Headers spare;

  // Lexer.
  Lx lx = Lx::kStart;
  LineEnd pending = LineEnd::kLeading;
  bool in_trailers = false;
  bool method_done = false;
  bool method_pending = false;  // llhttp refused the method; wait for its end to tell 400/501
  size_t lex_bytes = 0;
  size_t start_line_len = 0;
  size_t header_lines = 0;
  std::string version_text;
  std::string status_line;
  std::string name;
  std::string value;

  // Body framer.
  Body body = Body::kLength;
  uint64_t remaining = 0;
  Ch ch = Ch::kSize;
  int chunk_digits = 0;
  size_t chunk_line = 0;

  // Response context.
  bool request_was_head = false;
  bool request_was_connect = false;

  Impl(Mode m, Limits l, RejectCounters* c) : mode(m), limits(l), counters(c) {
    llhttp_init(&p, mode == Mode::kRequest ? HTTP_REQUEST : HTTP_RESPONSE, &settings());
  }

  // A state taken from the cache: back to that of a new connection. The head and the
  // scratch strings are cleared by begin_message() before the first byte.
  void renew(Mode m, Limits l, RejectCounters* c) {
    mode = m;
    limits = l;
    counters = c;
    llhttp_init(&p, mode == Mode::kRequest ? HTTP_REQUEST : HTTP_RESPONSE, &settings());
    state = State::kIdle;
    error = R::kNone;
    request_was_head = false;
    request_was_connect = false;
    pieces.clear();
    begin_message();
  }

  void fail(RejectReason r) {
    if (state == State::kError) return;
    state = State::kError;
    error = r;
    if (counters != nullptr) counters->add(r);
  }

  void begin_message() {
    llhttp_reset(&p);
    // Cleared field by field: the strings and the header vector keep their storage.
    head.method.clear();
    head.target.clear();
    head.status = 0;
    head.reason.clear();
    head.version = Version::k11;
    recycle(head.headers);
    head.content_length.reset();
    head.chunked = false;
    head.body_until_eof = false;
    head.no_body = false;
    head.keep_alive = true;
    head.upgrade = false;
    head.websocket = false;
    head.expect_100_continue = false;
    head.host.clear();
    recycle(trailers);
    lx = mode == Mode::kRequest ? Lx::kStart : Lx::kStatus;
    in_trailers = false;
    method_done = false;
    method_pending = false;
    lex_bytes = 0;
    start_line_len = 0;
    header_lines = 0;
    version_text.clear();
    status_line.clear();
    name.clear();
    value.clear();
  }

  void recycle(Headers& fields) {
    for (Header& h : fields) spare.push_back(std::move(h));
    fields.clear();
  }

  // A header field, in storage an earlier message's field leaves when there is one.
  void add_field(Headers& into, std::string_view field_name, std::string_view field_value) {
    if (spare.empty()) {
      into.push_back({std::string(field_name), std::string(field_value)});
      return;
    }
    Header& h = into.emplace_back(std::move(spare.back()));
    spare.pop_back();
    h.name.assign(field_name);
    h.value.assign(field_value);
  }

  void begin_trailers() {
    lx = Lx::kLineStart;
    in_trailers = true;
    lex_bytes = 0;
    header_lines = 0;
    name.clear();
    value.clear();
  }

  RejectReason end_line(LineEnd kind) {
    switch (kind) {
      case LineEnd::kLeading:
        lx = Lx::kStart;
        return R::kNone;
      case LineEnd::kStartLine:
        lx = Lx::kLineStart;
        return R::kNone;
      case LineEnd::kHeader: {
        std::string_view v = trim(value);
        // Framing and routing fields have no place in trailers: a server that merges trailers
        // into the head would see a second framing.
        if (in_trailers && (iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
                            iequals(name, "host")))
          return R::kFramingTrailer;
        add_field(in_trailers ? trailers : head.headers, name, v);
        name.clear();
        value.clear();
        lx = Lx::kLineStart;
        // haproxy keeps one of tune.http.maxhdr's slots for itself: 101 allows 100 lines.
        if (++header_lines >= limits.max_headers) return R::kTooManyHeaders;
        return R::kNone;
      }
      case LineEnd::kEmpty:
        lx = Lx::kDone;
        return R::kNone;
    }
    return R::kNone;
  }

  RejectReason check_version() const {
    const std::string& v = version_text;
    if (v.size() != 8 || v.compare(0, 5, "HTTP/") != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
        v[7] < '0' || v[7] > '9') {
      return R::kBadVersion;
    }
    return v[5] == '1' ? R::kNone : R::kUnsupportedVersion;
  }

  RejectReason check_version_prefix() const {
    static constexpr std::string_view kPattern = "HTTP/1.1";
    size_t i = version_text.size() - 1;
    if (i >= kPattern.size()) return R::kBadVersion;
    unsigned char c = static_cast<unsigned char>(version_text[i]);
    if (i == 5 || i == 7) {
      if (c < '0' || c > '9') return R::kBadVersion;
      return i == 5 && c != '1' ? R::kUnsupportedVersion : R::kNone;
    }
    return c == static_cast<unsigned char>(kPattern[i]) ? R::kNone : R::kBadVersion;
  }

  // One head byte: returns a reason to reject, with the lexer state left as it was.
  RejectReason lex_byte(unsigned char c) {
    if (c == 0) return R::kNul;
    switch (lx) {
      case Lx::kStart:  // before a request line: RFC 9112 2.2 lets us skip empty lines
        if (c == '\r') {
          pending = LineEnd::kLeading;
          lx = Lx::kCr;
          return R::kNone;
        }
        if (c == '\n') return R::kBareLf;
        if (!is_tchar(c)) return R::kBadRequestLine;
        lx = Lx::kMethod;
        head.method.push_back(static_cast<char>(c));
        return count_start_line();
      case Lx::kMethod:
        if (c == ' ') {
          method_done = true;
          lx = Lx::kTarget;
        } else if (is_tchar(c)) {
          head.method.push_back(static_cast<char>(c));
        } else {
          return R::kBadRequestLine;
        }
        return count_start_line();
      case Lx::kTarget:
        if (c == ' ') {
          if (head.target.empty()) return R::kBadRequestLine;
          lx = Lx::kVersion;
        } else if (c > 0x20 && c < 0x7f && c != '#') {
          head.target.push_back(static_cast<char>(c));
        } else {
          return R::kBadRequestLine;
        }
        return count_start_line();
      case Lx::kVersion:
        if (c == '\r') {
          if (RejectReason r = check_version(); r != R::kNone) return r;
          pending = LineEnd::kStartLine;
          lx = Lx::kCr;
          return R::kNone;
        }
        if (c == '\n') return R::kBareLf;
        version_text.push_back(static_cast<char>(c));
        // Checked byte by byte so that we, not llhttp, name the first wrong byte.
        if (RejectReason r = check_version_prefix(); r != R::kNone) return r;
        return count_start_line();
      case Lx::kStatus:
        if (c == '\r') {
          pending = LineEnd::kStartLine;
          lx = Lx::kCr;
          return R::kNone;
        }
        if (c == '\n') return R::kBareLf;
        if ((c < 0x20 && c != '\t') || c == 0x7f) return R::kBadStatusLine;
        status_line.push_back(static_cast<char>(c));
        return R::kNone;
      case Lx::kLineStart:
        if (c == '\r') {
          pending = LineEnd::kEmpty;
          lx = Lx::kCr;
          return R::kNone;
        }
        if (c == '\n') return R::kBareLf;
        if (c == ' ' || c == '\t') return header_lines > 0 ? R::kObsFold : R::kBadHeaderName;
        if (!is_tchar(c)) return R::kBadHeaderName;
        name.push_back(static_cast<char>(c));
        lx = Lx::kName;
        return R::kNone;
      case Lx::kName:
        if (c == ':') {
          lx = Lx::kValue;
        } else if (c == ' ' || c == '\t') {
          return R::kSpaceBeforeColon;
        } else if (c == '\n') {
          return R::kBareLf;
        } else if (!is_tchar(c)) {
          return R::kBadHeaderName;
        } else {
          name.push_back(static_cast<char>(c));
        }
        return R::kNone;
      case Lx::kValue:
        if (c == '\r') {
          pending = LineEnd::kHeader;
          lx = Lx::kCr;
          return R::kNone;
        }
        if (c == '\n') return R::kBareLf;
        if ((c < 0x20 && c != '\t') || c == 0x7f) return R::kBadHeaderValue;
        if (value.empty() && (c == ' ' || c == '\t')) return R::kNone;
        value.push_back(static_cast<char>(c));
        return R::kNone;
      case Lx::kCr:
        if (c != '\n') return R::kBareCr;
        return end_line(pending);
      case Lx::kDone:
        return R::kNone;
    }
    return R::kNone;
  }

  RejectReason count_start_line() {
    ++start_line_len;
    if (limits.max_request_line != 0 && start_line_len > limits.max_request_line) {
      return R::kUriTooLong;
    }
    return R::kNone;
  }

  struct LexResult {
    size_t used = 0;  // bytes accepted (the head's end included); an error is at d[used]
    RejectReason error = R::kNone;
    bool done = false;
  };

  // How many bytes from d[i] on lex_byte() would only append to the token being read (the
  // method, the target, a header name or value, the status line), within the size limits:
  // those are taken in one piece. The byte after them goes through lex_byte() as before.
  size_t plain_run(std::string_view d, size_t i) const {
    size_t end = d.size();
    const size_t head_room =
        limits.max_head_size > lex_bytes ? limits.max_head_size - lex_bytes : 0;
    end = std::min(end, i + head_room);
    if ((lx == Lx::kMethod || lx == Lx::kTarget) && limits.max_request_line != 0) {
      const size_t line_room =
          limits.max_request_line > start_line_len ? limits.max_request_line - start_line_len : 0;
      end = std::min(end, i + line_room);
    }
    const auto* b = reinterpret_cast<const unsigned char*>(d.data());
    size_t j = i;
    switch (lx) {
      case Lx::kMethod:
      case Lx::kName:
        while (j < end && kTchar[b[j]]) ++j;
        break;
      case Lx::kTarget:
        while (j < end && b[j] > 0x20 && b[j] < 0x7f && b[j] != '#') ++j;
        break;
      case Lx::kValue:
        if (value.empty()) return 0;  // leading whitespace is skipped byte by byte
        [[fallthrough]];
      case Lx::kStatus:
        while (j < end && (b[j] >= 0x20 || b[j] == '\t') && b[j] != 0x7f) ++j;
        break;
      default:
        break;
    }
    return j - i;
  }

  void take_run(std::string_view run) {
    lex_bytes += run.size();
    switch (lx) {
      case Lx::kMethod:
        head.method.append(run);
        start_line_len += run.size();
        break;
      case Lx::kTarget:
        head.target.append(run);
        start_line_len += run.size();
        break;
      case Lx::kName:
        name.append(run);
        break;
      case Lx::kValue:
        value.append(run);
        break;
      case Lx::kStatus:
        status_line.append(run);
        break;
      default:
        break;
    }
  }

  // Whole lines at the start of d that need no byte-by-byte look: a request line
  // "TOKEN SP TARGET SP HTTP/1.x CRLF" or a header "NAME: VALUE CRLF", each within the limits.
  // Taken as lex_byte() would take them, byte by byte; 0 when the next line is incomplete or
  // anything about it is unusual (an error, obs-fold, trailers, a limit reached): the byte
  // path then takes it and names the error exactly.
  size_t whole_line(std::string_view d) {
    if (lx == Lx::kLineStart) return whole_header_line(d);
    if (lx == Lx::kStart && mode == Mode::kRequest) return whole_request_line(d);
    return 0;
  }

  // The length of the token at the start of d when `delim` follows it, else 0.
  static size_t token_before(std::string_view d, char delim) {
    const auto* b = reinterpret_cast<const unsigned char*>(d.data());
    size_t i = 0;
    while (i < d.size() && kTchar[b[i]]) ++i;
    return i > 0 && i < d.size() && d[i] == delim ? i : 0;
  }

  size_t whole_request_line(std::string_view d) {
    const auto* b = reinterpret_cast<const unsigned char*>(d.data());
    const size_t size = d.size();
    const size_t method_end = token_before(d, ' ');
    if (method_end == 0) return 0;
    size_t i = method_end + 1;
    const size_t target_start = i;
    while (i < size && b[i] > 0x20 && b[i] < 0x7f && b[i] != '#') ++i;
    const size_t target_end = i;
    if (target_end == target_start || i >= size || b[i] != ' ') return 0;
    const size_t version_start = ++i;
    if (size - version_start < 10) return 0;
    std::string_view version = d.substr(version_start, 8);
    if ((version != "HTTP/1.1" && version != "HTTP/1.0") || b[version_start + 8] != '\r' ||
        b[version_start + 9] != '\n')
      return 0;
    const size_t line = version_start + 8;  // what count_start_line() counts
    const size_t n = line + 2;
    if ((limits.max_request_line != 0 && line > limits.max_request_line) ||
        lex_bytes + n > limits.max_head_size)
      return 0;
    head.method.assign(d.substr(0, method_end));
    head.target.assign(d.substr(target_start, target_end - target_start));
    version_text.assign(version);
    method_done = true;
    start_line_len = line;
    lex_bytes += n;
    lx = Lx::kLineStart;
    return n;
  }

  size_t whole_header_line(std::string_view d) {
    if (in_trailers || header_lines + 1 >= limits.max_headers) return 0;
    const auto* b = reinterpret_cast<const unsigned char*>(d.data());
    const size_t size = d.size();
    const size_t name_end = token_before(d, ':');
    if (name_end == 0) return 0;
    size_t i = name_end + 1;
    while (i < size && (b[i] == ' ' || b[i] == '\t')) ++i;
    const size_t value_start = i;
    while (i < size && (b[i] >= 0x20 || b[i] == '\t') && b[i] != 0x7f) ++i;
    if (i + 1 >= size || b[i] != '\r' || b[i + 1] != '\n') return 0;
    const size_t n = i + 2;
    if (lex_bytes + n > limits.max_head_size) return 0;
    add_field(head.headers, d.substr(0, name_end), trim(d.substr(value_start, i - value_start)));
    ++header_lines;
    lex_bytes += n;
    return n;
  }

  LexResult lex(std::string_view d) {
    LexResult r;
    for (; r.used < d.size(); ++r.used) {
      if (size_t n = whole_line(d.substr(r.used)); n > 0) {
        r.used += n - 1;  // the loop's step takes the last one
        continue;
      }
      if (size_t run = plain_run(d, r.used); run > 1) {
        take_run(d.substr(r.used, run - 1));  // the last one goes the usual way, below
        r.used += run - 1;
      }
      if (++lex_bytes > limits.max_head_size) {
        r.error = R::kHeadTooLarge;
        return r;
      }
      r.error = lex_byte(static_cast<unsigned char>(d[r.used]));
      if (r.error != R::kNone) return r;
      if (lx == Lx::kDone) {
        ++r.used;
        r.done = true;
        return r;
      }
    }
    return r;
  }

  RejectReason map_llhttp(llhttp_errno_t e) const {
    const char* why = llhttp_get_error_reason(&p);
    std::string_view reason = why != nullptr ? why : "";
    if (mode == Mode::kResponse) {
      switch (e) {
        case HPE_INVALID_CONSTANT:
        case HPE_INVALID_VERSION:
        case HPE_INVALID_STATUS:
          return R::kBadStatusLine;
        default:
          break;
      }
    }
    switch (e) {
      case HPE_INVALID_METHOD:
        return R::kUnsupportedMethod;
      case HPE_INVALID_URL:
      case HPE_INVALID_CONSTANT:
        return R::kBadRequestLine;
      case HPE_INVALID_VERSION:
      case HPE_PAUSED_H2_UPGRADE:
        return R::kUnsupportedVersion;
      case HPE_UNEXPECTED_CONTENT_LENGTH:
        return reason.find("Duplicate") != std::string_view::npos ? R::kConflictingContentLength
                                                                  : R::kClAndTe;
      case HPE_INVALID_CONTENT_LENGTH:
        return R::kBadContentLength;
      case HPE_INVALID_TRANSFER_ENCODING:
        return R::kBadTransferEncoding;
      case HPE_INVALID_HEADER_TOKEN:
        return R::kBadHeaderValue;
      default:
        return R::kMalformed;
    }
  }

  // Semantic checks and derived facts once the whole head is in.
  RejectReason finish_head() {
    Head& h = head;
    if (mode == Mode::kRequest) {
      h.version = version_text[7] == '0' ? Version::k10 : Version::k11;
    } else {
      // "HTTP/1.1 200 OK": llhttp checked the grammar; we take the parts.
      if (p.http_major != 1) return R::kBadStatusLine;
      h.version = p.http_minor == 0 ? Version::k10 : Version::k11;
      h.status = p.status_code;
      if (h.status < 100 || h.status > 599) return R::kBadStatusLine;
      std::string_view line = status_line;
      size_t sp = line.find(' ');
      line = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
      h.reason = std::string(line.size() > 4 ? line.substr(4) : std::string_view{});
    }

    size_t n_cl = 0;
    size_t n_te = 0;
    size_t n_host = 0;
    bool conn_close = false;
    bool conn_keep_alive = false;
    bool conn_upgrade = false;
    bool has_upgrade = false;
    std::vector<std::string_view> codings;
    std::string_view cl_value;
    for (const Header& hd : h.headers) {
      if (iequals(hd.name, "content-length")) {
        ++n_cl;
        cl_value = hd.value;
      } else if (iequals(hd.name, "transfer-encoding")) {
        ++n_te;
        // An empty element (",chunked", "chunked,", "a,,chunked") is refused: servers split
        // such lists differently, and one that sees no "chunked" frames the body otherwise.
        if (has_empty_element(hd.value)) return R::kBadTransferEncoding;
        for_each_element(hd.value, [&](std::string_view c) { codings.push_back(c); });
      } else if (iequals(hd.name, "host")) {
        ++n_host;
        h.host = hd.value;
      } else if (iequals(hd.name, "connection")) {
        conn_close |= has_token(hd.value, "close");
        conn_keep_alive |= has_token(hd.value, "keep-alive");
        conn_upgrade |= has_token(hd.value, "upgrade");
      } else if (iequals(hd.name, "upgrade")) {
        has_upgrade = true;
        h.websocket |= has_token(hd.value, "websocket");
      } else if (iequals(hd.name, "expect")) {
        h.expect_100_continue |= iequals(hd.value, "100-continue");
      }
    }
    const bool request = mode == Mode::kRequest;

    if (n_te > 0 && n_cl > 0) return R::kClAndTe;
    if (n_te > 0) {
      size_t n_chunked = 0;
      for (std::string_view c : codings) n_chunked += iequals(c, "chunked") ? 1 : 0;
      bool last_chunked = !codings.empty() && iequals(codings.back(), "chunked");
      if (!last_chunked || n_chunked > 1) return R::kBadTransferEncoding;
      // haproxy 2.6 only decodes chunked; it answers 422 to other request codings.
      if (request && codings.size() > 1) return R::kUnsupportedTransferCoding;
      h.chunked = true;
    }
    if (n_cl > 1) return R::kConflictingContentLength;
    if (n_cl == 1) {
      uint64_t v = 0;
      if (cl_value.empty() || cl_value.size() > 18) return R::kBadContentLength;
      for (char c : cl_value) {
        if (c < '0' || c > '9') return R::kBadContentLength;
        v = v * 10 + static_cast<uint64_t>(c - '0');
      }
      h.content_length = v;
    }
    if (request) {
      if (n_host > 1) return R::kDuplicateHost;
      if (n_host == 0 && h.version == Version::k11) return R::kMissingHost;
      // RFC 9112 3.2.2: the target's authority wins over Host; a server and the proxy's own
      // Host-based rules would disagree on the site, so a mismatch is refused (as haproxy).
      if (std::string_view auth = target_authority(h.target);
          !auth.empty() && n_host == 1 &&
          !iequals(without_default_port(h.target, auth), without_default_port(h.target, h.host)))
        return R::kHostMismatch;
    }

    h.keep_alive = h.version == Version::k11 ? !conn_close : conn_keep_alive && !conn_close;
    // RFC 9112 6.1: Transfer-Encoding in 1.0 is faulty framing; serve it, then close.
    if (h.chunked && h.version == Version::k10) h.keep_alive = false;

    if (request) {
      h.expect_100_continue &= h.version == Version::k11;
      const bool connect = h.method == "CONNECT";
      h.upgrade = connect || (conn_upgrade && has_upgrade);
      if (connect) {
        h.no_body = true;
      } else if (h.chunked) {
        body = Body::kChunked;
      } else if (h.content_length.value_or(0) > 0) {
        body = Body::kLength;
        remaining = *h.content_length;
      } else {
        h.no_body = true;
      }
      return R::kNone;
    }

    if (h.status == 101 || (request_was_connect && h.status / 100 == 2)) {
      h.upgrade = true;
      h.no_body = true;
    } else if (h.interim() || request_was_head || h.status == 204 || h.status == 304) {
      h.no_body = true;
    } else if (h.chunked) {
      body = Body::kChunked;
    } else if (h.content_length) {
      body = Body::kLength;
      remaining = *h.content_length;
      h.no_body = remaining == 0;
    } else {
      body = Body::kUntilEof;
      h.body_until_eof = true;
      h.keep_alive = false;
    }
    return R::kNone;
  }

  void complete_message(Progress& out) {
    out.message_complete = true;
    if (mode == Mode::kRequest) {
      if (head.upgrade) {
        state = State::kUpgradePending;
        out.upgrade = true;
      } else {
        state = head.keep_alive ? State::kIdle : State::kDone;
      }
      return;
    }
    if (head.interim()) {
      state = State::kIdle;
    } else if (head.upgrade) {
      state = State::kTunnel;
      out.upgrade = true;
    } else {
      state = head.keep_alive ? State::kIdle : State::kDone;
    }
  }

  size_t step_head(std::string_view d, Progress& out, bool& stop) {
    LexResult lr = lex(d);
    if (method_pending) {
      // The first problem in the bytes' order is told, however they were split: a method
      // that ended (lex_byte() leaves the state as it was at an error) before a lexical
      // error is the 501; an error inside it, the 400.
      if (method_done) {
        fail(R::kUnsupportedMethod);
      } else if (lr.error != R::kNone) {
        fail(lr.error);
      }
      stop = state == State::kError;
      return lr.used;
    }
    llhttp_errno_t e = llhttp_execute(&p, d.data(), lr.used);
    if (e == HPE_OK) {
      // llhttp saw no end of head where the lexer did: should not happen; refuse safely.
      if (lr.error != R::kNone || lr.done) fail(lr.error != R::kNone ? lr.error : R::kMalformed);
      stop = state == State::kError;
      return lr.used;
    }
    if (e == HPE_PAUSED && lr.done) {
      if (RejectReason r = finish_head(); r != R::kNone) {
        fail(r);
        stop = true;
        return lr.used;
      }
      out.head_complete = true;
      if (head.no_body) {
        complete_message(out);
        stop = true;
      } else {
        state = State::kBody;
        ch = Ch::kSize;
        chunk_digits = 0;
        chunk_line = 0;
        remaining = body == Body::kChunked ? 0 : remaining;
      }
      return lr.used;
    }
    if (e == HPE_INVALID_METHOD && mode == Mode::kRequest && !method_done) {
      // llhttp stops at the first unknown letter; whether the answer is 400 (not a token)
      // or 501 (a method we do not know) depends on the rest of the word.
      if (lr.error != R::kNone) {
        fail(lr.error);
        stop = true;
      } else {
        method_pending = true;
      }
      return lr.used;
    }
    const char* pos = llhttp_get_error_pos(&p);
    size_t used = pos != nullptr && pos >= d.data() && pos <= d.data() + lr.used
                      ? static_cast<size_t>(pos - d.data())
                      : lr.used;
    fail(e == HPE_PAUSED ? R::kMalformed : map_llhttp(e));
    stop = true;
    return used;
  }

  size_t step_body(std::string_view d, Progress& out, bool& stop) {
    if (body == Body::kUntilEof) {
      pieces.push_back(d);
      return d.size();
    }
    if (body == Body::kLength) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(remaining, d.size()));
      if (n > 0) pieces.push_back(d.substr(0, n));
      remaining -= n;
      if (remaining == 0) {
        complete_message(out);
        stop = true;
      }
      return n;
    }
    size_t i = 0;
    while (i < d.size()) {
      if (ch == Ch::kData) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(remaining, d.size() - i));
        pieces.push_back(d.substr(i, n));
        remaining -= n;
        i += n;
        if (remaining == 0) ch = Ch::kDataCr;
        continue;
      }
      if (ch == Ch::kTrailers) {
        LexResult lr = lex(d.substr(i));
        i += lr.used;
        if (lr.error != R::kNone) {
          fail(lr.error);
          stop = true;
          return i;
        }
        if (lr.done) {
          complete_message(out);
          stop = true;
          return i;
        }
        continue;
      }
      unsigned char c = static_cast<unsigned char>(d[i]);
      if (RejectReason r = chunk_byte(c); r != R::kNone) {
        fail(r);
        stop = true;
        return i;
      }
      ++i;
    }
    return i;
  }

  RejectReason chunk_byte(unsigned char c) {
    if (c == 0) return R::kNul;
    if (++chunk_line > kMaxChunkLine) return R::kBadChunk;
    switch (ch) {
      case Ch::kSize: {
        int v = hex_value(c);
        if (v >= 0) {
          // Stay below 2^63: chunk sizes that overflow are a classic smuggling trick.
          if ((remaining >> 59) != 0) return R::kBadChunk;
          remaining = (remaining << 4) | static_cast<uint64_t>(v);
          ++chunk_digits;
          return R::kNone;
        }
        if (chunk_digits == 0) return c == '\n' ? R::kBareLf : R::kBadChunk;
        if (c == ';') {
          ch = Ch::kExt;
        } else if (c == ' ' || c == '\t') {
          ch = Ch::kBws;
        } else if (c == '\r') {
          ch = Ch::kSizeLf;
        } else if (c == '\n') {
          return R::kBareLf;
        } else {
          return R::kBadChunk;
        }
        return R::kNone;
      }
      case Ch::kBws:  // RFC 9112 7.1.1: whitespace only before a chunk extension
        if (c == ';') {
          ch = Ch::kExt;
        } else if (c != ' ' && c != '\t') {
          return c == '\n' ? R::kBareLf : R::kBadChunk;
        }
        return R::kNone;
      case Ch::kExt:
        if (c == '\r') {
          ch = Ch::kSizeLf;
        } else if (c == '\n') {
          return R::kBareLf;
        } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
          return R::kBadChunk;
        }
        return R::kNone;
      case Ch::kSizeLf:
        if (c != '\n') return R::kBareCr;
        chunk_line = 0;
        if (remaining == 0) {
          ch = Ch::kTrailers;
          begin_trailers();
        } else {
          ch = Ch::kData;
        }
        return R::kNone;
      case Ch::kDataCr:
        if (c == '\r') {
          ch = Ch::kDataLf;
          return R::kNone;
        }
        return c == '\n' ? R::kBareLf : R::kBadChunk;
      case Ch::kDataLf:
        if (c != '\n') return R::kBareCr;
        ch = Ch::kSize;
        chunk_digits = 0;
        chunk_line = 0;
        remaining = 0;
        return R::kNone;
      case Ch::kData:
      case Ch::kTrailers:
        break;
    }
    return R::kNone;
  }

  Progress feed(std::string_view in) {
    Progress out;
    pieces.clear();
    size_t pos = 0;
    bool stop = false;
    while (!stop && pos < in.size()) {
      switch (state) {
        case State::kIdle:
          begin_message();
          state = State::kHead;
          break;
        case State::kHead:
          pos += step_head(in.substr(pos), out, stop);
          break;
        case State::kBody:
          pos += step_body(in.substr(pos), out, stop);
          break;
        default:
          stop = true;
          break;
      }
    }
    out.consumed = pos;
    out.body = pieces;
    out.error = state == State::kError ? error : R::kNone;
    return out;
  }

  Progress finish() {
    Progress out;
    pieces.clear();
    switch (state) {
      case State::kIdle:
        state = State::kDone;
        break;
      case State::kHead:
        fail(method_pending ? R::kBadRequestLine : R::kTruncated);
        break;
      case State::kBody:
        if (body == Body::kUntilEof) {
          complete_message(out);
          state = State::kDone;
        } else {
          fail(R::kTruncated);
        }
        break;
      default:
        break;
    }
    out.error = state == State::kError ? error : R::kNone;
    return out;
  }
};

// Parser states kept per thread: enough for a burst of new connections, little when idle.
constexpr size_t kCachedParsers = 64;

void Parser::ImplRecycler::operator()(Impl* impl) const {
  // A state that grew large (many or long fields) is not worth keeping.
  if (impl->spare.size() + impl->head.headers.size() > 64 || impl->pieces.capacity() > 256) {
    delete impl;
    return;
  }
  core::ThreadObjectCache<Impl, kCachedParsers>::give(impl);
}

Parser::Parser(Mode mode, Limits limits, RejectCounters* counters)
    : limits_(limits), counters_(counters), mode_(mode) {}
Parser::~Parser() = default;
Parser::Parser(Parser&&) noexcept = default;
Parser& Parser::operator=(Parser&&) noexcept = default;

Parser::Impl& Parser::impl() {
  if (impl_) return *impl_;
  Impl* m = core::ThreadObjectCache<Impl, kCachedParsers>::take();
  if (m == nullptr) {
    m = new Impl(mode_, limits_, counters_);
  } else {
    m->renew(mode_, limits_, counters_);
  }
  impl_.reset(m);
  return *m;
}

Progress Parser::feed(std::string_view data) {
  return impl().feed(data);
}
Progress Parser::finish() {
  return impl().finish();
}

void Parser::expect_response_to(std::string_view method) {
  Impl& m = impl();
  m.request_was_head = method == "HEAD";
  m.request_was_connect = method == "CONNECT";
}

void Parser::upgrade_refused() {
  if (!impl_) return;
  if (impl_->state == State::kUpgradePending) {
    impl_->state = impl_->head.keep_alive ? State::kIdle : State::kDone;
  }
}

void Parser::reset(RejectCounters* counters) {
  counters_ = counters;
  if (!impl_) return;
  Impl& m = *impl_;
  m.counters = counters;
  m.state = State::kIdle;
  m.error = RejectReason::kNone;
  m.request_was_head = false;
  m.request_was_connect = false;
  m.pieces.clear();
}

void Parser::release_memory() {
  if (!impl_ || impl_->state != State::kIdle) return;
  impl_.reset();
}

namespace {
const Head kNoHead{};
const Headers kNoHeaders{};
}  // namespace

const Head& Parser::head() const {
  return impl_ ? impl_->head : kNoHead;
}
const Headers& Parser::trailers() const {
  return impl_ ? impl_->trailers : kNoHeaders;
}
Parser::State Parser::state() const {
  return impl_ ? impl_->state : State::kIdle;
}
RejectReason Parser::error() const {
  return impl_ ? impl_->error : RejectReason::kNone;
}

// ---- header helpers -------------------------------------------------------------------

bool iequals_bytes(const char* a, const char* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool has_token(std::string_view list, std::string_view token) {
  bool found = false;
  for_each_element(list, [&](std::string_view item) { found |= iequals(item, token); });
  return found;
}

const Header* find_header(const Headers& headers, std::string_view name) {
  for (const Header& h : headers) {
    if (iequals(h.name, name)) return &h;
  }
  return nullptr;
}

size_t count_headers(const Headers& headers, std::string_view name) {
  return static_cast<size_t>(std::count_if(headers.begin(), headers.end(),
                                           [&](const Header& h) { return iequals(h.name, name); }));
}

void add_header(Headers& headers, std::string_view name, std::string_view value) {
  headers.push_back({std::string(name), std::string(value)});
}

void set_header(Headers& headers, std::string_view name, std::string_view value) {
  del_header(headers, name);
  add_header(headers, name, value);
}

size_t del_header(Headers& headers, std::string_view name) {
  return std::erase_if(headers, [&](const Header& h) { return iequals(h.name, name); });
}

void remove_hop_by_hop(Headers& headers, HopByHopOptions options) {
  // Names listed in Connection go too, except Upgrade when we tunnel. Kept per thread so
  // that each message does not allocate the list anew (there is one on most messages).
  static thread_local std::vector<std::string> listed;
  listed.clear();
  for (const Header& h : headers) {
    if (!iequals(h.name, "connection")) continue;
    for_each_element(h.value, [&](std::string_view item) { listed.emplace_back(item); });
  }
  static constexpr std::array<std::string_view, 5> kAlways = {"connection", "keep-alive",
                                                              "proxy-connection", "te", "trailer"};
  std::erase_if(headers, [&](const Header& h) {
    for (std::string_view n : kAlways) {
      if (iequals(h.name, n)) return true;
    }
    if (iequals(h.name, "upgrade")) return !options.keep_upgrade;
    if (iequals(h.name, "transfer-encoding")) return !options.keep_transfer_encoding;
    // A Connection token cannot take away the message's framing or its Host (haproxy keeps
    // them too): dropping Content-Length would turn the body into a request of its own.
    if (iequals(h.name, "content-length") || iequals(h.name, "host")) return false;
    for (const std::string& n : listed) {
      if (iequals(h.name, n)) return true;
    }
    return false;
  });
  if (options.keep_upgrade && find_header(headers, "upgrade") != nullptr) {
    add_header(headers, "Connection", "upgrade");
  }
}

std::optional<Network> Network::parse(std::string_view text) {
  Network n;
  std::string_view addr = text;
  int prefix = -1;
  if (size_t slash = text.find('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    std::string_view bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 3) return std::nullopt;
    prefix = 0;
    for (char c : bits) {
      if (c < '0' || c > '9') return std::nullopt;
      prefix = prefix * 10 + (c - '0');
    }
  }
  std::string a(addr);
  if (inet_pton(AF_INET, a.c_str(), n.addr.data()) == 1) {
    n.v6 = false;
    n.prefix = prefix < 0 ? 32 : prefix;
    if (n.prefix > 32) return std::nullopt;
  } else if (inet_pton(AF_INET6, a.c_str(), n.addr.data()) == 1) {
    n.v6 = true;
    n.prefix = prefix < 0 ? 128 : prefix;
    if (n.prefix > 128) return std::nullopt;
  } else {
    return std::nullopt;
  }
  return n;
}

bool Network::contains(std::string_view ip) const {
  std::array<uint8_t, 16> a{};
  std::string s(ip);
  if (inet_pton(v6 ? AF_INET6 : AF_INET, s.c_str(), a.data()) != 1) return false;
  int bits = prefix;
  for (size_t i = 0; bits > 0; ++i, bits -= 8) {
    uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != (addr[i] & mask)) return false;
  }
  return true;
}

bool apply_forwardfor(Headers& headers, const ForwardFor& option, std::string_view client_ip) {
  if (option.except && option.except->contains(client_ip)) return false;
  if (option.if_none && find_header(headers, option.header) != nullptr) return false;
  add_header(headers, option.header, client_ip);
  return true;
}

namespace {
size_t headers_size(const Headers& headers) {
  size_t n = 2;
  for (const Header& h : headers) n += h.name.size() + h.value.size() + 4;
  return n;
}
void append_headers(const Headers& headers, std::string& out) {
  for (const Header& h : headers) {
    out.append(h.name);
    out.append(": ");
    out.append(h.value);
    out.append("\r\n");
  }
  out.append("\r\n");
}
std::string_view version_text(Version v) {
  return v == Version::k10 ? "HTTP/1.0" : "HTTP/1.1";
}
}  // namespace

void serialize_request_head(const Head& head, std::string& out) {
  out.reserve(out.size() + head.method.size() + head.target.size() + 12 +
              headers_size(head.headers));
  out.append(head.method);
  out.push_back(' ');
  out.append(head.target);
  out.push_back(' ');
  out.append(version_text(head.version));
  out.append("\r\n");
  append_headers(head.headers, out);
}

void serialize_response_head(const Head& head, std::string& out) {
  out.reserve(out.size() + head.reason.size() + 15 + headers_size(head.headers));
  out.append(version_text(head.version));
  const int status = head.status % 1000;  // three digits, as " %03d " without printf's cost
  const char code[5] = {' ', static_cast<char>('0' + status / 100),
                        static_cast<char>('0' + status / 10 % 10),
                        static_cast<char>('0' + status % 10), ' '};
  out.append(code, sizeof code);
  out.append(head.reason);
  out.append("\r\n");
  append_headers(head.headers, out);
}

void append_chunk(std::string& out, std::string_view data) {
  if (data.empty()) return;  // a zero-size chunk would end the body
  char size[24];
  char* end = std::to_chars(size, size + sizeof size - 2, data.size(), 16).ptr;
  *end++ = '\r';
  *end++ = '\n';
  out.append(size, static_cast<size_t>(end - size));
  out.append(data);
  out.append("\r\n");
}

void append_last_chunk(std::string& out, const Headers& trailers) {
  out.append("0\r\n");
  append_headers(trailers, out);
}

}  // namespace tandem::lb::http1
