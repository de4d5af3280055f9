# The dependencies of imbdef::imbdef, all from the distribution's packages (see scripts/setup.sh).
# Shared by the source tree and by the installed imbdefConfig.cmake, so both find the same things.
include(CMakeFindDependencyMacro)
list(APPEND CMAKE_MODULE_PATH "${CMAKE_CURRENT_LIST_DIR}")

# Inside a package config a missing dependency must mark imbdef not found (find_dependency);
# in the source tree it is a configure error that names the package.
macro(_imbdef_find_dependency)
  if(CMAKE_FIND_PACKAGE_NAME)
    find_dependency(${ARGV})
  else()
    find_package(${ARGV} REQUIRED)
  endif()
endmacro()

set(THREADS_PREFER_PTHREAD_FLAG ON)
_imbdef_find_dependency(Threads)
_imbdef_find_dependency(Eigen3 3.4 NO_MODULE)
_imbdef_find_dependency(xtensor 0.24)
_imbdef_find_dependency(nlohmann_json 3.10)
_imbdef_find_dependency(stb)
