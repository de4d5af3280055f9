# Finds the stb single-file headers (Debian: libstb-dev) and defines imbdef::stb.
# stb ships no CMake package of its own; its headers sit in <prefix>/include/stb/.
find_path(stb_INCLUDE_DIR NAMES stb_image.h PATH_SUFFIXES stb)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(stb REQUIRED_VARS stb_INCLUDE_DIR)
if(stb_FOUND AND NOT TARGET imbdef::stb)
  add_library(imbdef::stb INTERFACE IMPORTED)
  set_target_properties(imbdef::stb PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${stb_INCLUDE_DIR}")
endif()
mark_as_advanced(stb_INCLUDE_DIR)
