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
