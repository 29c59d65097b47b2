// HTTP/1.0 and 1.1 message framing for tandem-lb: incremental, strict head parsing (on llhttp)
// and body framing, haproxy's answers to bad input, and pure header rewriting helpers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::lb::http1 {

enum class Mode : uint8_t { kRequest, kResponse };
enum class Version : uint8_t { k10, k11 };

// One cause per reason, each with its own counter; see verdict() for the status answered.
// The table of statuses, measured against haproxy 2.6, is at the top of http1.cc.
enum class RejectReason : uint8_t {
  kNone,
  kBadRequestLine,             // 400: malformed request line (double space, HTTP/0.9, '#', ...)
  kUnsupportedMethod,          // 501: a well-formed method token llhttp does not know
  kBadVersion,                 // 400: not "HTTP/" DIGIT "." DIGIT
  kUnsupportedVersion,         // 505: HTTP/2.0, 3.0, PRI
  kUriTooLong,                 // 414: request line longer than Limits::max_request_line
  kHeadTooLarge,               // 400: head larger than Limits::max_head_size (tune.bufsize)
  kTooManyHeaders,             // 400: more header lines than tune.http.maxhdr allows
  kBadHeaderName,              // 400: empty name, non-token char, no colon
  kBadHeaderValue,             // 400: control character in a value
  kSpaceBeforeColon,           // 400
  kObsFold,                    // 400: a line starting with SP/HT (obsolete line folding)
  kBareCr,                     // 400: CR not followed by LF
  kBareLf,                     // 400: LF not preceded by CR (head and chunk lines)
  kNul,                        // 400
  kClAndTe,                    // 400: both Content-Length and Transfer-Encoding
  kBadTransferEncoding,        // 400: chunked not last, chunked twice, unknown-only coding
  kUnsupportedTransferCoding,  // 422: a coding other than chunked before chunked
  kBadContentLength,           // 400: not a plain decimal, overflow, list
  kConflictingContentLength,   // 400: Content-Length more than once
  kMissingHost,                // 400: HTTP/1.1 request without Host
  kDuplicateHost,              // 400: Host more than once
  kHostMismatch,               // 400: absolute-form target whose authority is not Host
  kFramingTrailer,             // 400: Content-Length, Transfer-Encoding or Host in trailers
  kBadChunk,                   // 400: bad chunk size/extension/CRLF, size overflow
  kTruncated,                  // 400: the peer closed inside a message
  kBadStatusLine,              // 502: malformed status line or status outside 100-599
  kMalformed,                  // 400: anything else llhttp refuses
  kCount_,
};
inline constexpr size_t kRejectReasonCount = static_cast<size_t>(RejectReason::kCount_);

// What to answer for a reject: requests get a 4xx/5xx; any bad response is a 502 to the client.
// Every reject closes the connection, as haproxy does: framing can no longer be trusted.
struct Verdict {
  int status = 0;
  bool close = true;
};
Verdict verdict(RejectReason reason, Mode mode);
std::string_view reject_name(RejectReason reason);

// One counter per reason (owned by a frontend or backend; the parser only adds to it).
class RejectCounters {
 public:
  void add(RejectReason r) { ++n_[static_cast<size_t>(r)]; }
  uint64_t get(RejectReason r) const { return n_[static_cast<size_t>(r)]; }
  uint64_t total() const;

 private:
  std::array<uint64_t, kRejectReasonCount> n_{};
};

struct Limits {
  size_t max_headers = 101;      // tune.http.maxhdr; like haproxy, at most max_headers-1 lines
  size_t max_head_size = 15360;  // tune.bufsize (16384) - tune.maxrewrite (1024)
  size_t max_request_line = 0;   // 0: bounded by max_head_size only (haproxy has no own limit)
};

struct Header {
  std::string name;   // original case
  std::string value;  // without leading/trailing whitespace
  bool operator==(const Header&) const = default;
};
using Headers = std::vector<Header>;

struct Head {
  // Request line, or status line.
  std::string method;
  std::string target;
  int status = 0;
  std::string reason;
  Version version = Version::k11;
  Headers headers;
  // Facts derived from the headers and, for responses, from the request method.
  std::optional<uint64_t> content_length;
  bool chunked = false;
  bool body_until_eof = false;  // response without length: the body ends at close
  bool no_body = false;         // HEAD response, 1xx, 204, 304, CONNECT, or no length in request
  bool keep_alive = true;       // per version, Connection, and framing
  bool upgrade = false;         // request: Upgrade + Connection: upgrade, or CONNECT; 101
  bool websocket = false;       // the Upgrade header names websocket
  bool expect_100_continue = false;
  std::string host;
  bool interim() const { return status >= 100 && status < 200 && status != 101; }
};

// What one feed() did. body pieces point into the fed bytes and are valid until the caller
// drops them; they are never copied or held by the parser.
struct Progress {
  size_t consumed = 0;                     // bytes used; the rest belongs to the next message
  bool head_complete = false;              // head() holds a new head
  std::span<const std::string_view> body;  // de-chunked body data, in order
  bool message_complete = false;           // the message ended; feed the rest for the next one
  bool upgrade = false;                    // message complete and what follows is not HTTP/1
  RejectReason error = RejectReason::kNone;
  bool failed() const { return error != RejectReason::kNone; }
};

// A streaming parser for one direction of one connection. It stops after each complete
// message so that pipelined requests are answered in order; feed the rest again.
class Parser {
 public:
  enum class State : uint8_t {
    kIdle,            // between messages
    kHead,            // inside a head
    kBody,            // inside a body (or its trailers)
    kUpgradePending,  // request with Upgrade/CONNECT done: wait for the server's answer
    kTunnel,          // after 101 or a 2xx to CONNECT: bytes are not HTTP any more
    kDone,            // a non-persistent message ended: nothing more is accepted
    kError,           // rejected: nothing more is accepted
  };

  explicit Parser(Mode mode, Limits limits = {}, RejectCounters* counters = nullptr);
  ~Parser();
  Parser(Parser&&) noexcept;
  Parser& operator=(Parser&&) noexcept;

  Progress feed(std::string_view data);
  // The peer closed its side: ends a close-delimited body, or reports kTruncated.
  Progress finish();

  // Response mode: the method of the request this response answers (HEAD: no body;
  // CONNECT: a 2xx opens a tunnel). Stays until changed; 1xx responses keep it.
  void expect_response_to(std::string_view method);
  // Request mode: the server did not switch protocols; parse the next request as HTTP.
  void upgrade_refused();

  // Back to the state of a new connection (counting rejects in `counters` from now on),
  // keeping the storage it has grown: for a parser reused on another connection.
  void reset(RejectCounters* counters);

  // Between messages: gives up what the parser holds (its state and the storage of the
  // last head), for a connection that goes idle; the next feed takes it back. Elsewhere it
  // does nothing.
  void release_memory();

  const Head& head() const;
  const Headers& trailers() const;
  State state() const;
  RejectReason error() const;

 private:
  struct Impl;
  // A dropped state goes to a per-thread cache, its strings' storage kept for the next
  // parser: a connection's first head then costs no allocation either.
  struct ImplRecycler {
    void operator()(Impl* impl) const;
  };
  Impl& impl();  // takes a state when released

  std::unique_ptr<Impl, ImplRecycler> impl_;
  Limits limits_;
  RejectCounters* counters_;
  Mode mode_;
};

// ---- header helpers (pure; names compare case-insensitively, as in haproxy's rules) ----

// ASCII case-insensitive equality of n bytes.
bool iequals_bytes(const char* a, const char* b, size_t n);
// Inline for the length check, which settles most comparisons of header names.
inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && iequals_bytes(a.data(), b.data(), a.size());
}
// True when the comma-separated list (Connection, Upgrade, ...) holds the token.
bool has_token(std::string_view list, std::string_view token);
const Header* find_header(const Headers& headers, std::string_view name);
size_t count_headers(const Headers& headers, std::string_view name);
// http-request add-header: appended, existing ones kept.
void add_header(Headers& headers, std::string_view name, std::string_view value);
// http-request set-header: every occurrence replaced by one at the end.
void set_header(Headers& headers, std::string_view name, std::string_view value);
// http-request del-header: returns how many were removed.
size_t del_header(Headers& headers, std::string_view name);

struct HopByHopOptions {
  bool keep_upgrade = false;            // tunnelling: keep Upgrade and "Connection: upgrade"
  bool keep_transfer_encoding = false;  // forwarding the body's framing unchanged
};
// Removes Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade, Transfer-Encoding
// and every header named in Connection (RFC 9110 7.6.1).
void remove_hop_by_hop(Headers& headers, HopByHopOptions options = {});

// An IPv4 or IPv6 network for `option forwardfor except`.
struct Network {
  std::array<uint8_t, 16> addr{};
  int prefix = 0;
  bool v6 = false;
  static std::optional<Network> parse(std::string_view text);  // "10.0.0.0/8", "::1", ...
  bool contains(std::string_view ip) const;
};

struct ForwardFor {
  std::string header = "X-Forwarded-For";
  std::optional<Network> except;
  bool if_none = false;
};
// option forwardfor: adds one header line with the client address (haproxy adds a new line
// rather than extending an existing one). Returns whether it added.
bool apply_forwardfor(Headers& headers, const ForwardFor& option, std::string_view client_ip);

// Heads back to bytes, in original order and case: what an upstream or a client accepts.
void serialize_request_head(const Head& head, std::string& out);
void serialize_response_head(const Head& head, std::string& out);
// Chunked re-framing of a streamed body.
void append_chunk(std::string& out, std::string_view data);
void append_last_chunk(std::string& out, const Headers& trailers = {});

}  // namespace tandem::lb::http1
