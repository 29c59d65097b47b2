// The version every program prints.
#pragma once

namespace tandem::app {
inline constexpr const char* kVersion = "0.1.0";
}
