# Compiler flags shared by every nilecare target, applied through nilecare_options.
add_library(nilecare_options INTERFACE)
target_compile_options(nilecare_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow=local -Wnon-virtual-dtor
  # Boost 1.74's asio/awaitable.hpp uses std::exchange without <utility> (GCC 12, C++20).
  "SHELL:-include utility")
# GCC 12 reports false -Wrestrict positives inside std::string at -O2 (GCC bug 105329).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(nilecare_options INTERFACE -Wno-restrict)
endif()
if(NILECARE_WERROR)
  target_compile_options(nilecare_options INTERFACE -Werror)
endif()
if(NILECARE_SANITIZE)
  # ASan instrumentation makes GCC 12 report false -Wmaybe-uninitialized inside libstdc++
  # (std::regex, std::function); the Release build keeps the warning.
  target_compile_options(nilecare_options INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
    -Wno-maybe-uninitialized)
  target_link_options(nilecare_options INTERFACE -fsanitize=address,undefined)
endif()
target_compile_definitions(nilecare_options INTERFACE
  BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW
  NILECARE_VERSION="${PROJECT_VERSION}")
if(NILECARE_FUZZ)
  # libFuzzer targets (tests/fuzz). Every nilecare library gets the fuzzer's coverage
  # instrumentation (fuzzer-no-link) and ASan + UBSan; only the fuzz executables themselves
  # link libFuzzer's main (-fsanitize=fuzzer, in tests/fuzz/CMakeLists.txt).
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR
      "NILECARE_FUZZ=ON needs clang (libFuzzer), but the C++ compiler is "
      "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION} (${CMAKE_CXX_COMPILER}). "
      "Configure a fresh build directory with CXX=clang++, e.g. scripts/fuzz.sh.")
  endif()
  include(CheckCXXSourceCompiles)
  set(CMAKE_REQUIRED_FLAGS "-fsanitize=fuzzer,address,undefined")
  set(CMAKE_REQUIRED_LINK_OPTIONS "-fsanitize=fuzzer,address,undefined")
  check_cxx_source_compiles([[
    #include <cstddef>
    #include <cstdint>
    extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }
  ]] NILECARE_HAVE_LIBFUZZER)
  unset(CMAKE_REQUIRED_FLAGS)
  unset(CMAKE_REQUIRED_LINK_OPTIONS)
  if(NOT NILECARE_HAVE_LIBFUZZER)
    message(FATAL_ERROR
      "NILECARE_FUZZ=ON: ${CMAKE_CXX_COMPILER} cannot link a -fsanitize=fuzzer,address,undefined "
      "program (on Debian 12: apt-get install libclang-rt-14-dev)")
  endif()
  target_compile_options(nilecare_options INTERFACE
    -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
    -fno-sanitize-recover=undefined
    # -Wshadow=local above is GCC's spelling; clang only warns that it does not know it.
    -Wno-unknown-warning-option)
  # Executables other than the fuzz targets (the gateway, tools, tests) still need the
  # sanitizer runtimes, which also provide no-op hooks for the coverage instrumentation.
  target_link_options(nilecare_options INTERFACE -fsanitize=address,undefined)
endif()
