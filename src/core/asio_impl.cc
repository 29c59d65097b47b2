// The one translation unit that compiles asio's implementation (ASIO_SEPARATE_COMPILATION).
#include <asio/impl/src.hpp>
