# Installation extras and the Debian package (CPack DEB), included at the end of CMakeLists.txt.
#   cmake -S . -B build-deb -DCMAKE_BUILD_TYPE=Release -DCHROMA2PG_BUILD_TESTS=OFF
#   cmake --build build-deb && (cd build-deb && cpack -G DEB)   -> build-deb/chroma2pg_<version>_<arch>.deb
# Never package a sanitizer build: it would depend on libasan/libubsan and run slowly.
# `cmake --install` and the package lay out the same files: bin/chroma2pg, share/chroma2pg/sql/,
# share/doc/chroma2pg/ (README, docs, command reference), bash completion.

install(FILES ${CMAKE_CURRENT_LIST_DIR}/../scripts/completion/chroma2pg.bash
        DESTINATION share/bash-completion/completions RENAME chroma2pg)

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "chroma2pg")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "chroma2pg")
set(CPACK_PACKAGE_CONTACT "chroma2pg maintainers <chroma2pg@users.noreply.github.com>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "move ChromaDB collections to PostgreSQL + pgvector, losslessly")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # chroma2pg_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_DEBIAN_PACKAGE_SECTION "database")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
# The extended description; CPack puts the summary above it.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "chroma2pg reads a Chroma server (API v1/v2), a Chroma persistent directory or a chroma2pg
backup, and writes every collection to PostgreSQL with pgvector: ids, float32 embeddings
bit for bit, documents, uris and typed metadata. It also backs up, restores, verifies
(per-record digests, search recall) and benchmarks.")
# Depends computed by dpkg-shlibdeps (package dpkg-dev) from the binary's shared libraries.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql-client")

include(CPack)
