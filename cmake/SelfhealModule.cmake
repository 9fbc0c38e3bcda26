# selfheal_module(NAME SOURCES ... DEPS ...)
# Declares the static library selfheal_NAME from the listed sources, with src/ on the include path
# so that headers are included as "NAME/header.hpp".
function(selfheal_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(selfheal_${name} STATIC ${M_SOURCES})
  target_include_directories(selfheal_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(selfheal_${name} PUBLIC ${M_DEPS})
endfunction()

# selfheal_test(NAME [SERIAL] SOURCES ... DEPS ... LABELS ...)
# One GoogleTest executable; each TEST becomes a ctest case. Tests run from the repo root so that
# ../shared/data and config/ resolve the same way everywhere. SERIAL: ctest runs each case alone,
# for tests that race a simulation against the wall clock (another test beside them on 2 cores
# slows the processes under test, not the clock).
function(selfheal_test name)
  cmake_parse_arguments(T "SERIAL" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  set(props ENVIRONMENT "SELFHEAL_BINARY=${PROJECT_BINARY_DIR}/bin/selfheal")
  if(T_LABELS)
    list(APPEND props LABELS "${T_LABELS}")
  endif()
  if(T_SERIAL)
    list(APPEND props RUN_SERIAL TRUE)
  endif()
  gtest_discover_tests(${name} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR} PROPERTIES ${props} DISCOVERY_TIMEOUT 60)
endfunction()
