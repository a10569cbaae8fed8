# SPDX-License-Identifier: MIT
# Integration tests of ahead-serve (server/), included from tests/CMakeLists.txt.
# They build snapshots with the real ahead-build, start the real ahead-serve
# on free ports, and talk to it with libcurl (check_server) and wrk
# (check_hotswap: hot swaps under load, graceful shutdown). The paths they
# need arrive as compile definitions, on top of those tests/CMakeLists.txt
# sets for every suite (AH_SOURCE_DIR, AH_SHARED_DATA, AH_BUILD_BIN; datasets.h).
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
find_program(AHEAD_WRK wrk)
if(NOT AHEAD_WRK)
  set(AHEAD_WRK "")
  message(WARNING "wrk not found: check_hotswap will fail (apt install wrk)")
endif()

# A FUSE file system whose one file has a bad sector (tests/eio_fs.c), for
# check_hotswap's read-error test; without libfuse3 that test says it is skipped.
pkg_check_modules(FUSE3 IMPORTED_TARGET fuse3)
if(FUSE3_FOUND)
  add_executable(eio_fs eio_fs.c)
  target_link_libraries(eio_fs PRIVATE PkgConfig::FUSE3)
  set(AHEAD_EIO_FS "$<TARGET_FILE:eio_fs>")
else()
  set(AHEAD_EIO_FS "")
  message(STATUS "libfuse3 not found: the read-error test will be skipped (apt install libfuse3-dev)")
endif()

function(ahead_server_check name timeout)
  add_executable(${name} ${name}.c check_server_harness.c reseal.c)
  target_link_libraries(${name} PRIVATE ahead PkgConfig::CHECK PkgConfig::CURL PkgConfig::CJSON)
  target_compile_definitions(${name} PRIVATE
    AH_SERVE_BIN="$<TARGET_FILE:ahead-serve>"
    AH_WRK_BIN="${AHEAD_WRK}"
    AH_TESTS_DIR="${CMAKE_CURRENT_SOURCE_DIR}"
    AH_LSAN_SUPP="${CMAKE_SOURCE_DIR}/server/lsan.supp"
    AH_EIO_FS_BIN="${AHEAD_EIO_FS}")
  add_dependencies(${name} ahead-serve ahead-build)
  if(TARGET eio_fs)
    add_dependencies(${name} eio_fs)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${timeout} RUN_SERIAL TRUE)
endfunction()

# Together about 15 s (25 s under ASan) on an idle machine; the timeouts
# leave room for a machine busy with other work (check_hotswap took 58 s
# with both cores spinning elsewhere).
ahead_server_check(check_server 300)
ahead_server_check(check_hotswap 600)
ahead_server_check(check_reliability 1200)

# The search box and the drop-in widget on another origin in a real browser, the API description against the real
# server, and builder/aggregate.sql in DuckDB (tests/web, Node.js): when node
# is found. Their npm packages come from
# bash .ci/deps.sh test (npm ci in tests/web); screenshots go to the build folder.
find_program(AHEAD_NODE node)
if(AHEAD_NODE)
  foreach(web check_ui check_widget check_openapi check_engine)
    add_test(NAME ${web} COMMAND ${AHEAD_NODE} ${CMAKE_CURRENT_SOURCE_DIR}/web/${web}.mjs)
    set_tests_properties(${web} PROPERTIES TIMEOUT 180 RUN_SERIAL TRUE ENVIRONMENT
      "AH_BUILD_BIN=$<TARGET_FILE:ahead-build>;AH_QUERY_BIN=$<TARGET_FILE:ahead-query>;AH_SERVE_BIN=$<TARGET_FILE:ahead-serve>;AH_SOURCE_DIR=${CMAKE_SOURCE_DIR};AH_SCREENSHOT_DIR=${CMAKE_BINARY_DIR}")
  endforeach()
else()
  message(WARNING "node not found: check_ui, check_widget, check_openapi and check_engine are left out (bash .ci/deps.sh test)")
endif()

# cmake --install into a temporary prefix: the programs, the systemd unit
# (checked with systemd-analyze verify) and a completion from the installed copy.
add_test(NAME check_install COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/check_install.sh ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
set_tests_properties(check_install PROPERTIES TIMEOUT 120 RUN_SERIAL TRUE)

# The Debian package (cpack -G DEB): contents, lintian, installed with apt
# where the machine allows it, run, removed. Not for the sanitizer builds.
if(NOT AHEAD_SANITIZE AND NOT AHEAD_FUZZ)
  add_test(NAME check_deb COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/check_deb.sh ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
  set_tests_properties(check_deb PROPERTIES TIMEOUT 300 RUN_SERIAL TRUE)
endif()

# The request path's libFuzzer target (tests/fuzz_request.c): the server's
# parameter parsing and answer writing, without sockets (tests/fuzz.sh).
if(AHEAD_FUZZ)
  pkg_check_modules(H2O_EVLOOP_FUZZ REQUIRED IMPORTED_TARGET libh2o-evloop)
  find_package(OpenSSL REQUIRED)
  ahead_fuzz(fuzz_request ahead PkgConfig::H2O_EVLOOP_FUZZ OpenSSL::SSL OpenSSL::Crypto
             PkgConfig::CJSON)
  target_sources(fuzz_request PRIVATE ${CMAKE_SOURCE_DIR}/server/request.c
                                      ${CMAKE_SOURCE_DIR}/server/http_util.c)
  target_include_directories(fuzz_request PRIVATE ${CMAKE_SOURCE_DIR}/server)
  target_compile_definitions(fuzz_request PRIVATE H2O_USE_LIBUV=0)
endif()
