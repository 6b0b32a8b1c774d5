# distill_add_plugin(<target> SOURCES <src>... [OUTPUT_DIRECTORY <dir>] [NO_INSTALL])
#
# Builds a plugin library (a MODULE: loaded with dlopen, never linked) against
# the SDK and LibTorch, with hidden visibility so only distill_plugin_entry is
# exported. Used both inside the distill tree and through find_package(DistillSDK).
function(distill_add_plugin target)
  cmake_parse_arguments(ARG "NO_INSTALL" "OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "distill_add_plugin(${target}): SOURCES is required")
  endif()
  add_library(${target} MODULE ${ARG_SOURCES})
  if(TARGET Distill::sdk)
    target_link_libraries(${target} PRIVATE Distill::sdk)
  endif()
  target_link_libraries(${target} PRIVATE torch)
  target_compile_features(${target} PRIVATE cxx_std_17)
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  elseif(DEFINED DISTILL_PLUGIN_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${DISTILL_PLUGIN_OUTPUT_DIR})
  endif()
  if(DEFINED DISTILL_WARNINGS)
    target_compile_options(${target} PRIVATE ${DISTILL_WARNINGS})
  endif()
  if(NOT ARG_NO_INSTALL AND DEFINED DISTILL_PLUGIN_INSTALL_DIR)
    install(TARGETS ${target} LIBRARY DESTINATION ${DISTILL_PLUGIN_INSTALL_DIR})
  endif()
endfunction()
