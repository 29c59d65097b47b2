// Result<T>: a value or an Error, for code that must not throw (the data path, adapters).
#pragma once

#include <string>
#include <system_error>
#include <utility>

#include <tl/expected.hpp>

namespace tandem::core {

struct Error {
  std::error_code code;  // empty when the failure is not a system error
  std::string message;   // what happened, for a person

  std::string to_string() const {
    if (!code) return message;
    return message + ": " + code.message();
  }
};

template <class T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> fail(std::string message, std::error_code code = {}) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}

// errno as an Error, for a failed system call.
inline tl::unexpected<Error> fail_errno(std::string message, int err) {
  return fail(std::move(message), std::error_code(err, std::system_category()));
}

}  // namespace tandem::core
