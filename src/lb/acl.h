// The ACL engine of tandem-lb: compiles haproxy `acl` lines and `if`/`unless` conditions into
// matchers at configuration time and evaluates them cheaply against one request or response.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/diagnostic.h"
#include "lb/config.h"
#include "lb/http1.h"

namespace tandem::lb {

// An IPv4 or IPv6 address as the evaluator sees it (v4 in bytes[0..3]).
struct IpAddr {
  std::array<uint8_t, 16> bytes{};
  bool v6 = false;

  static std::optional<IpAddr> parse(std::string_view text);  // "10.0.0.1", "::1"
  static IpAddr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
  std::string to_string() const;
  bool operator==(const IpAddr&) const = default;
};

// What fetches read: the heads and the connection's endpoints. Nothing is copied; the heads
// must outlive the evaluation. Header rewrites by earlier rules are seen by later conditions.
struct RequestContext {
  const http1::Head* request = nullptr;   // absent: request-side fetches find nothing
  const http1::Head* response = nullptr;  // set while http-response rules run
  IpAddr src;
  uint16_t src_port = 0;
  IpAddr dst;
  uint16_t dst_port = 0;
  bool ssl = false;  // ssl_fc: the client connection is TLS
};

// The path of a request target: without the query, and without scheme://authority for an
// absolute URI ("http://h/a?b" -> "/a"); empty for "*" or an authority-form target.
std::string_view request_path(std::string_view target);

// Where a condition is evaluated: decides which fetches can find anything (haproxy warns
// "will never match" for e.g. `path` in http-response rules or `status` in http-request).
enum class Stage : uint8_t { kRequest, kResponse };

// A sample fetch resolved at configuration time: "path", "hdr(host)", "src", "dst_port", ...
struct SampleFetch {
  enum class Kind : uint8_t {
    kPath,
    kUrl,
    kQuery,
    kMethod,
    kReqVer,
    kResVer,
    kHdr,      // comma-separated values of a header (all occurrences, or the occ-th)
    kFhdr,     // whole header lines
    kHdrCnt,   // how many comma-separated values
    kFhdrCnt,  // how many lines
    kHdrVal,   // the values as integers
    kSrc,
    kDst,
    kSrcPort,
    kDstPort,
    kStatus,
    kAlwaysTrue,
    kAlwaysFalse,
    kProtoHttp,
    kSslFc,
  };
  enum class Type : uint8_t { kStr, kInt, kIp, kBool };
  enum class Side : uint8_t { kAny, kRequest, kResponse, kAuto };  // kAuto: `hdr` follows stage

  Kind kind = Kind::kAlwaysFalse;
  Type type = Type::kBool;
  Side side = Side::kAny;
  std::string name;    // as written, without arguments
  std::string header;  // header fetches: the name
  int occurrence = 0;  // 0: all (ACLs) / last (log-format); >0: n-th; <0: from the end

  // Parses "name" or "name(args)"; on failure `error` says why.
  static std::optional<SampleFetch> parse(std::string_view text, std::string& error);

  bool available(Stage stage) const;
  // For log-format values (%[fetch]): appends the value as haproxy prints it; for headers the
  // last occurrence. False (nothing appended) when the sample does not exist.
  bool append_text(const RequestContext& ctx, std::string& out) const;
};

// One compiled ACL: every `acl NAME ...` line of a name, ORed (or one anonymous `{ ... }`).
class CompiledAcl;

// A compiled `if`/`unless` condition.
class CompiledCondition {
 public:
  bool eval(const RequestContext& ctx) const;

 private:
  friend class AclSet;
  struct Term {
    std::shared_ptr<const CompiledAcl> acl;  // shared: named ACLs serve many conditions
    bool negate = false;
  };
  bool unless_ = false;
  std::vector<std::vector<Term>> suites_;  // OR of ANDs
};

// The named ACLs of one proxy, plus haproxy's predefined ones (TRUE, LOCALHOST, METH_GET...).
class AclSet {
 public:
  AclSet();
  ~AclSet();
  AclSet(AclSet&&) noexcept;
  AclSet& operator=(AclSet&&) noexcept;

  // Validates and compiles every `acl` line of the proxy; problems go to diags at the word's
  // file:line:col. An ACL with a failed line never matches (its name stays known, so the
  // conditions that use it produce no second error).
  static AclSet compile(const Proxy& proxy, core::Diagnostics& diags);

  // Compiles a condition; `rule` names the rule in messages ("http-request deny"). Unknown
  // ACL names, a missing '}' and bad anonymous ACLs are errors; fetches that cannot find
  // anything at `stage` give haproxy's "will never match" warning.
  std::optional<CompiledCondition> compile_condition(const Condition& cond, Stage stage,
                                                     std::string_view rule,
                                                     core::Diagnostics& diags) const;

  bool defined(std::string_view name) const;  // declared in the proxy (predefined not counted)

 private:
  std::map<std::string, std::shared_ptr<const CompiledAcl>, std::less<>> named_;
  std::map<std::string, core::SourceLocation, std::less<>> first_decl_;  // for use-before-decl
};

// Every criterion accepted in `acl` lines (fetches and their derived `_beg`, `_reg`... forms),
// for documentation and did-you-mean hints.
std::vector<std::string_view> acl_criteria();
// Every predefined ACL name.
std::vector<std::string_view> predefined_acls();

}  // namespace tandem::lb
