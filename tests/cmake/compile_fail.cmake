# imbdef_add_compile_fail_test(<name> SOURCE <file> EXPECT <regex> LABELS <labels...>)
# A translation unit that must NOT compile. It is an EXCLUDE_FROM_ALL object target; the ctest test
# builds it and passes only if the build output matches EXPECT (the library's static_assert text),
# so a file that compiles, or fails for another reason, fails the test. Needs only a C++ compiler.
include_guard(GLOBAL)

function(imbdef_add_compile_fail_test name)
  cmake_parse_arguments(T "" "SOURCE;EXPECT" "LABELS" ${ARGN})
  add_library(${name} OBJECT EXCLUDE_FROM_ALL ${T_SOURCE})
  target_link_libraries(${name} PRIVATE imbdef::imbdef)
  add_test(NAME ${name}
           COMMAND ${CMAKE_COMMAND} --build ${CMAKE_BINARY_DIR} --target ${name} --config $<CONFIG>)
  set_tests_properties(${name} PROPERTIES
    LABELS "${T_LABELS}" PASS_REGULAR_EXPRESSION "${T_EXPECT}" TIMEOUT 300)
endfunction()
