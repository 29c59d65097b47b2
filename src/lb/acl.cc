// The ACL engine: haproxy's criteria, flags and match methods compiled into matchers, and
// conditions over named, predefined and anonymous ACLs.
#include "lb/acl.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <regex.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <span>

namespace tandem::lb {

using conf::Word;
using core::Diagnostics;

// ---------------------------------------------------------------------------------------------
// Addresses.

IpAddr IpAddr::v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  IpAddr ip;
  ip.bytes[0] = a;
  ip.bytes[1] = b;
  ip.bytes[2] = c;
  ip.bytes[3] = d;
  return ip;
}

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
  char buf[64];
  if (text.empty() || text.size() >= sizeof(buf)) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddr ip;
  if (inet_pton(AF_INET, buf, ip.bytes.data()) == 1) return ip;
  if (inet_pton(AF_INET6, buf, ip.bytes.data()) == 1) {
    ip.v6 = true;
    return ip;
  }
  return std::nullopt;
}

std::string IpAddr::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  if (inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof(buf)) == nullptr) return {};
  return buf;
}

namespace {

// ::ffff:a.b.c.d <-> a.b.c.d, so that v4 networks match v4-mapped clients and back, as haproxy.
bool v4_mapped(const IpAddr& ip) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return ip.v6 && std::memcmp(ip.bytes.data(), kPrefix, 12) == 0;
}

bool prefix_equal(const uint8_t* a, const uint8_t* b, int bits) {
  int full = bits / 8;
  if (std::memcmp(a, b, static_cast<size_t>(full)) != 0) return false;
  int rest = bits % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

struct Net {
  IpAddr addr;
  int prefix = 32;

  bool contains(const IpAddr& ip) const {
    if (addr.v6 == ip.v6) return prefix_equal(addr.bytes.data(), ip.bytes.data(), prefix);
    if (!addr.v6 && v4_mapped(ip)) return prefix_equal(addr.bytes.data(), &ip.bytes[12], prefix);
    if (addr.v6 && !ip.v6) {  // a v6 pattern against a v4 client: compare as ::ffff:a.b.c.d
      IpAddr m;
      m.v6 = true;
      m.bytes[10] = m.bytes[11] = 0xff;
      std::memcpy(&m.bytes[12], ip.bytes.data(), 4);
      return prefix_equal(addr.bytes.data(), m.bytes.data(), prefix);
    }
    return false;
  }
};

std::optional<Net> parse_net(std::string_view text) {
  Net n;
  std::string_view host = text, len;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    host = text.substr(0, slash);
    len = text.substr(slash + 1);
    if (len.empty()) return std::nullopt;
  }
  auto ip = IpAddr::parse(host);
  if (!ip) return std::nullopt;
  n.addr = *ip;
  n.prefix = ip->v6 ? 128 : 32;
  if (len.empty()) return n;
  int bits = 0;
  auto [p, ec] = std::from_chars(len.data(), len.data() + len.size(), bits);
  if (ec == std::errc() && p == len.data() + len.size()) {
    if (bits < 0 || bits > n.prefix) return std::nullopt;
    n.prefix = bits;
    return n;
  }
  // haproxy also takes a dotted netmask for IPv4: 10.0.0.0/255.0.0.0.
  auto mask = IpAddr::parse(len);
  if (ip->v6 || !mask || mask->v6) return std::nullopt;
  uint32_t m = (uint32_t{mask->bytes[0]} << 24) | (uint32_t{mask->bytes[1]} << 16) |
               (uint32_t{mask->bytes[2]} << 8) | mask->bytes[3];
  int ones = std::countl_one(m);
  if (ones < 32 && (m << ones) != 0) return std::nullopt;  // not contiguous
  n.prefix = ones;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Small text helpers.

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equal_n(const char* a, const char* b, size_t n, bool icase) {
  if (!icase) return std::memcmp(a, b, n) == 0;
  for (size_t i = 0; i < n; ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Like haproxy's strl2ic(): leading decimal digits with an optional sign; 0 when none.
int64_t leading_int(std::string_view s) {
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
  int64_t v = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
    if (v > (INT64_MAX - 9) / 10) break;
    v = v * 10 + (s[i] - '0');
  }
  return neg ? -v : v;
}

std::optional<int64_t> parse_int(std::string_view s) {
  int64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::optional<std::string_view> closest(std::string_view unknown,
                                        const std::vector<std::string_view>& names) {
  const size_t limit = unknown.size() <= 4 ? 1 : 2;
  std::optional<std::string_view> best;
  size_t best_d = limit + 1;
  for (auto n : names) {
    size_t d = edit_distance(unknown, n);
    if (d < best_d) {
      best_d = d;
      best = n;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// The fetch table.

using Kind = SampleFetch::Kind;
using Type = SampleFetch::Type;
using Side = SampleFetch::Side;

enum class ArgUse : uint8_t { kNone, kHeader };

struct FetchInfo {
  std::string_view name;
  Kind kind;
  Type type;
  Side side;
  ArgUse arg = ArgUse::kNone;
};

constexpr FetchInfo kFetches[] = {
    {"path", Kind::kPath, Type::kStr, Side::kRequest},
    {"url", Kind::kUrl, Type::kStr, Side::kRequest},
    {"query", Kind::kQuery, Type::kStr, Side::kRequest},
    {"method", Kind::kMethod, Type::kStr, Side::kRequest},
    {"req.ver", Kind::kReqVer, Type::kStr, Side::kRequest},
    {"req_ver", Kind::kReqVer, Type::kStr, Side::kRequest},
    {"res.ver", Kind::kResVer, Type::kStr, Side::kResponse},
    {"resp_ver", Kind::kResVer, Type::kStr, Side::kResponse},
    {"hdr", Kind::kHdr, Type::kStr, Side::kAuto, ArgUse::kHeader},
    {"req.hdr", Kind::kHdr, Type::kStr, Side::kRequest, ArgUse::kHeader},
    {"res.hdr", Kind::kHdr, Type::kStr, Side::kResponse, ArgUse::kHeader},
    {"shdr", Kind::kHdr, Type::kStr, Side::kResponse, ArgUse::kHeader},
    {"req.fhdr", Kind::kFhdr, Type::kStr, Side::kRequest, ArgUse::kHeader},
    {"res.fhdr", Kind::kFhdr, Type::kStr, Side::kResponse, ArgUse::kHeader},
    {"hdr_cnt", Kind::kHdrCnt, Type::kInt, Side::kAuto, ArgUse::kHeader},
    {"req.hdr_cnt", Kind::kHdrCnt, Type::kInt, Side::kRequest, ArgUse::kHeader},
    {"res.hdr_cnt", Kind::kHdrCnt, Type::kInt, Side::kResponse, ArgUse::kHeader},
    {"shdr_cnt", Kind::kHdrCnt, Type::kInt, Side::kResponse, ArgUse::kHeader},
    {"req.fhdr_cnt", Kind::kFhdrCnt, Type::kInt, Side::kRequest, ArgUse::kHeader},
    {"res.fhdr_cnt", Kind::kFhdrCnt, Type::kInt, Side::kResponse, ArgUse::kHeader},
    {"hdr_val", Kind::kHdrVal, Type::kInt, Side::kAuto, ArgUse::kHeader},
    {"req.hdr_val", Kind::kHdrVal, Type::kInt, Side::kRequest, ArgUse::kHeader},
    {"res.hdr_val", Kind::kHdrVal, Type::kInt, Side::kResponse, ArgUse::kHeader},
    {"shdr_val", Kind::kHdrVal, Type::kInt, Side::kResponse, ArgUse::kHeader},
    {"src", Kind::kSrc, Type::kIp, Side::kAny},
    {"dst", Kind::kDst, Type::kIp, Side::kAny},
    {"src_port", Kind::kSrcPort, Type::kInt, Side::kAny},
    {"dst_port", Kind::kDstPort, Type::kInt, Side::kAny},
    {"status", Kind::kStatus, Type::kInt, Side::kResponse},
    {"always_true", Kind::kAlwaysTrue, Type::kBool, Side::kAny},
    {"always_false", Kind::kAlwaysFalse, Type::kBool, Side::kAny},
    {"req.proto_http", Kind::kProtoHttp, Type::kBool, Side::kRequest},
    {"req_proto_http", Kind::kProtoHttp, Type::kBool, Side::kRequest},
    {"ssl_fc", Kind::kSslFc, Type::kBool, Side::kAny},
};

const FetchInfo* find_fetch(std::string_view name) {
  for (const auto& f : kFetches)
    if (f.name == name) return &f;
  return nullptr;
}

// kMeth: `method`'s own matching (see match_method).
enum class Match : uint8_t {
  kFound,
  kBool,
  kInt,
  kIp,
  kStr,
  kBeg,
  kEnd,
  kSub,
  kReg,
  kDir,
  kDom,
  kLen,
  kMeth
};

constexpr std::pair<std::string_view, Match> kMatchNames[] = {
    {"found", Match::kFound}, {"bool", Match::kBool}, {"int", Match::kInt}, {"ip", Match::kIp},
    {"str", Match::kStr},     {"beg", Match::kBeg},   {"end", Match::kEnd}, {"sub", Match::kSub},
    {"reg", Match::kReg},     {"dir", Match::kDir},   {"dom", Match::kDom}, {"len", Match::kLen},
};

// ACL keywords that are a fetch plus a match method (haproxy's acl_kws).
struct DerivedInfo {
  std::string_view name;
  std::string_view fetch;
  Match match;
};

const std::vector<DerivedInfo>& derived() {
  static const std::vector<DerivedInfo> table = [] {
    std::vector<DerivedInfo> t;
    constexpr std::pair<std::string_view, Match> kSuffixes[] = {
        {"_beg", Match::kBeg}, {"_dir", Match::kDir}, {"_dom", Match::kDom}, {"_end", Match::kEnd},
        {"_len", Match::kLen}, {"_reg", Match::kReg}, {"_sub", Match::kSub}};
    // Static storage for the generated names: string_views point into it.
    static std::vector<std::string> names;
    constexpr std::pair<std::string_view, std::string_view> kBases[] = {
        {"path", "path"}, {"url", "url"}, {"hdr", "hdr"}, {"shdr", "res.hdr"}};
    names.reserve(std::size(kBases) * std::size(kSuffixes));
    for (auto [base, fetch] : kBases) {
      for (auto [suffix, m] : kSuffixes) {
        names.push_back(std::string(base) + std::string(suffix));
        t.push_back({names.back(), fetch, m});
      }
    }
    t.push_back({"resp.ver", "res.ver", Match::kStr});
    return t;
  }();
  return table;
}

const DerivedInfo* find_derived(std::string_view name) {
  for (const auto& d : derived())
    if (d.name == name) return &d;
  return nullptr;
}

std::string_view type_name(Type t) {
  switch (t) {
    case Type::kStr:
      return "a string";
    case Type::kInt:
      return "an integer";
    case Type::kIp:
      return "an address";
    case Type::kBool:
      return "a boolean";
  }
  return "?";
}

}  // namespace

std::vector<std::string_view> acl_criteria() {
  std::vector<std::string_view> out;
  for (const auto& f : kFetches) out.push_back(f.name);
  for (const auto& d : derived()) out.push_back(d.name);
  return out;
}

// ---------------------------------------------------------------------------------------------
// SampleFetch.

std::string_view request_path(std::string_view target) {
  if (target.empty() || target[0] != '/') {
    // absolute-form: skip "scheme://authority"; anything else ("*", authority-form) has none.
    auto scheme = target.find("://");
    if (scheme == std::string_view::npos) return {};
    auto slash = target.find('/', scheme + 3);
    if (slash == std::string_view::npos) return {};
    target.remove_prefix(slash);
  }
  return target.substr(0, target.find('?'));
}

std::optional<SampleFetch> SampleFetch::parse(std::string_view text, std::string& error) {
  std::string_view name = text, args;
  bool has_args = false;
  if (auto open = text.find('('); open != std::string_view::npos) {
    if (text.back() != ')') {
      error = fmt::format("missing ')' after the arguments of '{}'", text.substr(0, open));
      return std::nullopt;
    }
    name = text.substr(0, open);
    args = text.substr(open + 1, text.size() - open - 2);
    has_args = true;
  }
  const FetchInfo* info = find_fetch(name);
  if (info == nullptr) {
    error = fmt::format("unknown fetch '{}'", name);
    return std::nullopt;
  }
  SampleFetch f;
  f.kind = info->kind;
  f.type = info->type;
  f.side = info->side;
  f.name = std::string(name);
  if (info->arg == ArgUse::kNone) {
    if (has_args && !args.empty()) {
      error = fmt::format("'{}' takes no arguments", name);
      return std::nullopt;
    }
    return f;
  }
  std::string_view header = args, occ;
  if (auto comma = args.find(','); comma != std::string_view::npos) {
    header = args.substr(0, comma);
    occ = args.substr(comma + 1);
  }
  header = trim(header);
  if (header.empty()) {
    error = fmt::format("'{}' needs a header name, e.g. '{}(host)'", name, name);
    return std::nullopt;
  }
  f.header = std::string(header);
  if (!occ.empty()) {
    if (f.kind == Kind::kHdrCnt || f.kind == Kind::kFhdrCnt) {
      error = fmt::format("'{}' takes only a header name", name);
      return std::nullopt;
    }
    auto v = parse_int(trim(occ));
    if (!v || *v < -1000 || *v > 1000) {
      error = fmt::format("invalid occurrence '{}' in '{}'", occ, text);
      return std::nullopt;
    }
    f.occurrence = static_cast<int>(*v);
  }
  return f;
}

bool SampleFetch::available(Stage stage) const {
  switch (side) {
    case Side::kRequest:
      return stage == Stage::kRequest;
    case Side::kResponse:
      return stage == Stage::kResponse;
    default:
      return true;
  }
}

namespace {

struct Value {
  Type type = Type::kStr;
  std::string_view str;
  int64_t num = 0;
  const IpAddr* ip = nullptr;
};

const http1::Head* head_for(const SampleFetch& f, const RequestContext& ctx) {
  switch (f.side) {
    // A request-side fetch finds nothing while the response is processed ("never matches").
    case Side::kRequest:
      return ctx.response != nullptr ? nullptr : ctx.request;
    case Side::kResponse:
      return ctx.response;
    case Side::kAuto:
      return ctx.response != nullptr ? ctx.response : ctx.request;
    case Side::kAny:
      return ctx.request;
  }
  return nullptr;
}

// Calls f(value) for each comma-separated value (or whole line when `full`) of the header,
// in order; stops when f returns true.
template <class F>
bool each_header_value(const http1::Headers& headers, std::string_view name, bool full, F&& f) {
  for (const auto& h : headers) {
    if (!http1::iequals(h.name, name)) continue;
    if (full) {
      if (f(std::string_view(h.value))) return true;
      continue;
    }
    std::string_view rest = h.value;
    while (true) {
      auto comma = rest.find(',');
      if (f(trim(rest.substr(0, comma)))) return true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return false;
}

std::string_view version_text(http1::Version v) {
  return v == http1::Version::k10 ? "1.0" : "1.1";
}

// Every sample of a fetch, ACL style: all occurrences of a header unless an occurrence was
// given. f(Value) returns true to stop; returns whether it stopped.
template <class F>
bool each_sample(const SampleFetch& fetch, const RequestContext& ctx, F&& f,
                 int occurrence_override = 0) {
  auto str = [&](std::string_view s) { return f(Value{Type::kStr, s, 0, nullptr}); };
  auto num = [&](int64_t n) { return f(Value{Type::kInt, {}, n, nullptr}); };
  auto boolean = [&](bool b) { return f(Value{Type::kBool, {}, b ? 1 : 0, nullptr}); };
  switch (fetch.kind) {
    case Kind::kSrc:
      return f(Value{Type::kIp, {}, 0, &ctx.src});
    case Kind::kDst:
      return f(Value{Type::kIp, {}, 0, &ctx.dst});
    case Kind::kSrcPort:
      return num(ctx.src_port);
    case Kind::kDstPort:
      return num(ctx.dst_port);
    case Kind::kAlwaysTrue:
      return boolean(true);
    case Kind::kAlwaysFalse:
      return boolean(false);
    case Kind::kSslFc:
      return boolean(ctx.ssl);
    default:
      break;
  }
  const http1::Head* head = head_for(fetch, ctx);
  if (head == nullptr) return false;
  switch (fetch.kind) {
    case Kind::kPath: {
      auto p = request_path(head->target);
      return !p.empty() && str(p);
    }
    case Kind::kUrl:
      return !head->target.empty() && str(head->target);
    case Kind::kQuery: {
      auto q = std::string_view(head->target).find('?');
      return q != std::string_view::npos && str(std::string_view(head->target).substr(q + 1));
    }
    case Kind::kMethod:
      return !head->method.empty() && str(head->method);
    case Kind::kReqVer:
    case Kind::kResVer:
      return str(version_text(head->version));
    case Kind::kStatus:
      return head->status != 0 && num(head->status);
    case Kind::kProtoHttp:
      return boolean(true);
    case Kind::kHdrCnt:
    case Kind::kFhdrCnt: {
      int64_t n = 0;
      each_header_value(head->headers, fetch.header, fetch.kind == Kind::kFhdrCnt,
                        [&](std::string_view) { return ++n, false; });
      return num(n);
    }
    case Kind::kHdr:
    case Kind::kFhdr:
    case Kind::kHdrVal: {
      const bool full = fetch.kind == Kind::kFhdr;
      auto emit = [&](std::string_view v) {
        return fetch.kind == Kind::kHdrVal ? num(leading_int(v)) : str(v);
      };
      const int occurrence = occurrence_override != 0 ? occurrence_override : fetch.occurrence;
      if (occurrence == 0) return each_header_value(head->headers, fetch.header, full, emit);
      int want = occurrence;
      if (want < 0) {
        int n = 0;
        each_header_value(head->headers, fetch.header, full,
                          [&](std::string_view) { return ++n, false; });
        want = n + want + 1;
        if (want <= 0) return false;
      }
      int i = 0;
      std::string_view found;
      bool ok = each_header_value(head->headers, fetch.header, full, [&](std::string_view v) {
        found = v;
        return ++i == want;
      });
      return ok && emit(found);
    }
    default:
      return false;
  }
}

}  // namespace

bool SampleFetch::append_text(const RequestContext& ctx, std::string& out) const {
  // Outside ACLs haproxy takes the last occurrence of a header.
  const int occ = occurrence == 0 ? -1 : occurrence;
  bool found = false;
  each_sample(
      *this, ctx,
      [&](const Value& v) {
        found = true;
        switch (v.type) {
          case Type::kStr:
            out += v.str;
            break;
          case Type::kInt:
          case Type::kBool:
            out += std::to_string(v.num);
            break;
          case Type::kIp:
            out += v.ip->to_string();
            break;
        }
        return true;
      },
      occ);
  return found;
}

// ---------------------------------------------------------------------------------------------
// Compiled ACLs.

namespace acl_detail {

class Regex {
 public:
  Regex() = default;
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  ~Regex() {
    if (compiled_) regfree(&re_);
  }
  // Returns an error message, empty on success.
  std::string compile(const std::string& pattern, bool icase) {
    int rc = regcomp(&re_, pattern.c_str(), REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0));
    if (rc != 0) {
      char buf[256];
      regerror(rc, &re_, buf, sizeof(buf));
      return buf;
    }
    compiled_ = true;
    return {};
  }
  bool match(std::string_view s) const {
    // REG_STARTEND: glibc matches within [so, eo) with no NUL needed, so views match in place.
    regmatch_t m[1];
    m[0].rm_so = 0;
    m[0].rm_eo = static_cast<regoff_t>(s.size());
    const char* p = s.data() != nullptr ? s.data() : "";
    return regexec(&re_, p, 1, m, REG_STARTEND) == 0;
  }

 private:
  regex_t re_{};
  bool compiled_ = false;
};

struct IntRange {
  int64_t lo = INT64_MIN, hi = INT64_MAX;
};

struct Expr {
  SampleFetch fetch;
  Match match = Match::kStr;
  bool icase = false;
  std::vector<std::string> strs;
  std::vector<std::unique_ptr<Regex>> regexes;
  std::vector<IntRange> ints;
  std::vector<Net> nets;
  core::SourceLocation where;  // the criterion
};

}  // namespace acl_detail

class CompiledAcl {
 public:
  std::string name;  // empty: anonymous
  std::vector<acl_detail::Expr> exprs;
  bool failed = false;  // a line had errors: never matches

  bool eval(const RequestContext& ctx) const;
};

namespace {

using acl_detail::Expr;
using acl_detail::IntRange;

bool match_word(std::string_view s, std::string_view pat, bool icase, std::string_view delims) {
  auto delim = [&](char c) { return delims.find(c) != std::string_view::npos; };
  while (!pat.empty() && delim(pat.front())) pat.remove_prefix(1);
  while (!pat.empty() && delim(pat.back())) pat.remove_suffix(1);
  if (pat.empty() || pat.size() > s.size()) return false;
  bool may_match = true;
  for (size_t i = 0; i + pat.size() <= s.size(); ++i) {
    if (delim(s[i])) {
      may_match = true;
      continue;
    }
    if (!may_match) continue;
    if (equal_n(s.data() + i, pat.data(), pat.size(), icase) &&
        (i + pat.size() == s.size() || delim(s[i + pat.size()])))
      return true;
    may_match = false;
  }
  return false;
}

// haproxy knows eight methods by name, case-sensitively: a known method matches only the same
// pattern; other methods ("get", "PURGE") compare as strings, with -i honoured. Checked with
// haproxy 2.6: `method -i get` does not match GET but matches "get"; `method get` misses GET.
bool known_method(std::string_view m) {
  for (std::string_view k : {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "CONNECT", "TRACE"})
    if (m == k) return true;
  return false;
}

bool match_method(const Expr& e, std::string_view s) {
  const bool known = known_method(s);
  for (const auto& p : e.strs) {
    if (known) {
      if (p == s) return true;
    } else if (!known_method(p) && p.size() == s.size() &&
               equal_n(p.data(), s.data(), s.size(), e.icase)) {
      return true;
    }
  }
  return false;
}

bool match_str(const Expr& e, std::string_view s) {
  switch (e.match) {
    case Match::kMeth:
      return match_method(e, s);
    case Match::kStr:
      for (const auto& p : e.strs)
        if (p.size() == s.size() && equal_n(p.data(), s.data(), s.size(), e.icase)) return true;
      return false;
    case Match::kBeg:
      for (const auto& p : e.strs)
        if (p.size() <= s.size() && equal_n(p.data(), s.data(), p.size(), e.icase)) return true;
      return false;
    case Match::kEnd:
      for (const auto& p : e.strs)
        if (p.size() <= s.size() &&
            equal_n(p.data(), s.data() + s.size() - p.size(), p.size(), e.icase))
          return true;
      return false;
    case Match::kSub:
      for (const auto& p : e.strs) {
        if (p.empty()) return true;
        for (size_t i = 0; i + p.size() <= s.size(); ++i)
          if (equal_n(p.data(), s.data() + i, p.size(), e.icase)) return true;
      }
      return false;
    case Match::kReg:
      for (const auto& r : e.regexes)
        if (r->match(s)) return true;
      return false;
    case Match::kDir:
      for (const auto& p : e.strs)
        if (match_word(s, p, e.icase, "/?")) return true;
      return false;
    case Match::kDom:
      for (const auto& p : e.strs)
        if (match_word(s, p, e.icase, "/?.:")) return true;
      return false;
    default:
      return false;
  }
}

bool in_ranges(const Expr& e, int64_t v) {
  for (const auto& r : e.ints)
    if (v >= r.lo && v <= r.hi) return true;
  return false;
}

bool match_value(const Expr& e, const Value& v) {
  switch (e.match) {
    case Match::kFound:
      return true;
    case Match::kBool:
      return v.type == Type::kStr ? !v.str.empty() : (v.type == Type::kIp || v.num != 0);
    case Match::kInt:
      // haproxy casts a string by its leading digits ("7x" is 7, measured); an empty one fails.
      if (v.type == Type::kStr) return !v.str.empty() && in_ranges(e, leading_int(v.str));
      return v.type != Type::kIp && in_ranges(e, v.num);
    case Match::kLen: {
      if (v.type == Type::kStr) return in_ranges(e, static_cast<int64_t>(v.str.size()));
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof(buf), v.num);
      return in_ranges(e, r.ptr - buf);
    }
    case Match::kIp: {
      std::optional<IpAddr> parsed;
      const IpAddr* ip = v.ip;
      if (v.type == Type::kStr) {
        parsed = IpAddr::parse(v.str);
        ip = parsed ? &*parsed : nullptr;
      }
      if (ip == nullptr) return false;
      for (const auto& n : e.nets)
        if (n.contains(*ip)) return true;
      return false;
    }
    default:
      break;
  }
  // String methods on other types match their text, as haproxy casts them.
  if (v.type == Type::kStr) return match_str(e, v.str);
  if (v.type == Type::kIp) {
    char buf[INET6_ADDRSTRLEN];
    if (inet_ntop(v.ip->v6 ? AF_INET6 : AF_INET, v.ip->bytes.data(), buf, sizeof(buf)) == nullptr)
      return false;
    return match_str(e, buf);
  }
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v.num);
  return match_str(e, std::string_view(buf, static_cast<size_t>(r.ptr - buf)));
}

}  // namespace

bool CompiledAcl::eval(const RequestContext& ctx) const {
  if (failed) return false;
  for (const auto& e : exprs) {
    if (each_sample(e.fetch, ctx, [&](const Value& v) { return match_value(e, v); })) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Parsing an ACL expression: CRITERION [FLAGS] [VALUES...].

namespace {

// PCRE-only syntax that glibc's POSIX regex would silently read differently ("\d" is "d").
std::string pcre_only(const std::string& re) {
  for (size_t i = 0; i + 1 < re.size(); ++i) {
    char c = re[i], n = re[i + 1];
    if (c == '\\') {
      if (std::isalpha(static_cast<unsigned char>(n)) &&
          std::string_view("wWsSbB").find(n) == std::string_view::npos)
        return fmt::format("'\\{}'", n);
      ++i;  // an escaped character
      continue;
    }
    if (c == '(' && n == '?') return "'(?'";
    if ((c == '*' || c == '+' || c == '?' || c == '}') && n == '?')
      return fmt::format("the lazy quantifier '{}?'", c);
  }
  return {};
}

std::optional<Expr> parse_expr(std::span<const Word> words, Diagnostics& d, bool& never_matches) {
  never_matches = false;
  const Word& crit = words[0];
  std::string_view text = crit.text;
  std::string_view base = text.substr(0, text.find('('));
  std::string_view args = base.size() < text.size() ? text.substr(base.size()) : "";
  Expr e;
  e.where = crit.where;
  std::optional<Match> match;
  std::string error;
  std::optional<SampleFetch> fetch;
  if (const DerivedInfo* dv = find_derived(base)) {
    fetch = SampleFetch::parse(std::string(dv->fetch) + std::string(args), error);
    match = dv->match;
    if (fetch) fetch->name = std::string(base);
  } else if (find_fetch(base) != nullptr) {
    fetch = SampleFetch::parse(text, error);
  } else {
    // A close name is most likely a typo; anything else is one of haproxy's many other
    // fetches (cook, url_param, ssl_*, sc_*, req.body, ...), which tandem-lb lacks.
    std::string hint;
    if (auto s = closest(base, acl_criteria())) {
      hint = fmt::format("did you mean '{}'?", *s);
    } else {
      hint =
          "not supported by tandem-lb; criteria: path, url, query, method, hdr(NAME) and "
          "req./res. forms, src, dst, src_port, dst_port, status, ssl_fc, with _beg, _end, "
          "_sub, _reg, _dir, _dom, _len, _cnt, _val suffixes";
    }
    d.error(crit.where, fmt::format("unknown ACL criterion '{}'", base), std::move(hint));
    return std::nullopt;
  }
  if (!fetch) {
    d.error(crit.where, error);
    return std::nullopt;
  }
  e.fetch = std::move(*fetch);

  // Flags, while a word starts with '-'; "--" ends them.
  size_t i = 1;
  bool explicit_end = false;
  for (; i < words.size(); ++i) {
    const std::string& w = words[i].text;
    if (w.empty() || w[0] != '-') break;
    if (w == "--") {
      explicit_end = true;
      ++i;
      break;
    }
    if (w == "-i") {
      e.icase = true;
    } else if (w == "-n") {
      // no DNS resolution: tandem-lb never resolves patterns anyway
    } else if (w == "-m") {
      if (i + 1 >= words.size()) {
        d.error(words[i].where, "'-m' needs a match method",
                "methods: found, bool, int, ip, str, beg, end, sub, reg, dir, dom, len");
        return std::nullopt;
      }
      const std::string& m = words[++i].text;
      auto it = std::find_if(std::begin(kMatchNames), std::end(kMatchNames),
                             [&](const auto& p) { return p.first == m; });
      if (it == std::end(kMatchNames)) {
        d.error(words[i].where, fmt::format("unknown match method '{}'", m),
                m == "bin" ? "'-m bin' is not supported by tandem-lb"
                           : "methods: found, bool, int, ip, str, beg, end, sub, reg, dir, dom, "
                             "len");
        return std::nullopt;
      }
      match = it->second;
    } else if (w == "-f" || w == "-M" || w == "-u") {
      d.error(words[i].where, fmt::format("ACL flag '{}' is not supported by tandem-lb", w),
              w == "-f" ? "write the values on the acl line (several lines with one name add up)"
                        : "remove it");
      return std::nullopt;
    } else {
      d.error(words[i].where, fmt::format("'{}' is not a valid ACL flag", w),
              "flags: -i, -m <METHOD>, -n; write '--' before a value that starts with '-'");
      return std::nullopt;
    }
  }
  if (!match && e.fetch.kind == Kind::kMethod) match = Match::kMeth;
  if (!match) {
    switch (e.fetch.type) {
      case Type::kStr:
        match = Match::kStr;
        break;
      case Type::kInt:
        match = Match::kInt;
        break;
      case Type::kIp:
        match = Match::kIp;
        break;
      case Type::kBool:
        match = Match::kBool;
        break;
    }
  }
  e.match = *match;
  if (e.match == Match::kIp && (e.fetch.type == Type::kInt || e.fetch.type == Type::kBool)) {
    d.error(crit.where,
            fmt::format("'-m ip' cannot match '{}', {}", e.fetch.name, type_name(e.fetch.type)));
    return std::nullopt;
  }
  if (e.match == Match::kInt && e.fetch.type == Type::kIp) {
    d.error(crit.where, fmt::format("'-m int' cannot match '{}', an address", e.fetch.name));
    return std::nullopt;
  }

  auto values = words.subspan(i);
  if (e.match == Match::kFound || e.match == Match::kBool) {
    if (!values.empty()) {
      d.warning(values[0].where,
                fmt::format("values are ignored with '-m {}'",
                            e.match == Match::kFound ? "found" : "bool"),
                "remove them");
    }
    return e;
  }
  if (values.empty()) {
    if (!explicit_end) {
      d.warning(crit.where,
                fmt::format("no value to match against was given, so this ACL will never match"),
                "write '--' if this is intended, '-m found' to test existence, '-m bool' to "
                "test an integer as a boolean");
    }
    never_matches = true;
    return e;
  }
  // Integer operators (eq ge gt le lt) apply to the values that follow, as in haproxy.
  std::string_view op;
  for (const Word& v : values) {
    switch (e.match) {
      case Match::kInt:
      case Match::kLen: {
        if (v.text == "eq" || v.text == "ge" || v.text == "gt" || v.text == "le" ||
            v.text == "lt") {
          op = v.text;
          continue;
        }
        IntRange r;
        std::string_view t = v.text;
        auto colon = t.find(':');
        bool ok = true;
        if (colon == std::string_view::npos) {
          auto n = parse_int(t);
          ok = n.has_value();
          if (ok) {
            if (op.empty() || op == "eq")
              r = {*n, *n};
            else if (op == "ge")
              r = {*n, INT64_MAX};
            else if (op == "gt")  // an empty range past the largest value: never matches
              r = *n == INT64_MAX ? IntRange{1, 0} : IntRange{*n + 1, INT64_MAX};
            else if (op == "le")
              r = {INT64_MIN, *n};
            else
              r = *n == INT64_MIN ? IntRange{1, 0} : IntRange{INT64_MIN, *n - 1};
          }
        } else {
          auto lo = t.substr(0, colon), hi = t.substr(colon + 1);
          auto l = lo.empty() ? std::optional<int64_t>(INT64_MIN) : parse_int(lo);
          auto h = hi.empty() ? std::optional<int64_t>(INT64_MAX) : parse_int(hi);
          ok = l && h && !(lo.empty() && hi.empty()) && *l <= *h;
          if (ok) r = {*l, *h};
        }
        if (!ok) {
          d.error(v.where,
                  fmt::format("'{}' is not a valid number{}", v.text,
                              colon == std::string_view::npos ? "" : " range"),
                  "write N, N:M, N: or :M, or an operator (eq, ge, gt, le, lt) and N");
          return std::nullopt;
        }
        e.ints.push_back(r);
        break;
      }
      case Match::kIp: {
        auto n = parse_net(v.text);
        if (!n) {
          bool name = !v.text.empty() && std::isalpha(static_cast<unsigned char>(v.text[0])) &&
                      v.text.find(':') == std::string::npos;
          d.error(v.where, fmt::format("'{}' is not a valid IPv4 or IPv6 address", v.text),
                  name ? "tandem-lb does not resolve host names in ACLs; write an address"
                       : "write an address or a network: 10.0.0.0/8, 10.0.0.0/255.0.0.0, "
                         "2001:db8::/32");
          return std::nullopt;
        }
        e.nets.push_back(*n);
        break;
      }
      case Match::kReg: {
        if (auto p = pcre_only(v.text); !p.empty()) {
          d.error(
              v.where,
              fmt::format("regex '{}' uses {}, which POSIX regular expressions lack", v.text, p),
              "tandem-lb uses POSIX extended regex: write [0-9] for \\d, and no (?...) "
              "groups or lazy quantifiers");
          return std::nullopt;
        }
        auto re = std::make_unique<acl_detail::Regex>();
        if (auto err = re->compile(v.text, e.icase); !err.empty()) {
          d.error(v.where, fmt::format("regex '{}' is invalid: {}", v.text, err));
          return std::nullopt;
        }
        e.regexes.push_back(std::move(re));
        break;
      }
      default:
        e.strs.push_back(v.text);
        break;
    }
  }
  if ((e.match == Match::kInt || e.match == Match::kLen) && e.ints.empty()) {
    d.error(values.back().where, fmt::format("missing a number after '{}'", op));
    return std::nullopt;
  }
  return e;
}

std::shared_ptr<const CompiledAcl> compile_one(std::string name, std::span<const Word> words,
                                               Diagnostics& d) {
  bool never = false;
  auto acl = std::make_shared<CompiledAcl>();
  acl->name = std::move(name);
  auto e = parse_expr(words, d, never);
  if (!e) return nullptr;
  acl->exprs.push_back(std::move(*e));
  return acl;
}

struct Predefined {
  std::string_view name;
  std::string_view words;  // space-separated
};

constexpr Predefined kPredefined[] = {
    {"FALSE", "always_false"},
    {"HTTP", "req.proto_http"},
    {"HTTP_1.0", "req.ver 1.0"},
    {"HTTP_1.1", "req.ver 1.1"},
    {"HTTP_2.0", "req.ver 2.0"},
    {"HTTP_CONTENT", "req.hdr_val(content-length) gt 0"},
    {"HTTP_URL_ABS", "url_reg ^[^/:]*://"},
    {"HTTP_URL_SLASH", "url_beg /"},
    {"HTTP_URL_STAR", "url *"},
    {"LOCALHOST", "src 127.0.0.1/8 ::1"},
    {"METH_CONNECT", "method CONNECT"},
    {"METH_DELETE", "method DELETE"},
    {"METH_GET", "method GET HEAD"},
    {"METH_HEAD", "method HEAD"},
    {"METH_OPTIONS", "method OPTIONS"},
    {"METH_POST", "method POST"},
    {"METH_PUT", "method PUT"},
    {"METH_TRACE", "method TRACE"},
    {"TRUE", "always_true"},
};
constexpr std::string_view kUnsupportedPredefined[] = {"RDP_COOKIE", "REQ_CONTENT", "WAIT_END"};

// Compiled once per process; immutable afterwards.
const std::map<std::string_view, std::shared_ptr<const CompiledAcl>>& predefined() {
  static const auto table = [] {
    std::map<std::string_view, std::shared_ptr<const CompiledAcl>> t;
    for (const auto& p : kPredefined) {
      std::vector<Word> words;
      std::string_view rest = p.words;
      while (!rest.empty()) {
        auto sp = rest.find(' ');
        words.push_back(Word{std::string(rest.substr(0, sp)), {}, false});
        if (sp == std::string_view::npos) break;
        rest.remove_prefix(sp + 1);
      }
      Diagnostics d;
      t[p.name] = compile_one(std::string(p.name), words, d);
    }
    return t;
  }();
  return table;
}

}  // namespace

std::vector<std::string_view> predefined_acls() {
  std::vector<std::string_view> out;
  for (const auto& p : kPredefined) out.push_back(p.name);
  return out;
}

// ---------------------------------------------------------------------------------------------
// AclSet and conditions.

AclSet::AclSet() = default;
AclSet::~AclSet() = default;
AclSet::AclSet(AclSet&&) noexcept = default;
AclSet& AclSet::operator=(AclSet&&) noexcept = default;

AclSet AclSet::compile(const Proxy& proxy, Diagnostics& d) {
  AclSet set;
  std::map<std::string, std::shared_ptr<CompiledAcl>, std::less<>> building;
  for (const Acl& a : proxy.acls) {
    auto& acl = building[a.name];
    if (!acl) {
      acl = std::make_shared<CompiledAcl>();
      acl->name = a.name;
      set.first_decl_[a.name] = a.where;
    }
    if (a.words.empty()) {
      d.error(a.where, fmt::format("acl '{}' needs a criterion", a.name),
              "usage: acl <NAME> <CRITERION> [FLAGS] [VALUES...]");
      acl->failed = true;
      continue;
    }
    bool never = false;
    auto e = parse_expr(a.words, d, never);
    if (!e) {
      acl->failed = true;
      continue;
    }
    acl->exprs.push_back(std::move(*e));
  }
  for (auto& [name, acl] : building) set.named_.emplace(name, std::move(acl));
  return set;
}

bool AclSet::defined(std::string_view name) const {
  return named_.contains(name);
}

std::optional<CompiledCondition> AclSet::compile_condition(const Condition& cond, Stage stage,
                                                           std::string_view rule,
                                                           Diagnostics& d) const {
  CompiledCondition out;
  out.unless_ = cond.polarity == Condition::Polarity::kUnless;
  const std::string_view stage_name = stage == Stage::kRequest ? "request" : "response";
  bool ok = true;
  bool neg = false;
  std::vector<CompiledCondition::Term>* suite = nullptr;
  auto add = [&](std::shared_ptr<const CompiledAcl> acl) {
    if (suite == nullptr) suite = &out.suites_.emplace_back();
    suite->push_back({std::move(acl), neg});
    neg = false;
  };
  // haproxy warns when every fetch of an ACL is unavailable where the rule runs.
  auto check_stage = [&](const CompiledAcl& acl, const core::SourceLocation& where) {
    if (acl.exprs.empty()) return;
    for (const auto& e : acl.exprs)
      if (e.fetch.available(stage)) return;
    d.warning(where,
              acl.name.empty()
                  ? fmt::format("anonymous acl will never match in '{}': '{}' is not available "
                                "while processing the {}",
                                rule, acl.exprs[0].fetch.name, stage_name)
                  : fmt::format("acl '{}' will never match in '{}': its criteria are not "
                                "available while processing the {}",
                                acl.name, rule, stage_name));
  };
  const auto& w = cond.words;
  for (size_t i = 0; i < w.size(); ++i) {
    std::string_view word = w[i].text;
    while (!word.empty() && word[0] == '!') {
      neg = !neg;
      word.remove_prefix(1);
    }
    if (word.empty()) continue;
    if (word == "or" || word == "OR" || word == "||") {
      suite = nullptr;
      neg = false;
      continue;
    }
    if (word == "{") {
      const size_t open = i;
      size_t end = i + 1;
      while (end < w.size() && w[end].text != "}") ++end;
      if (end == w.size()) {
        d.error(w[i].where, fmt::format("missing closing '}}' in the condition of '{}'", rule),
                "write '}' as a word of its own, after a space");
        return std::nullopt;
      }
      if (end == i + 1) {
        d.error(w[i].where, "empty anonymous ACL '{ }'", "write e.g. '{ path_beg /api }'");
        return std::nullopt;
      }
      bool never = false;
      auto e = parse_expr(std::span<const Word>(w).subspan(i + 1, end - i - 1), d, never);
      i = end;
      if (!e) {
        ok = false;
        continue;
      }
      auto acl = std::make_shared<CompiledAcl>();
      acl->exprs.push_back(std::move(*e));
      check_stage(*acl, w[open].where);
      add(std::move(acl));
      continue;
    }
    if (word == "}") {
      d.error(w[i].where, "'}' without a matching '{'");
      return std::nullopt;
    }
    if (auto it = named_.find(word); it != named_.end()) {
      const auto& decl = first_decl_.at(it->first);
      if (decl.file_name() == w[i].where.file_name() && decl.line > w[i].where.line) {
        d.error(w[i].where,
                fmt::format("acl '{}' is used before it is declared (line {})", word, decl.line),
                "haproxy refuses this too: move the acl line above the rule");
        ok = false;
        continue;
      }
      check_stage(*it->second, w[i].where);
      add(it->second);
      continue;
    }
    if (auto it = predefined().find(word); it != predefined().end()) {
      check_stage(*it->second, w[i].where);
      add(it->second);
      continue;
    }
    if (std::find(std::begin(kUnsupportedPredefined), std::end(kUnsupportedPredefined), word) !=
        std::end(kUnsupportedPredefined)) {
      d.error(w[i].where, fmt::format("predefined ACL '{}' is not supported by tandem-lb", word));
      ok = false;
      continue;
    }
    std::vector<std::string_view> known = predefined_acls();
    for (const auto& [name, acl] : named_) known.push_back(name);
    std::string hint;
    if (auto s = closest(word, known)) {
      hint = fmt::format("did you mean '{}'?", *s);
    } else if (find_fetch(word) != nullptr || find_derived(word) != nullptr) {
      hint =
          fmt::format("to test '{}' directly, write an anonymous ACL: '{{ {} ... }}'", word, word);
    } else {
      hint = "declare it with an 'acl' line above this rule";
    }
    d.error(w[i].where, fmt::format("no such ACL: '{}'", word), std::move(hint));
    ok = false;
  }
  if (!ok) return std::nullopt;
  return out;
}

bool CompiledCondition::eval(const RequestContext& ctx) const {
  bool any = false;
  for (const auto& suite : suites_) {
    bool all = true;
    for (const auto& t : suite) {
      if (t.acl->eval(ctx) == t.negate) {
        all = false;
        break;
      }
    }
    if (all) {
      any = true;
      break;
    }
  }
  return unless_ ? !any : any;
}

}  // namespace tandem::lb
