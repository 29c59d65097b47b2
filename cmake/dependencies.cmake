# Every dependency comes from Debian 12 (scripts/install-deps installs them).
find_package(Threads REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(tl-expected REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(MNL REQUIRED IMPORTED_TARGET libmnl)
pkg_check_modules(PCAP IMPORTED_TARGET libpcap)

find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)

# asio, compiled once (ASIO_SEPARATE_COMPILATION): every other TU sees declarations only.
add_library(tandem_asio STATIC ${CMAKE_SOURCE_DIR}/src/core/asio_impl.cc)
target_include_directories(tandem_asio SYSTEM PUBLIC ${ASIO_INCLUDE_DIR})
# asio recycles coroutine frames and operations of up to 1020 bytes through a few freed
# blocks per kind and thread: two by default, too few for the frames that a thread's
# sessions hold at once, so a request on a kept connection made about seven mallocs. With
# 64, none (tests/integration/lb/alloc_test.cc; docs/performance.md).
target_compile_definitions(tandem_asio PUBLIC ASIO_SEPARATE_COMPILATION ASIO_NO_DEPRECATED
                                              ASIO_NO_TYPEID ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE=64)
target_link_libraries(tandem_asio PUBLIC Threads::Threads)

# llhttp: Node.js's strict HTTP/1.1 parser, its three C files built as a static library.
set(LLHTTP_SRC_DIR /usr/share/llhttp)
set(LLHTTP_INCLUDE_DIR /usr/share/include/llhttp)
add_library(tandem_llhttp STATIC ${LLHTTP_SRC_DIR}/api.c ${LLHTTP_SRC_DIR}/http.c
                                 ${LLHTTP_SRC_DIR}/llhttp.c)
target_include_directories(tandem_llhttp SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
target_compile_options(tandem_llhttp PRIVATE -w)
# Strict mode: llhttp refuses bare LF, obs-fold and loose chunk lines itself, a second guard
# behind our own head lexer (src/lb/http1.cc).
target_compile_definitions(tandem_llhttp PUBLIC LLHTTP_STRICT_MODE=1)
set_target_properties(tandem_llhttp PROPERTIES C_STANDARD 99 POSITION_INDEPENDENT_CODE ON)

if(TANDEM_TESTS)
  find_package(GTest REQUIRED)
endif()
if(TANDEM_BENCH)
  find_package(benchmark REQUIRED)
endif()
