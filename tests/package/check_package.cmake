# Runs as `cmake -P`: installs the build tree into a scratch prefix, then builds and runs two
# separate projects, one through find_package(imbdef) against that prefix and one through
# add_subdirectory of the source tree. Any failed step fails the test with its output.
foreach(var IMBDEF_SOURCE_DIR IMBDEF_BINARY_DIR WORK_DIR GENERATOR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_package.cmake: -D${var}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

function(step name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "package check, step '${name}' failed (${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "package check: ${name}: ok")
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

step("install" "${CMAKE_COMMAND}" --install "${IMBDEF_BINARY_DIR}" --prefix "${prefix}")
if(NOT EXISTS "${prefix}/include/imbdef/imbdef.hpp" OR NOT EXISTS "${prefix}/share/cmake/imbdef/imbdefConfig.cmake")
  message(FATAL_ERROR "package check: the install tree lacks the headers or imbdefConfig.cmake")
endif()

step("configure find_package consumer" "${CMAKE_COMMAND}" -S "${IMBDEF_SOURCE_DIR}/tests/package/consumer"
     -B "${WORK_DIR}/consumer" -G "${GENERATOR}" "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_BUILD_TYPE=Release)
step("build find_package consumer" "${CMAKE_COMMAND}" --build "${WORK_DIR}/consumer")
step("run find_package consumer" "${WORK_DIR}/consumer/consumer")
message(STATUS "${last_output}")

step("configure add_subdirectory consumer" "${CMAKE_COMMAND}" -S "${IMBDEF_SOURCE_DIR}/tests/package/subproject"
     -B "${WORK_DIR}/subproject" -G "${GENERATOR}" "-DIMBDEF_SOURCE_DIR=${IMBDEF_SOURCE_DIR}"
     -DIMBDEF_ENABLE_CUDA=OFF -DCMAKE_BUILD_TYPE=Release)
step("build add_subdirectory consumer" "${CMAKE_COMMAND}" --build "${WORK_DIR}/subproject")
step("run add_subdirectory consumer" "${WORK_DIR}/subproject/consumer")
message(STATUS "${last_output}")
