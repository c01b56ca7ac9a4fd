# What `cmake --install` puts in place, and the Debian package CPack builds
# from it (cpack -G DEB in the build folder):
#   bin/wkv                        the command line
#   include/wkv.h                  the C API
#   LIBDIR/libwkv.so.X.Y.Z, .so.X, .so   (LIBDIR: lib/x86_64-linux-gnu on Debian)
#   LIBDIR/cmake/wkv/              find_package(wkv) -> wkv::wkv
#   LIBDIR/pkgconfig/wkv.pc        pkg-config --cflags --libs wkv
#   share/doc/wkv/copyright        who holds the rights, in Debian's format
if(WKV_FUZZ)
    return()
endif()
include(CMakePackageConfigHelpers)

install(TARGETS wkv RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS libwkv EXPORT wkvTargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    PUBLIC_HEADER DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT wkvTargets NAMESPACE wkv:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/wkv)

set(wkv_config_dir "${CMAKE_BINARY_DIR}/package")
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/wkvConfig.cmake.in ${wkv_config_dir}/wkvConfig.cmake
    INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/wkv)
# 0.x: a minor version may change the API, so only the same minor matches.
write_basic_package_version_file(${wkv_config_dir}/wkvConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${wkv_config_dir}/wkvConfig.cmake ${wkv_config_dir}/wkvConfigVersion.cmake
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/wkv)

# wkv.pc finds the prefix from its own place, so an install moved elsewhere
# (a temporary prefix, a staged package) still points at itself.
file(RELATIVE_PATH wkv_pc_to_prefix "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
configure_file(${CMAKE_SOURCE_DIR}/cmake/wkv.pc.in ${wkv_config_dir}/wkv.pc @ONLY)
install(FILES ${wkv_config_dir}/wkv.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
install(FILES ${CMAKE_SOURCE_DIR}/cmake/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME wkv)
set(CPACK_PACKAGE_VENDOR "the wkv developers")
set(CPACK_PACKAGE_CONTACT "the wkv developers <wkv@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Llama-family inference on any Vulkan GPU with a fixed-size KV cache (WeightedKV)")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
# The shared libraries' packages (libvulkan1, libsentencepiece0, libpcre2-8-0, ...) from dpkg-shlibdeps.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# A Vulkan driver to run on; `wkv --cpu` needs none. Mesa's covers AMD, Intel and lavapipe (the CPU).
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "mesa-vulkan-drivers | vulkan-icd")
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_STRIP_FILES ON)
include(CPack)
